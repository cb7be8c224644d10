/**
 * Crash-proof: one curation job on a real Temporal dev server and real worker processes, while the workers are
 * SIGKILLed and restarted at random moments and the dev server itself is SIGKILLed and restarted on the same SQLite
 * file and port. When the job finishes, the run is checked:
 *
 *   - every input row is accounted for exactly once: an output row in the Arrow dataset or a failed-requests line;
 *   - answers paid for twice stay within what was in flight at the kills: concurrency × (worker kills + server kills);
 *   - every JSON Lines file of the run folder is whole (a responses file may end in a torn line, which is reported);
 *   - the job's and partitions' histories replay against the current workflow code without determinism errors.
 *
 *   npx tsx bench/chaos.ts [--short] [--requests N] [--worker-kills K] [--server-kills S] [--seed X]
 *                          [--server-downtime MS[-MS]] [--no-reap] [--save-histories] [--keep]
 *                          [--results FILE]
 *
 * `--short` is the CI form (2,000 requests, 2 worker kills, 1 server kill). Prints a table, writes
 * bench/results/chaos.json (chaos-short.json for --short) and exits 0 when every check holds, 1 otherwise.
 *
 * By default the harness acts as a supervisor that saw the worker die: it fails the dead worker's started activities
 * and resets the job's sticky task queues, so recovery does not wait for the heartbeat timeout (see
 * src/workflows/activity-options.ts) or the sticky schedule-to-start timeout. `--no-reap` leaves both to Temporal's
 * timeouts: the same checks must hold, the run just takes longer.
 */
import { Client, Connection } from '@temporalio/client';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { CurationError, startCuration, type CurationResult } from '../src/client';
import { startSimulator, type Simulator } from '../src/simulator';
import { installQuietRuntime } from '../src/temporal/runtime';
import {
  accountingFailures,
  checkAccounting,
  checkRunFiles,
  countDuplicates,
  longestStalls,
  type Accounting,
  type FileIntegrity,
  type Stall,
} from './lib/chaos-checks';
import { ChaosDevServer } from './lib/chaos-server';
import { historyToJson } from './lib/chaos-histories';
import {
  fetchJobHistories,
  reapDeadWorkers,
  replayJobHistories,
  waitForResult,
  type JobHistory,
} from './lib/chaos-temporal';
import { keyValueTable, writeJsonReport } from './lib/report';
import { freePort, spawnWorker, stopProcessWithin } from './lib/processes';

type Range = { min: number; max: number };

export interface ChaosOptions {
  requests: number;
  workerKills: number;
  serverKills: number;
  /** The job's `maxConcurrentRequests`: the most answers one kill can make us pay for twice. */
  concurrency: number;
  latencyMs: Range;
  /** How long a killed worker stays dead before its replacement starts. */
  restartDelayMs: Range;
  /** How long the killed dev server stays down. */
  serverDowntimeMs: Range;
  /** Fail a dead worker's started activities at once instead of waiting for their heartbeat timeout. */
  reap: boolean;
  seed: number;
  /** Gives up (and fails) when the job has not finished by then. */
  timeoutMs: number;
  /** Writes a couple of the captured histories to test/histories/ for the replay unit test. */
  saveHistories: boolean;
  /** Keeps the work folder (cache, SQLite file) even when every check holds; it is always kept on failure. */
  keep: boolean;
  /** Where the figures go as JSON; undefined writes nothing. */
  resultsPath?: string;
  log: (line: string) => void;
}

export const FULL: Omit<ChaosOptions, 'seed' | 'log'> = {
  requests: 20_000,
  workerKills: 5,
  serverKills: 1,
  concurrency: 32,
  latencyMs: { min: 50, max: 150 },
  restartDelayMs: { min: 1000, max: 4000 },
  serverDowntimeMs: { min: 1000, max: 3000 },
  reap: true,
  timeoutMs: 40 * 60_000,
  saveHistories: false,
  keep: false,
  resultsPath: join(__dirname, 'results', 'chaos.json'),
};

export const SHORT: Omit<ChaosOptions, 'seed' | 'log'> = {
  ...FULL,
  requests: 2_000,
  workerKills: 2,
  serverKills: 1,
  restartDelayMs: { min: 200, max: 800 },
  serverDowntimeMs: { min: 300, max: 1000 },
  timeoutMs: 5 * 60_000,
  resultsPath: join(__dirname, 'results', 'chaos-short.json'),
};

