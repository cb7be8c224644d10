/**
 * Our engine side by side with Bespoke Curator (Python) and a bare `openai` loop, on one loopback simulator.
 *
 *   npx tsx bench/compare.ts [--scenario throughput|scale|cache|resume|sweep|field|all] [--rounds 3] [--quick]
 *                            [--rows N] [--sizes 100000,1000000] [--batch-sizes 1,10,100,default]
 *                            [--concurrency 64] [--contenders ours,curator,bare,bare-lean] [--profile] [--tag NAME]
 *                            [--worker-node-args=--max-old-space-size=200] [--worker-env MALLOC_ARENA_MAX=2]
 *                            [--cases fast,slow,...] [--max-run-seconds 600] [--worker compiled|sources]
 *
 * `--worker compiled` (the default) runs our worker as users run it: the package built to lib/, on plain node
 * (bench/lib/compiled-worker.ts). `--worker sources` runs this checkout's sources through tsx, as before 2026-11-30
 * 22:30 UTC (bench/README.md).
 *
 * `field` (not part of `all`) is a different kind of run: each contender with its own defaults against a simulator
 * in the mode real providers use (bench/lib/field.ts); `--cases` picks its sub-cases, `--rows` sizes each.
 *
 * Contenders, each against the same simulator process (zero latency; limits reported in its headers are far above
 * anything reachable, so nobody throttles itself on the simulator's default 10,000 RPM header):
 *   ours     a Temporal dev server (own process, own SQLite file) plus ONE `curator worker` process, both new for
 *            each round with a fresh cache dir, so every request is really made; the job is `curate()` from here.
 *   curator  bespokelabs-curator (pinned, installed into bench/.venv-curator) running bench/curator_bench.py.
 *   bare     the `openai` SDK (maxRetries 0) at the same concurrency, nothing persisted: the machine's ceiling.
 *   bare-lean  the same loop with the SDK on our engine's HTTP path (`src/providers/http-transport.ts`) instead of
 *            the global `fetch`: not an issue target, it shows what the engine adds beside the HTTP path it uses.
 * Rounds alternate the contenders (the order rotates each round); the tables show medians. CPU seconds and peak
 * memory come from the OS: /proc for our long-lived worker and dev server (peak reset at the job's start), and
 * `/usr/bin/time -v` for the Curator and bare-loop processes.
 *
 * Prints the tables and writes bench/results/compare-<scenario>[-<tag>].json (raw rounds, medians, targets, machine).
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { curate, curationResult, startCuration } from '../src/client';
import { CURATOR_VERSION, ensureCuratorVenv, runBareLoop, runCurator, type ContenderRun } from './lib/contenders';
import { formatProfile, summarizeProfile } from './lib/cpuprofile';
import { compiledWorker, workerFlag } from './lib/compiled-worker';
import { field, type FieldContender } from './lib/field';
import { OurStack, type HistoryFigures } from './lib/ours';
import { ensureGnuTime, round, watchProcess } from './lib/proc-stats';
import { fmt, load, machine, median, table, targetTable, type Target } from './lib/report';
import { startSimProcess, type SimHandle } from './lib/sim-handle';

type Scenario = 'throughput' | 'scale' | 'cache' | 'resume' | 'sweep' | 'field';
/** `all` runs these; `field` runs only when asked (see bench/lib/field.ts). */
const SCENARIOS: Scenario[] = ['throughput', 'scale', 'cache', 'resume', 'sweep'];
type Contender = 'ours' | 'curator' | 'bare' | 'bare-lean';

const { values: args } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'throughput' },
    rounds: { type: 'string' },
    quick: { type: 'boolean', default: false },
    rows: { type: 'string' },
    sizes: { type: 'string' },
    'batch-sizes': { type: 'string' },
    concurrency: { type: 'string', default: '64' },
    contenders: { type: 'string' },
    profile: { type: 'boolean', default: false },
    tag: { type: 'string' },
    'worker-node-args': { type: 'string' },
    'worker-env': { type: 'string' },
    cases: { type: 'string' },
    'max-run-seconds': { type: 'string', default: '600' },
    worker: { type: 'string', default: 'compiled' },
  },
});
const WORKER = workerFlag(args.worker);
/** The compiled worker's files, built at the first run of ours; undefined with `--worker sources`. */
const compiled = () => (WORKER === 'compiled' ? compiledWorker() : undefined);
/**
 * `--worker-node-args=--max-old-space-size=200` and `--worker-env MALLOC_ARENA_MAX=2,...` try process-level settings
 * on our worker only, without touching src (add `--tag` to keep their results apart).
 */