export interface ChaosEvent {
  kind: 'worker-kill' | 'server-kill';
  /** Simulator requests seen when the event was due. */
  dueAtRequests: number;
  /** When it happened: seconds since the job started, and requests seen by then. */
  atSeconds?: number;
  atRequests?: number;
  /** Milliseconds since the epoch, to match the simulator's request times. */
  atMs?: number;
  /** Answers paid for twice between this event and the next: what this kill cost. */
  duplicates?: number;
  /** Activities failed on behalf of the dead worker right after the kill. */
  reaped?: number;
}

export interface ChaosReport {
  ok: boolean;
  failures: string[];
  options: Omit<ChaosOptions, 'log' | 'resultsPath'>;
  workDir: string;
  jobWorkflowId?: string;
  events: ChaosEvent[];
  figures: {
    workerKills: number;
    workerRestarts: number;
    unplannedWorkerExits: number;
    serverKills: number;
    serverRestarts: number;
    clientRetries: number;
    reapedActivities: number;
    stickyResets: number;
    simRequests: number;
    duplicates: number;
    duplicateBound: number;
    rowsOut: number;
    rowsFailed: number;
    tornTails: number;
    badLines: number;
    leftoverTmpFiles: number;
    historiesReplayed: number;
    replayErrors: number;
    jobSeconds: number;
    totalSeconds: number;
  };
  stats?: CurationResult['stats'];
  accounting?: Omit<Accounting, 'missing' | 'twice' | 'unknown'> & { missing: number; twice: number; unknown: number };
  /** The longest gaps between requests, as seconds since the job started. */
  stalls: Stall[];
  savedHistories: string[];
  machine: string;
  at: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** mulberry32: a seeded generator, so a failing run can be repeated with its printed seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const between = (random: () => number, r: Range) => Math.round(r.min + (r.max - r.min) * random());

/**
 * One event in each equal slice of 10%..85% of the requests, at a random point of its slice, kinds shuffled: the
 * kills land at random moments yet spread over the job, and the last one leaves work for the restarted processes.
 */
export function planEvents(options: ChaosOptions, random: () => number): ChaosEvent[] {
  const kinds: ChaosEvent['kind'][] = [
    ...Array<ChaosEvent['kind']>(options.workerKills).fill('worker-kill'),
    ...Array<ChaosEvent['kind']>(options.serverKills).fill('server-kill'),
  ];
  for (let k = kinds.length - 1; k > 0; k--) {
    const j = Math.floor(random() * (k + 1));
    [kinds[k], kinds[j]] = [kinds[j], kinds[k]];
  }
  const width = 0.75 / Math.max(1, kinds.length);
  return kinds.map((kind, k) => ({
    kind,
    dueAtRequests: Math.floor(options.requests * (0.1 + width * (k + random()))),
  }));
}

/** The worker processes: one alive at a time, replaced when it is killed, and restarted when it dies on its own. */
class WorkerFleet {
  private current?: { child: ChildProcess; identity: string; planned: boolean };
  private stopping = false;
  /** Identities (`pid@host`, the SDK's default) of every worker process that has exited. */
  readonly dead = new Set<string>();
  unplannedExits = 0;
  /** Workers in a row that died on their own before polling: the restart waits longer each time. */
  private failedStarts = 0;

  constructor(
    private readonly spawnOne: () => ChildProcess,
    private readonly log: (line: string) => void,
    /** Called when a worker dies on its own, after it is marked dead. */
    private readonly onUnplannedExit: () => void
  ) {}