const EXPERIMENT_ARGS = args['worker-node-args']?.split(' ').filter(Boolean) ?? [];
const WORKER_ENV: Record<string, string> = Object.fromEntries(
  (args['worker-env']?.split(',').filter(Boolean) ?? []).map((pair) => {
    const [key, ...value] = pair.split('=');
    return [key!, value.join('=')];
  })
);

function stackOptions(sim: SimHandle, extraNodeArgs: string[] = []) {
  return {
    openaiBaseURL: sim.openaiBaseURL,
    workerNodeArgs: [...EXPERIMENT_ARGS, ...extraNodeArgs],
    workerEnv: WORKER_ENV,
    compiled: compiled(),
  };
}
const QUICK = args.quick!;
const CONCURRENCY = Number(args.concurrency);
const RESULTS = join(__dirname, 'results');
const PROFILES = join(__dirname, 'profiles');

// ---------------------------------------------------------------------------------------------------------------
// Figures and tables

function rotate<T>(items: T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

// ---------------------------------------------------------------------------------------------------------------
// One run of each contender

interface OursRun {
  rows: number;
  batchSize: number | 'default';
  wallSeconds: number;
  requestsPerSecond: number;
  workerCpuSeconds: number;
  devServerCpuSeconds: number;
  cpuSecondsPer1kRequests: number;
  workerCpuPer1k: number;
  workerPeakMB: number;
  workerSampledPeakMB: number;
  devServerPeakMB: number;
  simCpuSeconds: number;
  simulatorCalls: number;
  succeeded: number;
  failed: number;
  workerStartSeconds: number;
  history?: HistoryFigures;
  load: number;
  profile?: string;
}

const rowsOf = (n: number) => Array.from({ length: n }, (_, id) => ({ id }));

async function runOurs(
  sim: SimHandle,
  o: { rows: number; batchSize?: number; histories?: boolean; profile?: boolean }
): Promise<OursRun> {
  const profileDir = o.profile ? mkdtempSync(join(tmpdir(), 'bench-prof-')) : undefined;
  const stack = await OurStack.start(stackOptions(sim, profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []));
  try {
    const dataset = rowsOf(o.rows);
    await sim.reset();
    const loadBefore = load();
    const watch = stack.watch();
    const simWatch = watchProcess(sim.pid);
    const started = performance.now();
    const result = await curate(stack.client, 'bench-text', {
      dataset,
      cacheDir: stack.cacheDir,
      batchSize: o.batchSize,
      maxConcurrentRequests: CONCURRENCY,
    });
    const wallSeconds = (performance.now() - started) / 1000;
    const usage = watch.stop();
    const simUsage = simWatch.stop();
    const simSummary = await sim.summary();
    const history = o.histories ? await stack.histories() : undefined;
    const workerCpu = usage.worker?.cpuSeconds ?? NaN;
    const serverCpu = usage.devServer?.cpuSeconds ?? NaN;
    const run: OursRun = {
      rows: o.rows,
      batchSize: o.batchSize ?? 'default',
      wallSeconds: round(wallSeconds, 2),
      requestsPerSecond: round(o.rows / wallSeconds, 1),
      workerCpuSeconds: workerCpu,
      devServerCpuSeconds: serverCpu,
      cpuSecondsPer1kRequests: round(((workerCpu + serverCpu) / o.rows) * 1000, 3),
      workerCpuPer1k: round((workerCpu / o.rows) * 1000, 3),
      workerPeakMB: usage.worker?.peakMB ?? NaN,
      workerSampledPeakMB: usage.worker?.sampledPeakMB ?? NaN,
      devServerPeakMB: usage.devServer?.peakMB ?? NaN,
      simCpuSeconds: simUsage.cpuSeconds,
      simulatorCalls: simSummary.total,
      succeeded: result.stats.succeeded,
      failed: result.stats.failed,
      workerStartSeconds: round(stack.workerStartMs / 1000, 1),
      history,
      load: loadBefore,
    };
    if (profileDir) {
      await stack.stopWorker();
      const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
      if (file) {
        mkdirSync(PROFILES, { recursive: true });
        const kept = join(PROFILES, `worker-${o.rows}-b${o.batchSize ?? 'default'}-${Date.now()}.cpuprofile`);
        cpSync(join(profileDir, file), kept);
        run.profile = kept;
      } else {
        console.error('no CPU profile was written (the worker did not exit cleanly on SIGTERM)');
      }
    }
    console.error(
      `  ours: ${o.rows} rows, batch ${o.batchSize ?? 'default'}: ${fmt(run.wallSeconds, 2)} s, ` +
        `${fmt(run.requestsPerSecond)} req/s, worker ${fmt(workerCpu, 2)} CPU-s / ${fmt(run.workerPeakMB)} MB, ` +
        `dev server ${fmt(serverCpu, 2)} CPU-s / ${fmt(run.devServerPeakMB)} MB, ${simSummary.total} calls, load ${loadBefore}` +
        (history ? `, max history ${history.maxEvents} events / ${history.maxBytes} B over ${history.runs} runs` : '')
    );
    return run;
  } finally {
    await stack.stop();
  }
}

interface OtherRun extends ContenderRun {
  contender: Exclude<Contender, 'ours'>;
  rows: number;
  cpuSecondsPer1kRequests: number;
  simCpuSeconds: number;
  simulatorCalls: number;
  load: number;
}

async function runOther(sim: SimHandle, contender: Exclude<Contender, 'ours'>, rows: number): Promise<OtherRun> {
  await sim.reset();
  const loadBefore = load();
  const simWatch = watchProcess(sim.pid);
  const options = { rows, concurrency: CONCURRENCY, openaiBaseURL: sim.openaiBaseURL };
  const run =
    contender === 'curator'
      ? await runCurator(options)
      : await runBareLoop({ ...options, fetch: contender === 'bare-lean' ? 'node' : 'global' });
  const simUsage = simWatch.stop();
  const summary = await sim.summary();
  const figures: OtherRun = {
    ...run,
    contender,
    rows,
    wallSeconds: round(run.wallSeconds, 2),
    requestsPerSecond: round(run.requestsPerSecond, 1),
    cpuSecondsPer1kRequests: round((run.cpuSeconds / rows) * 1000, 3),
    simCpuSeconds: simUsage.cpuSeconds,
    simulatorCalls: summary.total,
    load: loadBefore,
  };
  console.error(
    `  ${contender}: ${rows} rows: ${fmt(figures.wallSeconds, 2)} s, ${fmt(figures.requestsPerSecond)} req/s, ` +
      `${fmt(run.cpuSeconds, 2)} CPU-s (process), peak ${fmt(run.peakMB)} MB, ${summary.total} calls, load ${loadBefore}`
  );
  return figures;
}

// ---------------------------------------------------------------------------------------------------------------
// Scenarios

interface ScenarioOutput {
  params: Record<string, unknown>;
  rounds: unknown[];
  summary: Record<string, unknown>;
  targets: Target[];
  text: string;
  profile?: unknown;
}

function profileText(run: OursRun | undefined): { text: string; data?: unknown } {
  if (!run?.profile) return { text: '' };
  const summary = summarizeProfile(run.profile, 20);
  return {
    text: `\nWorker CPU profile (${run.profile}):\n${formatProfile(summary)}\n`,
    data: { file: run.profile, ...summary },
  };
}

async function throughput(sim: SimHandle, rounds: number): Promise<ScenarioOutput> {
  const rows = Number(args.rows ?? (QUICK ? 3000 : 20000));
  const contenders = (args.contenders?.split(',') ?? ['ours', 'curator', 'bare', 'bare-lean']) as Contender[];
  if (contenders.includes('curator')) ensureCuratorVenv();
  const runs: Record<Contender, (OursRun | OtherRun)[]> = { ours: [], curator: [], bare: [], 'bare-lean': [] };
  for (let r = 0; r < rounds; r++) {
    console.error(`throughput round ${r + 1}/${rounds}`);
    for (const c of rotate(contenders, r)) {
      runs[c].push(c === 'ours' ? await runOurs(sim, { rows, histories: true }) : await runOther(sim, c, rows));
    }
  }
  let profiled: OursRun | undefined;
  if (args.profile) {
    console.error('throughput: one more round of ours with the worker under --cpu-prof (not in the medians)');
    profiled = await runOurs(sim, { rows, profile: true });
  }
  const med = (c: Contender, pick: (r: any) => number) => median(runs[c].map(pick));
  const rps = (c: Contender) => med(c, (r) => r.requestsPerSecond);
  const summary: Record<string, unknown> = {};
  const lines: (string | number)[][] = [];
  for (const c of contenders) {
    const cpuPer1k = med(c, (r) => r.cpuSecondsPer1kRequests);
    const peak = c === 'ours' ? med(c, (r) => r.workerPeakMB) : med(c, (r) => r.peakMB);
    summary[c] = {
      requestsPerSecond: round(rps(c), 1),
      wallSeconds: round(
        med(c, (r) => r.wallSeconds),
        2
      ),
      cpuSecondsPer1kRequests: round(cpuPer1k, 3),
      peakMB: peak,
      ...(c === 'ours'
        ? {
            workerCpuPer1k: round(
              med(c, (r) => r.workerCpuPer1k),
              3
            ),
            devServerCpuPer1k: round(
              med(c, (r) => (r.devServerCpuSeconds / rows) * 1000),
              3
            ),
            devServerPeakMB: med(c, (r) => r.devServerPeakMB),
            maxHistoryEvents: med(c, (r) => r.history?.maxEvents ?? NaN),
          }
        : {}),
      simCpuPer1k: round(
        med(c, (r) => (r.simCpuSeconds / rows) * 1000),
        3
      ),
      allRps: runs[c].map((r) => r.requestsPerSecond),
    };
    const label =
      c === 'ours'
        ? 'ours (worker + dev server)'
        : c === 'curator'
          ? `Curator ${CURATOR_VERSION} (Python)`
          : c === 'bare'
            ? 'bare openai loop'
            : 'bare openai loop, our HTTP path';
    lines.push([
      label,
      fmt(rps(c)),
      runs[c].map((r) => fmt(r.requestsPerSecond, 0)).join(' / '),
      fmt(
        med(c, (r) => r.wallSeconds),
        2
      ),
      fmt(cpuPer1k, 3),
      c === 'ours'
        ? `${fmt(
            med(c, (r) => r.workerCpuPer1k),
            3
          )} + ${fmt(
            med(c, (r) => (r.devServerCpuSeconds / rows) * 1000),
            3
          )}`
        : '',
      c === 'ours'
        ? `${fmt(peak, 0)} + ${fmt(
            med(c, (r) => r.devServerPeakMB),
            0
          )}`
        : fmt(peak, 0),
      fmt(
        med(c, (r) => (r.simCpuSeconds / rows) * 1000),
        3
      ),
      c === 'ours' ? '1.00' : fmt(rps('ours') / rps(c), 2),
    ]);
  }
  const ratio = (c: Contender) => (runs[c].length && runs.ours.length ? rps('ours') / rps(c) : NaN);
  const targets: Target[] = [
    {
      name: 'ours / Curator requests/s',
      target: '>= 2.0',
      value: fmt(ratio('curator'), 2),
      met: Number.isFinite(ratio('curator')) ? ratio('curator') >= 2 : null,
    },
    {
      name: 'ours / bare loop requests/s',
      target: '>= 0.6',
      value: fmt(ratio('bare'), 2),
      met: Number.isFinite(ratio('bare')) ? ratio('bare') >= 0.6 : null,
    },
    {
      // Not an issue target: the same loop over the HTTP path the engine uses, to show what the engine adds to it.
      name: 'ours / bare loop on our HTTP path',
      target: 'report',
      value: fmt(ratio('bare-lean'), 2),
      met: null,
    },
  ];
  const prof = profileText(profiled);
  const text =
    `Throughput: ${rows.toLocaleString('en-US')} requests, zero latency, no limits, ${CONCURRENCY} in flight, ${rounds} rounds (medians)\n\n` +
    table(
      [
        'contender',
        'req/s',
        'each round',
        'wall s',
        'CPU-s/1k req',
        'worker + server',
        'peak MB',
        'sim CPU-s/1k',
        'ours ÷ it',
      ],
      lines
    ) +
    '\n\n' +
    targetTable(targets) +
    '\n' +
    prof.text;
  return {
    params: { rows, concurrency: CONCURRENCY, rounds, contenders, latencyMs: 0 },
    rounds: Object.entries(runs).flatMap(([c, rs]) => rs.map((r) => ({ contender: c, ...r }))),
    summary: {
      ...summary,
      ratioToCurator: round(ratio('curator'), 2),
      ratioToBare: round(ratio('bare'), 2),
      ratioToBareLean: round(ratio('bare-lean'), 2),
    },
    targets,
    text,
    profile: prof.data,
  };
}

async function scale(sim: SimHandle, rounds: number): Promise<ScenarioOutput> {
  const sizes = (args.sizes ?? (QUICK ? '10000,20000' : '100000,1000000')).split(',').map(Number);
  const contenders = (args.contenders?.split(',') ?? ['ours']) as Contender[];
  if (contenders.includes('curator')) ensureCuratorVenv();
  const runs: { size: number; contender: Contender; run: OursRun | OtherRun }[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const size of rotate(sizes, r)) {
      for (const c of rotate(contenders, r)) {
        console.error(`scale round ${r + 1}/${rounds}: ${size.toLocaleString('en-US')} rows, ${c}`);
        const run = c === 'ours' ? await runOurs(sim, { rows: size, histories: true }) : await runOther(sim, c, size);
        runs.push({ size, contender: c, run });
      }
    }
  }
  let profiled: OursRun | undefined;
  if (args.profile) {
    console.error(`scale: one more run of ours at ${sizes[0]} rows under --cpu-prof (not in the medians)`);
    profiled = await runOurs(sim, { rows: sizes[0]!, profile: true });
  }
  const ours = (size: number) =>
    runs.filter((x) => x.size === size && x.contender === 'ours').map((x) => x.run as OursRun);
  const lines: (string | number)[][] = [];
  const summary: Record<string, unknown> = {};
  for (const size of sizes) {
    const rs = ours(size);
    if (rs.length === 0) continue;
    const s = {
      wallSeconds: round(median(rs.map((r) => r.wallSeconds)), 1),
      requestsPerSecond: round(median(rs.map((r) => r.requestsPerSecond)), 1),
      workerPeakMB: median(rs.map((r) => r.workerPeakMB)),
      workerSampledPeakMB: median(rs.map((r) => r.workerSampledPeakMB)),
      devServerPeakMB: median(rs.map((r) => r.devServerPeakMB)),
      workerCpuSeconds: median(rs.map((r) => r.workerCpuSeconds)),
      devServerCpuSeconds: median(rs.map((r) => r.devServerCpuSeconds)),
      maxHistoryEvents: Math.max(...rs.map((r) => r.history?.maxEvents ?? 0)),
      maxHistoryBytes: Math.max(...rs.map((r) => r.history?.maxBytes ?? 0)),
      workflowRuns: median(rs.map((r) => r.history?.runs ?? NaN)),
      largest: rs[0]?.history?.largest,
    };
    summary[`ours@${size}`] = s;
    lines.push([
      `ours, ${size.toLocaleString('en-US')} rows`,
      fmt(s.wallSeconds, 1),
      fmt(s.requestsPerSecond),
      fmt(s.workerPeakMB, 0),
      fmt(s.devServerPeakMB, 0),
      `${fmt(s.workerCpuSeconds, 0)} + ${fmt(s.devServerCpuSeconds, 0)}`,
      s.maxHistoryEvents.toLocaleString('en-US'),
      s.maxHistoryBytes.toLocaleString('en-US'),
      String(s.workflowRuns),
    ]);
    for (const c of contenders.filter((x) => x !== 'ours')) {
      const others = runs.filter((x) => x.size === size && x.contender === c).map((x) => x.run as OtherRun);
      if (!others.length) continue;
      const o = {
        wallSeconds: round(median(others.map((r) => r.wallSeconds)), 1),
        requestsPerSecond: round(median(others.map((r) => r.requestsPerSecond)), 1),
        peakMB: median(others.map((r) => r.peakMB)),
        cpuSeconds: median(others.map((r) => r.cpuSeconds)),
      };
      summary[`${c}@${size}`] = o;
      lines.push([
        `${c}, ${size.toLocaleString('en-US')} rows`,
        fmt(o.wallSeconds, 1),
        fmt(o.requestsPerSecond),
        fmt(o.peakMB, 0),
        '',
        fmt(o.cpuSeconds, 0),
        '',
        '',
        '',
      ]);
    }
  }
  const small = Math.min(...sizes);
  const large = Math.max(...sizes);
  const peakOf = (size: number) => median(ours(size).map((r) => r.workerPeakMB));
  const maxPeak = Math.max(...sizes.map(peakOf));
  const growth = peakOf(large) / peakOf(small);
  const maxEvents = Math.max(
    ...runs.filter((x) => x.contender === 'ours').map((x) => (x.run as OursRun).history?.maxEvents ?? 0)
  );
  const targets: Target[] = [
    { name: 'worker peak memory', target: '<= 512 MB', value: `${fmt(maxPeak, 0)} MB`, met: maxPeak <= 512 },
    {
      name: `worker peak at ${large.toLocaleString('en-US')} / at ${small.toLocaleString('en-US')}`,
      target: large >= 1_000_000 && small === 100_000 ? '<= 1.3' : '<= 1.3 (target is 1M vs 100k)',
      value: fmt(growth, 2),
      met: sizes.length > 1 ? growth <= 1.3 : null,
    },
    {
      name: 'largest workflow history',
      target: '<= 10,000 events',
      value: maxEvents.toLocaleString('en-US'),
      met: maxEvents <= 10_000,
    },
  ];
  const prof = profileText(profiled);
  const text =
    `Scale: end to end, tiny prompts, zero latency, ${CONCURRENCY} in flight, default batch size (medians of ${rounds} round(s))\n\n` +
    table(
      [
        'job',
        'wall s',
        'req/s',
        'worker peak MB',
        'dev server peak MB',
        'CPU-s worker + server',
        'max history events',
        'max history bytes',
        'workflow runs',
      ],
      lines
    ) +
    '\n\n' +
    targetTable(targets) +
    '\n' +
    prof.text;
  return {
    params: { sizes, rounds, concurrency: CONCURRENCY, contenders },
    rounds: runs,
    summary: { ...summary, peakGrowth: round(growth, 3) },
    targets,
    text,
    profile: prof.data,
  };
}