  spawn(): void {
    const child = this.spawnOne();
    const entry = { child, identity: `${child.pid}@${hostname()}`, planned: false };
    this.current = entry;
    const spawnedAt = performance.now();
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    child.once('exit', () => process.removeListener('exit', killOnExit));
    // The worker's stderr: its ready line tells how long a restart takes; anything else it says is passed on.
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (line.startsWith('worker: ')) {
        this.failedStarts = 0;
        this.log(`worker ${child.pid} polling after ${((performance.now() - spawnedAt) / 1000).toFixed(1)}s`);
      } else {
        this.log(`worker ${child.pid}: ${line}`);
      }
    });
    child.once('exit', (code, signal) => {
      this.dead.add(entry.identity);
      if (entry.planned || this.stopping) return;
      // A worker that gives up on a vanished server is a crash like any other: replace it. One that cannot even
      // start (its server still restarting, node_modules being reinstalled) is retried less and less often.
      this.unplannedExits++;
      const delayMs = Math.min(30_000, 2000 * 2 ** this.failedStarts++);
      this.log(
        `worker ${child.pid} exited on its own (${signal ?? `code ${code}`}); restarting it in ${delayMs / 1000}s`
      );
      this.onUnplannedExit();
      setTimeout(() => {
        if (!this.stopping && this.current === entry) this.spawn();
      }, delayMs);
    });
  }

  get alive(): boolean {
    const child = this.current?.child;
    return !!child && child.exitCode === null && child.signalCode === null;
  }

  /** SIGKILLs the live worker (the caller checks `alive` first) and returns its identity. */
  async kill(): Promise<string> {
    const entry = this.current;
    if (!entry || !this.alive) throw new Error('no live worker to kill');
    entry.planned = true;
    const exited = new Promise((resolve) => entry.child.once('exit', resolve));
    entry.child.kill('SIGKILL');
    await exited;
    this.current = undefined;
    return entry.identity;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.current) await stopProcessWithin(this.current.child, 10_000);
  }
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  const log = (line: string) => options.log(`[chaos ${elapsed().toFixed(1).padStart(6)}s] ${line}`);
  const random = rng(options.seed);
  installQuietRuntime();

  const workDir = mkdtempSync(join(tmpdir(), 'curator-chaos-'));
  const cacheDir = join(workDir, 'cache');
  const failures: string[] = [];
  const events = planEvents(options, random);
  const { log: _log, resultsPath: _resultsPath, ...settings } = options;
  const report: ChaosReport = {
    ok: false,
    failures,
    options: settings,
    workDir,
    events,
    figures: {
      workerKills: 0,
      workerRestarts: 0,
      unplannedWorkerExits: 0,
      serverKills: 0,
      serverRestarts: 0,
      clientRetries: 0,
      reapedActivities: 0,
      stickyResets: 0,
      simRequests: 0,
      duplicates: 0,
      duplicateBound: 0,
      rowsOut: 0,
      rowsFailed: 0,
      tornTails: 0,
      badLines: 0,
      leftoverTmpFiles: 0,
      historiesReplayed: 0,
      replayErrors: 0,
      jobSeconds: 0,
      totalSeconds: 0,
    },
    stalls: [],
    savedHistories: [],
    machine: `${cpus().length} cores, node ${process.version}`,
    at: new Date().toISOString(),
  };
  const f = report.figures;
  log(
    `seed ${options.seed}: ${options.requests} requests, ${options.workerKills} worker kills, ` +
      `${options.serverKills} server kills, reap ${options.reap ? 'on' : 'off'}; work folder ${workDir}`
  );
  log(`chaos plan: ${events.map((e) => `${e.kind} after ${e.dueAtRequests} requests`).join(', ')}`);

  let sim: Simulator | undefined;
  let server: ChaosDevServer | undefined;
  let fleet: WorkerFleet | undefined;
  let connection: Connection | undefined;
  try {
    sim = await startSimulator({ latencyMs: options.latencyMs });
    const simulator = sim;
    server = new ChaosDevServer({ dbFilename: join(workDir, 'temporal.db'), port: await freePort() });
    await server.start();
    const devServer = server;
    log(`dev server up on ${server.address} (pid ${server.pid}); simulator on ${sim.url}`);

    connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    const taskQueue = 'curator-chaos';
    const workers = new WorkerFleet(
      () =>
        spawnWorker({
          curators: join(__dirname, 'curators.ts'),
          address: devServer.address,
          cacheDir,
          taskQueue,
          env: { OPENAI_API_KEY: 'sim-chaos-key', OPENAI_BASE_URL: simulator.openaiBaseURL },
          stderr: 'pipe',
        }),
      log,
      () => void reap()
    );
    fleet = workers;
    workers.spawn();

    // Reaps run one after another, each seeing every death recorded before it starts (so the reap right after a
    // kill covers that kill). A server that is down just means trying again on the next tick. Sticky queues are
    // reset once per death; activity attempts are looked for on every tick, since one can be recorded as started
    // on a dead poller a moment after its process is gone.
    let jobWorkflowId = '';
    let reaps: Promise<unknown> = Promise.resolve();
    let deathsHandled = 0;
    const reap = (): Promise<number> => {
      const run = reaps.then(async () => {
        if (!options.reap || !jobWorkflowId || !devServer.running) return 0;
        const deaths = workers.dead.size;
        const reaped = await reapDeadWorkers(client, jobWorkflowId, workers.dead, deaths > deathsHandled);
        deathsHandled = deaths;
        if (reaped.activities > 0) log(`reaped ${reaped.activities} activities of dead workers`);
        f.reapedActivities += reaped.activities;
        f.stickyResets += reaped.stickyResets;
        return reaped.activities;
      });
      const settled = run.catch(() => 0);
      reaps = settled;
      return settled;
    };

    const rows = Array.from({ length: options.requests }, (_, id) => ({ id }));
    const jobStarted = performance.now();
    const jobStartedAt = Date.now();
    const handle = await startCuration(client, 'bench-text', {
      dataset: rows,
      cacheDir,
      taskQueue,
      maxConcurrentRequests: options.concurrency,
    });
    jobWorkflowId = report.jobWorkflowId = handle.workflowId;
    log(`job ${handle.workflowId} started`);

    let done = false;
    const deadline = Date.now() + options.timeoutMs;

    // The chaos: each event waits for its share of requests, and for the restarted processes to have done real
    // work since the last event, so no kill lands on a worker that had not started yet.
    let chaosError: Error | undefined;
    const chaos = (async () => {
      let sinceRecovery = 0;
      const minWork = 2 * options.concurrency;
      for (const event of events) {
        const due = () =>
          simulator.stats.total >= event.dueAtRequests &&
          simulator.stats.total - sinceRecovery >= minWork &&
          (event.kind === 'server-kill' || workers.alive);
        while (!done && !due()) await sleep(20);
        if (done) return;
        event.atSeconds = Number(((performance.now() - jobStarted) / 1000).toFixed(2));
        event.atRequests = simulator.stats.total;
        event.atMs = Date.now();
        if (event.kind === 'worker-kill') {
          const identity = await workers.kill();
          f.workerKills++;
          log(`SIGKILL worker ${identity} after ${event.atRequests} requests`);
          event.reaped = await reap();
          await sleep(between(random, options.restartDelayMs));
          workers.spawn();
          f.workerRestarts++;
        } else {
          await devServer.kill();
          f.serverKills++;
          log(`SIGKILL dev server after ${event.atRequests} requests`);
          await sleep(between(random, options.serverDowntimeMs));
          await devServer.start();
          f.serverRestarts++;
          log(`dev server back on ${devServer.address} (pid ${devServer.pid})`);
        }
        sinceRecovery = simulator.stats.total;
      }
    })().catch((err: unknown) => {
      // Recorded rather than thrown: the result loop below stops on it instead of waiting out the deadline.
      chaosError = err as Error;
      failures.push(`chaos: ${chaosError.message}`);
    });

    // Catches attempts started by a dead worker that a reap right after the kill could not see yet.
    const reaper = (async () => {
      while (!done) {
        await sleep(2000);
        if (!done) await reap();
      }
    })();

    let result: CurationResult | undefined;
    try {
      result = await waitForResult(client, handle.workflowId, {
        deadline,
        stop: () => (chaosError ? 'the chaos could not go on; the job was left unfinished' : undefined),
        onRetry: (err) => {
          f.clientRetries++;
          log(`waiting for the result failed (${err.message.split('\n')[0]}); retrying`);
        },
      });
    } catch (err) {
      failures.push(`job: ${(err as Error).message}`);
      if (err instanceof CurationError && err.manifest) result = err.manifest as CurationResult;
    } finally {
      f.jobSeconds = Number(((performance.now() - jobStarted) / 1000).toFixed(2));
      done = true;
      await chaos;
      await reaper;
    }
    log(`job finished in ${f.jobSeconds}s`);
    f.unplannedWorkerExits = workers.unplannedExits;
    f.simRequests = simulator.stats.total;
    const duplicates = countDuplicates(simulator.stats.requests);
    f.duplicates = duplicates.paidTwice;
    f.duplicateBound = options.concurrency * (f.workerKills + f.serverKills);
    // Each repeat is charged to the latest event before it; one before any event was paid twice with no crash.
    const happened = events.filter((e) => e.atMs !== undefined);
    for (const e of happened) e.duplicates = 0;
    let uncaused = 0;
    for (const at of duplicates.repeatsAt) {
      const cause = happened.filter((e) => e.atMs! <= at).at(-1);
      if (cause) cause.duplicates!++;
      else uncaused++;
    }
    log(`paid twice per event: ${happened.map((e) => `${e.kind} ${e.duplicates}`).join(', ') || 'no events'}`);
    if (uncaused > 0) failures.push(`${uncaused} answers paid twice before any kill`);
    report.stalls = longestStalls(simulator.stats.requests, jobStartedAt);
    if (duplicates.worst) log(`most paid prompt: '${duplicates.worst.prompt}' ×${duplicates.worst.count}`);

    if (f.workerKills < options.workerKills || f.serverKills < options.serverKills) {
      failures.push(
        `the job finished before the chaos did: ${f.workerKills}/${options.workerKills} worker kills, ` +
          `${f.serverKills}/${options.serverKills} server kills`
      );
    }
    if (f.duplicates > f.duplicateBound) {
      failures.push(`${f.duplicates} answers paid twice, more than ${f.duplicateBound} (in flight × kills)`);
    }

    // Histories first, while the server is up; the workers can go now.
    await workers.stop();
    if (jobWorkflowId) {
      const histories = await fetchJobHistories(client, jobWorkflowId);
      const replay = await replayJobHistories(histories);
      f.historiesReplayed = replay.replayed;
      f.replayErrors = replay.errors.length;
      failures.push(...replay.errors);
      log(`replayed ${f.historiesReplayed} histories`);
      if (f.historiesReplayed === 0) failures.push('no history of the job was found to replay');
      if (options.saveHistories) report.savedHistories = saveHistories(histories, log);
    }

    if (result) {
      report.stats = result.stats;
      try {
        const accounting = await checkAccounting(result.datasetPath, result.failedRequestsPath, options.requests);
        report.accounting = {
          ...accounting,
          missing: accounting.missing.length,
          twice: accounting.twice.length,
          unknown: accounting.unknown.length,
        };
        f.rowsOut = accounting.outputRows;
        f.rowsFailed = accounting.failedRows;
        failures.push(...accountingFailures(accounting));
        if (result.stats.outputRows !== accounting.outputRows) {
          failures.push(
            `the manifest says ${result.stats.outputRows} output rows, the Arrow file has ${accounting.outputRows}`
          );
        }
      } catch (err) {
        failures.push(`reading the output: ${(err as Error).message}`);
      }
      const files: FileIntegrity = await checkRunFiles(result.runDir, result.failedRequestsPath);
      f.tornTails = files.tornTails.length;
      f.badLines = files.badLines.length;
      f.leftoverTmpFiles = files.leftoverTmp.length;
      if (files.leftoverTmp.length) log(`leftover temporary files: ${files.leftoverTmp.join(', ')}`);
      for (const bad of files.badLines.slice(0, 10)) failures.push(`invalid line ${bad.file}:${bad.line}: ${bad.text}`);
      log(
        `${files.files} JSON Lines files, ${files.lines} lines read; torn tails: ${files.tornTails.join(', ') || 'none'}`
      );
    } else if (!failures.length) {
      failures.push('no result');
    }
  } catch (err) {
    failures.push(`harness: ${(err as Error).stack ?? err}`);
  } finally {
    await fleet?.stop().catch(() => undefined);
    await connection?.close().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    await sim?.close().catch(() => undefined);
  }

  f.totalSeconds = Number(elapsed().toFixed(2));
  report.ok = failures.length === 0;
  if (options.resultsPath) writeJsonReport(options.resultsPath, report);
  if (report.ok && !options.keep) rmSync(workDir, { recursive: true, force: true });
  return report;
}