async function cache(sim: SimHandle, rounds: number): Promise<ScenarioOutput> {
  const rows = Number(args.rows ?? (QUICK ? 10000 : 100000));
  const stack = await OurStack.start(stackOptions(sim));
  try {
    const dataset = rowsOf(rows);
    const options = { dataset, cacheDir: stack.cacheDir, maxConcurrentRequests: CONCURRENCY };
    await sim.reset();
    console.error(`cache: the first run, ${rows.toLocaleString('en-US')} rows`);
    let started = performance.now();
    const first = await curate(stack.client, 'bench-text', options);
    const firstSeconds = (performance.now() - started) / 1000;
    const firstCalls = (await sim.summary()).total;
    const reruns: { seconds: number; calls: number; fromCache: boolean; rows: number }[] = [];
    for (let r = 0; r < rounds; r++) {
      await sim.reset();
      started = performance.now();
      const again = await curate(stack.client, 'bench-text', options);
      const seconds = (performance.now() - started) / 1000;
      const calls = (await sim.summary()).total;
      reruns.push({ seconds: round(seconds, 3), calls, fromCache: again.fromCache, rows: again.stats.outputRows });
      console.error(`  rerun ${r + 1}: ${fmt(seconds, 3)} s, ${calls} simulator calls, fromCache ${again.fromCache}`);
    }
    const med = median(reruns.map((r) => r.seconds));
    const maxCalls = Math.max(...reruns.map((r) => r.calls));
    const targets: Target[] = [
      { name: 'rerun of a finished job', target: '< 3 s', value: `${fmt(med, 2)} s`, met: med < 3 },
      { name: 'simulator calls on rerun', target: '0', value: String(maxCalls), met: maxCalls === 0 },
    ];
    const text =
      `Cache hit: rerun of a finished ${rows.toLocaleString('en-US')}-row job (same cache dir, same dataset), ${rounds} reruns\n\n` +
      table(
        ['run', 'wall s', 'simulator calls', 'from cache'],
        [
          ['first run', fmt(firstSeconds, 2), String(firstCalls), String(first.fromCache)],
          ...reruns.map((r, i) => [`rerun ${i + 1}`, fmt(r.seconds, 3), String(r.calls), String(r.fromCache)]),
        ]
      ) +
      '\n\n' +
      targetTable(targets) +
      '\n';
    return {
      params: { rows, rounds, concurrency: CONCURRENCY },
      rounds: reruns,
      summary: {
        firstSeconds: round(firstSeconds, 2),
        firstCalls,
        medianRerunSeconds: round(med, 3),
        maxRerunCalls: maxCalls,
      },
      targets,
      text,
    };
  } finally {
    await stack.stop();
  }
}

async function resume(sim: SimHandle, rounds: number): Promise<ScenarioOutput> {
  const rows = Number(args.rows ?? (QUICK ? 3000 : 20000));
  const results: Record<string, number | boolean | string>[] = [];
  for (let r = 0; r < rounds; r++) {
    console.error(`resume round ${r + 1}/${rounds}: ${rows.toLocaleString('en-US')} rows, SIGKILL at 40%`);
    const stack = await OurStack.start(stackOptions(sim));
    try {
      await sim.reset();
      const started = Date.now();
      const handle = await startCuration(stack.client, 'bench-text', {
        dataset: rowsOf(rows),
        cacheDir: stack.cacheDir,
        maxConcurrentRequests: CONCURRENCY,
      });
      while ((await sim.summary()).total < rows * 0.4) await new Promise((res) => setTimeout(res, 50));
      const killAt = Date.now();
      await stack.stopWorker('SIGKILL');
      const atKill = await sim.summary();
      const restartAt = Date.now();
      await stack.startWorker();
      const readyAt = Date.now();
      let firstNew: number | null = null;
      while (firstNew === null && Date.now() - killAt < 15 * 60_000) {
        // From the restart, not the kill: requests the dead worker had sent can still arrive just after the SIGKILL.
        firstNew = await sim.firstAfter(restartAt);
        if (firstNew === null) await new Promise((res) => setTimeout(res, 100));
      }
      const result = await curationResult(handle);
      const ended = Date.now();
      const after = await sim.summary();
      const retries = await stack.retriedActivities();
      const stalledTasks = (await stack.workflowTaskTimeouts()).filter((t) => t.at >= killAt);
      const figures = {
        requestsBeforeKill: atKill.total,
        killToFirstNewRequestSeconds: firstNew === null ? NaN : round((firstNew - killAt) / 1000, 2),
        restartToFirstNewRequestSeconds: firstNew === null ? NaN : round((firstNew - restartAt) / 1000, 2),
        workerReadyToFirstNewRequestSeconds: firstNew === null ? NaN : round((firstNew - readyAt) / 1000, 2),
        workerStartSeconds: round((readyAt - restartAt) / 1000, 2),
        repeatedPrompts: after.repeatedPrompts,
        extraRequests: after.extraRequests,
        simulatorCalls: after.total,
        succeeded: result.stats.succeeded,
        wallSeconds: round((ended - started) / 1000, 1),
        retriedBatchActivities: retries.length,
        killToFirstRetriedAttemptSeconds: retries.length ? round((retries[0]!.startedAt - killAt) / 1000, 2) : NaN,
        retryCause: retries[0]?.lastFailure ?? '',
        workflowTaskTimeouts: stalledTasks.length,
        killToFirstWorkflowTaskTimeoutSeconds: stalledTasks.length
          ? round((stalledTasks[0]!.at - killAt) / 1000, 2)
          : NaN,
        workflowTaskTimeoutType: [...new Set(stalledTasks.map((t) => t.timeout))].join(', '),
      };
      results.push(figures);
      console.error(`  ${JSON.stringify(figures)}`);
    } finally {
      await stack.stop();
    }
  }
  const med = (k: string) => median(results.map((r) => r[k] as number));
  const targets: Target[] = [
    {
      name: 'repeated requests after SIGKILL',
      target: 'report (<= requests in flight)',
      value: `${fmt(med('repeatedPrompts'), 0)} (max ${Math.max(...results.map((r) => r.repeatedPrompts as number))})`,
      met: Math.max(...results.map((r) => r.repeatedPrompts as number)) <= CONCURRENCY,
    },
    {
      name: 'SIGKILL → first new request',
      target: 'report',
      value: `${fmt(med('killToFirstNewRequestSeconds'), 1)} s`,
      met: null,
    },
  ];
  const text =
    `Resume: SIGKILL the worker at 40% of a ${rows.toLocaleString('en-US')}-row job, restart it at once (${rounds} rounds)\n\n` +
    table(
      [
        'round',
        'kill → first new request s',
        'worker start s',
        'ready → first new request s',
        'kill → first retried batch s',
        'kill → first workflow task timeout s',
        'repeated prompts',
        'extra requests',
        'calls',
        'wall s',
      ],
      results.map((r, i) => [
        String(i + 1),
        fmt(r.killToFirstNewRequestSeconds as number, 2),
        fmt(r.workerStartSeconds as number, 2),
        fmt(r.workerReadyToFirstNewRequestSeconds as number, 2),
        fmt(r.killToFirstRetriedAttemptSeconds as number, 2),
        r.workflowTaskTimeouts
          ? `${fmt(r.killToFirstWorkflowTaskTimeoutSeconds as number, 2)} (${r.workflowTaskTimeouts}, ${r.workflowTaskTimeoutType})`
          : '–',
        String(r.repeatedPrompts),
        String(r.extraRequests),
        String(r.simulatorCalls),
        fmt(r.wallSeconds as number, 1),
      ])
    ) +
    `\n\nWhy the retried batches waited: ${[...new Set(results.map((r) => r.retryCause))].join('; ') || 'no batch was retried'}\n\n` +
    targetTable(targets) +
    '\n';
  return {
    params: { rows, rounds, concurrency: CONCURRENCY, killAt: 0.4 },
    rounds: results,
    summary: {
      killToFirstNewRequestSeconds: med('killToFirstNewRequestSeconds'),
      repeatedPrompts: med('repeatedPrompts'),
      extraRequests: med('extraRequests'),
    },
    targets,
    text,
  };
}