/** Two small histories for test/unit/replay-histories.test.ts: the job, and a partition that lived through a kill. */
function saveHistories(histories: JobHistory[], log: (line: string) => void): string[] {
  const dir = join(__dirname, '..', 'test', 'histories');
  const limit = 500 * 1024;
  const events = (h: JobHistory) => h.history.events ?? [];
  // Retries are the server's business, so a retried batch shows only as a started attempt above 1.
  const recovered = (h: JobHistory) => events(h).some((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1);
  const picks: [string, JobHistory | undefined][] = [
    ['chaos-job.json', histories.find((h) => !h.workflowId.includes('/p'))],
    [
      'chaos-partition.json',
      histories.find((h) => h.workflowId.includes('/p') && recovered(h)) ??
        histories.find((h) => h.workflowId.includes('/p')),
    ],
  ];
  const saved: string[] = [];
  for (const [name, pick] of picks) {
    if (!pick) continue;
    const text = JSON.stringify({ workflowId: pick.workflowId, history: JSON.parse(historyToJson(pick.history)) });
    if (text.length > limit) {
      log(`not saving ${name}: ${Math.round(text.length / 1024)} KB is over ${limit / 1024} KB`);
      continue;
    }
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, name), text + '\n');
    saved.push(join('test', 'histories', name));
    log(`saved ${pick.workflowId} (${events(pick).length} events) as test/histories/${name}`);
  }
  return saved;
}