async function sweep(sim: SimHandle, rounds: number): Promise<ScenarioOutput> {
  const rows = Number(args.rows ?? (QUICK ? 1000 : 10000));
  const sizes = (args['batch-sizes'] ?? '1,10,100,default')
    .split(',')
    .map((s) => (s === 'default' ? undefined : Number(s)));
  const runs: OursRun[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const batchSize of rotate(sizes, r)) {
      console.error(`sweep round ${r + 1}/${rounds}: batch size ${batchSize ?? 'default'}`);
      runs.push(await runOurs(sim, { rows, batchSize, histories: true }));
    }
  }
  const summary: Record<string, unknown> = {};
  const lines = sizes.map((batchSize) => {
    const rs = runs.filter((x) => x.batchSize === (batchSize ?? 'default'));
    const s = {
      requestsPerSecond: round(median(rs.map((r) => r.requestsPerSecond)), 1),
      cpuSecondsPer1kRequests: round(median(rs.map((r) => r.cpuSecondsPer1kRequests)), 3),
      historyEventsPerRequest: round(median(rs.map((r) => (r.history?.totalEvents ?? NaN) / rows)), 3),
      maxHistoryEvents: Math.max(...rs.map((r) => r.history?.maxEvents ?? 0)),
      workflowRuns: median(rs.map((r) => r.history?.runs ?? NaN)),
    };
    summary[String(batchSize ?? 'default')] = s;
    return [
      batchSize === undefined ? 'default (100)' : String(batchSize),
      fmt(s.requestsPerSecond),
      rs.map((r) => fmt(r.requestsPerSecond, 0)).join(' / '),
      fmt(s.cpuSecondsPer1kRequests, 3),
      fmt(s.historyEventsPerRequest, 3),
      s.maxHistoryEvents.toLocaleString('en-US'),
      String(s.workflowRuns),
    ];
  });
  const text =
    `Batch-size sweep: ${rows.toLocaleString('en-US')} requests, zero latency, ${CONCURRENCY} in flight, ${rounds} rounds (medians)\n\n` +
    table(
      [
        'batch size',
        'req/s',
        'each round',
        'CPU-s/1k req',
        'history events / request',
        'max history events',
        'workflow runs',
      ],
      lines
    ) +
    '\n';
  return {
    params: { rows, rounds, concurrency: CONCURRENCY, batchSizes: sizes.map((s) => s ?? 'default') },
    rounds: runs,
    summary,
    targets: [],
    text,
  };
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  const chosen = args.scenario === 'all' ? SCENARIOS : [args.scenario as Scenario];
  for (const s of chosen) if (![...SCENARIOS, 'field'].includes(s)) throw new Error(`unknown scenario ${s}`);
  ensureGnuTime();
  const info = machine();
  console.error(`machine: ${info.nproc} cores (${info.cpu}), node ${info.node}, load ${info.loadAtStart.join(' ')}`);
  // Zero latency; limits far above reach, reported in every response's headers (the simulator's default reports
  // 10,000 RPM, which anything that learns from headers, ours included, would then keep to).
  const sim = await startSimProcess({ latencyMs: 0, rateLimits: { rpm: 1_000_000_000, tpm: 1_000_000_000_000 } });
  mkdirSync(RESULTS, { recursive: true });
  try {
    for (const scenario of chosen) {
      const defaultRounds = QUICK || scenario === 'scale' ? 1 : 3;
      const rounds = Number(args.rounds ?? defaultRounds);
      const startedAt = new Date().toISOString();
      const out =
        scenario === 'field'
          ? await field({
              rows: args.rows === undefined ? undefined : Number(args.rows),
              cases: args.cases?.split(','),
              contenders: args.contenders?.split(',') as FieldContender[] | undefined,
              maxRunSeconds: Number(args['max-run-seconds']),
              worker: {
                nodeArgs: EXPERIMENT_ARGS,
                env: WORKER_ENV,
                compiled: args.contenders?.split(',').includes('ours') === false ? undefined : compiled(),
              },
            })
          : await { throughput, scale, cache, resume, sweep }[scenario](sim, rounds);
      const report = {
        scenario,
        command: `npx tsx bench/compare.ts ${process.argv.slice(2).join(' ')}`.trim(),
        machine: { ...info, loadAtEnd: loadavg().map((l) => round(l, 2)) },
        startedAt,
        finishedAt: new Date().toISOString(),
        quick: QUICK,
        workerNodeArgs: EXPERIMENT_ARGS,
        workerEnv: WORKER_ENV,
        worker: WORKER,
        ...out,
      };
      console.log(`\n${out.text}`);
      const suffix = args.tag ? `-${args.tag}` : '';
      const file = join(RESULTS, `compare-${scenario}${suffix}.json`);
      writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
      console.error(`wrote ${file}`);
    }
  } finally {
    await sim.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