export function formatReport(report: ChaosReport): string {
  const f = report.figures;
  const table = keyValueTable([
    ['requests (rows in)', report.options.requests],
    ['worker kills (SIGKILL)', f.workerKills],
    ['worker restarts', f.workerRestarts],
    ['worker exits on their own', f.unplannedWorkerExits],
    ['server kills (SIGKILL)', f.serverKills],
    ['server restarts', f.serverRestarts],
    ['client result retries', f.clientRetries],
    ['activities reaped', f.reapedActivities],
    ['sticky queues reset', f.stickyResets],
    ['requests made (simulator)', f.simRequests],
    ['duplicates (paid twice)', f.duplicates],
    ['duplicate bound', f.duplicateBound],
    ['rows out', f.rowsOut],
    ['rows failed', f.rowsFailed],
    ['torn tails', f.tornTails],
    ['invalid lines', f.badLines],
    ['leftover .tmp files', f.leftoverTmpFiles],
    ['histories replayed', f.historiesReplayed],
    ['replay errors', f.replayErrors],
    ['job wall time (s)', f.jobSeconds],
    ['total time (s)', f.totalSeconds],
  ]);
  const verdict = report.ok ? 'PASS' : `FAIL\n${report.failures.map((x) => `  - ${x}`).join('\n')}`;
  const events = report.events
    .filter((e) => e.atSeconds !== undefined)
    .map(
      (e) =>
        `  ${e.kind} at ${e.atSeconds}s (${e.atRequests} requests): ${e.duplicates ?? 0} paid twice` +
        (e.reaped ? `, ${e.reaped} activities reaped` : '')
    );
  const stalls = report.stalls.map((s) => `${s.seconds}s after ${s.afterSeconds}s`).join(', ');
  return `${table}\nevents (seconds since the job started):\n${events.join('\n') || '  none'}\nlongest stalls without a request: ${stalls || 'none'}\nseed ${report.options.seed}: ${verdict}`;
}

/** `1000` or `1000-3000` (milliseconds). */
function parseRange(text: string): Range {
  const [min, max] = text.split('-').map(Number);
  return { min, max: max ?? min };
}

async function main() {
  const { values } = parseArgs({
    options: {
      short: { type: 'boolean', default: false },
      requests: { type: 'string' },
      'worker-kills': { type: 'string' },
      'server-kills': { type: 'string' },
      seed: { type: 'string' },
      'server-downtime': { type: 'string' },
      results: { type: 'string' },
      'no-reap': { type: 'boolean', default: false },
      'save-histories': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
    },
  });
  const base = values.short ? SHORT : FULL;
  const options: ChaosOptions = {
    ...base,
    requests: values.requests ? Number(values.requests) : base.requests,
    workerKills: values['worker-kills'] ? Number(values['worker-kills']) : base.workerKills,
    serverKills: values['server-kills'] ? Number(values['server-kills']) : base.serverKills,
    serverDowntimeMs: values['server-downtime'] ? parseRange(values['server-downtime']) : base.serverDowntimeMs,
    resultsPath: values.results ?? base.resultsPath,
    seed: values.seed ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31),
    reap: !values['no-reap'],
    saveHistories: values['save-histories']!,
    keep: values.keep!,
    log: (line) => console.error(line),
  };
  // Ctrl-C or a CI timeout: exit through 'exit', whose handlers SIGKILL the dev server and the worker we started,
  // so neither outlives the harness holding its port (a signal's default action would skip them).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  const report = await runChaos(options);
  console.log(formatReport(report));
  if (!report.ok) console.log(`work folder kept: ${report.workDir}`);
  process.exitCode = report.ok ? 0 : 1;
}

if (require.main === module) void main();
