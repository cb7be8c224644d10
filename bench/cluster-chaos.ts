/**
 * The chaos run on the production-shaped stack (scripts/infra/stack.sh): a Temporal cluster of two hosts on
 * PostgreSQL, the object store, PostgreSQL, and N worker machines (own network namespace, own tmpfs disk, the
 * services reached only through relays). One job against the simulator enforcing one rate limit for everybody, and
 * during it, in this order:
 *
 *   1. a machine is killed (every process SIGKILLed, its disk deleted); a fresh one replaces it 5 s later;
 *   2. Temporal host 1 is SIGKILLed (machines whose relay prefers it fail over to host 2); it restarts 10 s later;
 *   3. the object store is restarted (SIGTERM, start on the same data);
 *   4. a machine is cut off, its relays stopped, for 30 s, then healed.
 *
 * Each machine fault hits the machine with the most requests at risk at that moment.
 *
 * Nobody tells Temporal about the dead or the cut machine: their activities come back through the heartbeat timeout,
 * as in production. Then it checks: every input row exactly once in the dataset (or once in the failed file), rows
 * out = rows in, answers paid twice ≤ what the killed and the cut machine had at risk (requests in flight plus
 * answers of the last second not yet durable, counted by a proxy per machine), every object or file of the run whole,
 * the dataset's SHA-256 as recorded, 429s ≤ 1% of the requests, and every history of the job replays.
 *
 *   npx tsx bench/cluster-chaos.ts [--machines N] [--requests N] [--rpm N] [--data-plane store|shared-dir]
 *                                  [--no-faults] [--results FILE] [--seed X]
 *
 * `--data-plane store` (the default) gives workers CURATOR_STORAGE and CURATOR_DATABASE_URL and a cache directory on
 * their own disk. `shared-dir` gives every machine one cache directory outside the machine disks (a shared volume,
 * the only way several machines could share a job before the storage backends): the disk of a killed machine then
 * holds nothing of the job.
 * Needs root (namespaces) and the cached builds of scripts/infra/build.sh. Prints a table, writes the JSON report.
 */
import { Client, Connection } from '@temporalio/client';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
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
  type Stall,
} from './lib/chaos-checks';
import { fetchJobHistories, replayJobHistories, waitForResult } from './lib/chaos-temporal';
import { ClusterStack } from './lib/cluster-stack';
import { MachineProxy } from './lib/machine-proxy';
import { keyValueTable, writeJsonReport } from './lib/report';
import { checkStoreObjects, copyFromStore } from './lib/store-checks';

export type DataPlaneMode = 'store' | 'shared-dir';

export interface ClusterChaosOptions {
  machines: number;
  requests: number;
  /** The simulator's one limit for every machine (requests per minute, sliding window). */
  rpm: number;
  latencyMs: { min: number; max: number };
  /** The job's `maxConcurrentRequests`. */
  concurrency: number;
  dataPlane: DataPlaneMode;
  faults: boolean;
  cutSeconds: number;
  timeoutMs: number;
  seed: number;
  resultsPath?: string;
  log: (line: string) => void;
}

export const CI: Omit<ClusterChaosOptions, 'seed' | 'log'> = {
  machines: 3,
  requests: 20_000,
  // 200 requests/s: at least ~100 s of job, long enough for all four faults. On a loaded 2-core box the machines stay
  // under it (bench/README.md, "Cluster chaos"); on a quieter one the limit binds.
  rpm: 12_000,
  latencyMs: { min: 50, max: 150 },
  concurrency: 32,
  dataPlane: 'store',
  faults: true,
  cutSeconds: 30,
  timeoutMs: 15 * 60_000,
  resultsPath: join(__dirname, 'results', 'cluster-chaos.json'),
};

export const FULL: Omit<ClusterChaosOptions, 'seed' | 'log'> = {
  ...CI,
  requests: 200_000,
  rpm: 60_000,
  timeoutMs: 60 * 60_000,
};

/** The port every machine reaches the provider (the simulator, through its proxy) on. */
const PROVIDER_PORT = 18787;
/** An answer received this recently may not be durable yet when the machine dies (flush timer, PUT in flight). */
const NOT_YET_DURABLE_MS = 1000;

export interface FaultEvent {
  kind: 'kill-machine' | 'kill-temporal-host' | 'restart-store' | 'cut-machine';
  target: string;
  /** Share of the requests after which it is due. */
  dueAt: number;
  atSeconds?: number;
  atRequests?: number;
  /** ms since the epoch, to match the simulator's request times. */
  atMs?: number;
  /** For a killed or cut machine: its requests in flight and answers not yet durable at that moment. */
  atRisk?: number;
  /** Of those, the requests in flight (sent, not answered). */
  inFlight?: number;
  /** Seconds until the simulator saw requests again at the rate before the fault (see `resumedAfter`). */
  resumeSeconds?: number;
  /** Seconds the fault lasted (down time of the host, the store restart, the cut). */
  lastedSeconds?: number;
}

export interface ClusterChaosReport {
  ok: boolean;
  failures: string[];
  options: Omit<ClusterChaosOptions, 'log' | 'resultsPath'>;
  workDir: string;
  jobWorkflowId?: string;
  events: FaultEvent[];
  figures: {
    simRequests: number;
    rateLimited: number;
    rateLimitedShare: number;
    duplicates: number;
    duplicateBound: number;
    rowsOut: number;
    rowsFailed: number;
    badLines: number;
    tornTails: number;
    objectsChecked: number;
    sha256Matches: boolean;
    historiesReplayed: number;
    replayErrors: number;
    answeredPerMachine: Record<string, number>;
    jobSeconds: number;
    requestsPerSecond: number;
    totalSeconds: number;
  };
  stats?: CurationResult['stats'];
  stalls: Stall[];
  machine: string;
  at: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The faults, at fixed shares of the job so that each lands while there is work left for the others. A machine fault
 * hits the machine with the most requests at risk when it is due (`target` is filled in then), so that it costs what
 * it can.
 */
export function planFaults(): FaultEvent[] {
  return [
    { kind: 'kill-machine', target: '', dueAt: 0.15 },
    { kind: 'kill-temporal-host', target: '1', dueAt: 0.3 },
    { kind: 'restart-store', target: 's3', dueAt: 0.45 },
    { kind: 'cut-machine', target: '', dueAt: 0.55 },
  ];
}

/** A worker process on each machine; replaced when its machine is replaced. */
class MachineWorkers {
  readonly processes = new Map<string, ChildProcess>();
  /** Resolved when the machine's worker polls its task queue. */
  readonly ready = new Map<string, Promise<void>>();
  private stopping = false;

  constructor(
    private readonly stack: ClusterStack,
    private readonly env: Record<string, string>,
    private readonly taskQueue: string,
    private readonly log: (line: string) => void
  ) {}

  start(machine: string): void {
    const child = this.stack.spawnOn(
      machine,
      [process.execPath, 'bin/curator.js', 'worker', '--curators', 'bench/curators.ts', '--task-queue', this.taskQueue],
      this.env
    );
    this.processes.set(machine, child);
    const started = performance.now();
    let polling!: () => void;
    this.ready.set(machine, new Promise<void>((resolve) => (polling = resolve)));
    // The AWS SDK's notice about Node 20 is a paragraph on every start: passed over, from its first line to its last.
    let notice = false;
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (line.startsWith('worker: ')) {
        polling();
        this.log(`${machine}: worker ${child.pid} polling after ${((performance.now() - started) / 1000).toFixed(1)}s`);
      } else if (notice || line.includes('NodeVersionSupportWarning')) {
        notice = !line.includes('--trace-warnings');
      } else {
        this.log(`${machine}: ${line}`);
      }
    });
    child.once('exit', (code, signal) => {
      if (this.stopping || this.processes.get(machine) !== child) return;
      this.log(`${machine}: worker ${child.pid} exited (${signal ?? `code ${code}`})`);
    });
  }

  /** The machine's worker is gone with the machine: forget it without signalling (stack.sh killed it). */
  forget(machine: string): void {
    this.processes.delete(machine);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      [...this.processes.values()].map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      })
    );
  }
}

/**
 * Seconds from `fromMs` until the simulator has seen, within one second, at least half the requests per second of
 * the ten seconds before the fault: how long the fault held the job back.
 */
function resumedAfter(sim: Simulator, fromMs: number): number | undefined {
  const times = sim.stats.requests.map((r) => r.at);
  const before = times.filter((t) => t >= fromMs - 10_000 && t < fromMs).length / 10;
  const after = times.filter((t) => t >= fromMs);
  for (let k = 0; k < after.length; k++) {
    let j = k;
    while (j < after.length && after[j] < after[k] + 1000) j++;
    if (j - k >= before / 2) return Number(((after[k] - fromMs) / 1000).toFixed(1));
  }
  return undefined;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

export async function runClusterChaos(options: ClusterChaosOptions): Promise<ClusterChaosReport> {
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  const log = (line: string) => options.log(`[cluster ${elapsed().toFixed(1).padStart(6)}s] ${line}`);
  installQuietRuntime();

  const workDir = mkdtempSync(join(tmpdir(), 'curator-cluster-'));
  const failures: string[] = [];
  const events = options.faults ? planFaults() : [];
  const { log: _log, resultsPath: _resultsPath, ...settings } = options;
  const report: ClusterChaosReport = {
    ok: false,
    failures,
    options: settings,
    workDir,
    events,
    figures: {
      simRequests: 0,
      rateLimited: 0,
      rateLimitedShare: 0,
      duplicates: 0,
      duplicateBound: 0,
      rowsOut: 0,
      rowsFailed: 0,
      badLines: 0,
      tornTails: 0,
      objectsChecked: 0,
      sha256Matches: false,
      historiesReplayed: 0,
      replayErrors: 0,
      answeredPerMachine: {},
      jobSeconds: 0,
      requestsPerSecond: 0,
      totalSeconds: 0,
    },
    stalls: [],
    machine: `${cpus().length} cores, node ${process.version}`,
    at: new Date().toISOString(),
  };
  const f = report.figures;
  const machines = Array.from({ length: options.machines }, (_, k) => `m${k + 1}`);
  const stack = new ClusterStack(log);
  let startedStack = false;
  let sim: Simulator | undefined;
  const proxies = new Map<string, MachineProxy>();
  let workers: MachineWorkers | undefined;
  let connection: Connection | undefined;
  try {
    startedStack = !(await stack.servicesUp());
    await stack.up(options.machines);
    // Fresh machines: no worker or disk left from an earlier run.
    for (const m of machines) {
      await stack.killMachine(m);
      await stack.addMachine(m);
    }
    sim = await startSimulator({ latencyMs: options.latencyMs, rateLimits: { rpm: options.rpm } });
    const simulator = sim;
    const simPort = Number(new URL(sim.url).port);
    const connectMachine = async (m: string) => {
      let proxy = proxies.get(m);
      if (!proxy) {
        proxy = await MachineProxy.start(m, simPort);
        proxies.set(m, proxy);
      }
      await stack.expose(m, PROVIDER_PORT, proxy.port);
    };
    for (const m of machines) await connectMachine(m);

    const root = await stack.env();
    const runId = `${Date.now().toString(36)}-${options.seed}`;
    const workerEnv: Record<string, string> = {
      OPENAI_API_KEY: 'sim-cluster-key',
      OPENAI_BASE_URL: `http://127.0.0.1:${PROVIDER_PORT}/v1`,
      CURATOR_LOG_LEVEL: 'WARN',
      // A prefix per run: a rerun of the bench never finds the previous run's answers.
      ...(options.dataPlane === 'store'
        ? { CURATOR_STORAGE: `${root.CURATOR_STORAGE}/${runId}` }
        : { CURATOR_STORAGE: '', CURATOR_DATABASE_URL: '', CURATOR_CACHE_DIR: join(workDir, 'shared-cache') }),
    };
    const taskQueue = `curator-cluster-${runId}`;
    workers = new MachineWorkers(stack, workerEnv, taskQueue, log);
    for (const m of machines) workers.start(m);

    // The harness talks to host 2: host 1 is the one killed.
    connection = await Connection.connect({ address: '127.0.0.1:17333' });
    const client = new Client({ connection, namespace: root.TEMPORAL_NAMESPACE });
    const inputPath = join(workDir, 'input.jsonl');
    writeFileSync(
      inputPath,
      Array.from({ length: options.requests }, (_, id) => JSON.stringify({ id }) + '\n').join('')
    );
    log(
      `${options.machines} machines, ${options.requests} requests, limit ${options.rpm} rpm, data plane ` +
        `${options.dataPlane}, faults ${options.faults ? 'on' : 'off'}; work folder ${workDir}`
    );

    // Every machine at work before the job starts, so that the first fault finds work in flight.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(machines.map((m) => workers!.ready.get(m))),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('the workers did not poll within 180 s')), 180_000);
      }),
    ]).finally(() => clearTimeout(timer));
    const jobStarted = performance.now();
    const jobStartedAt = Date.now();
    const handle = await startCuration(client, 'bench-text', {
      dataset: inputPath,
      taskQueue,
      maxConcurrentRequests: options.concurrency,
      // The job id would otherwise come from the dataset and options, the same on every run of the bench.
      workflowId: `curate/bench-text/cluster-${runId}`,
    });
    report.jobWorkflowId = handle.workflowId;
    log(`job ${handle.workflowId} started`);

    let done = false;
    let chaosError: Error | undefined;
    const chaos = (async () => {
      for (const event of events) {
        while (!done && simulator.stats.total < event.dueAt * options.requests) await sleep(50);
        if (event.target === '') {
          // Requests come in waves (a shard's requests at once): wait up to 20 s for a machine with some in flight.
          const waitUntil = Date.now() + 20_000;
          while (!done && Date.now() < waitUntil && ![...proxies.values()].some((p) => p.inFlight > 0)) await sleep(10);
          const busiest = [...proxies.values()].sort(
            (a, b) => b.atRisk(Date.now(), NOT_YET_DURABLE_MS) - a.atRisk(Date.now(), NOT_YET_DURABLE_MS)
          )[0];
          event.target = busiest.machine;
        }
        if (done) return;
        const at = Date.now();
        event.atSeconds = Number(((performance.now() - jobStarted) / 1000).toFixed(1));
        event.atRequests = simulator.stats.total;
        event.atMs = at;
        const t = performance.now();
        if (event.kind === 'kill-machine') {
          event.atRisk = proxies.get(event.target)!.atRisk(at, NOT_YET_DURABLE_MS);
          event.inFlight = proxies.get(event.target)!.inFlight;
          await stack.killMachine(event.target);
          workers!.forget(event.target);
          log(`machine ${event.target} killed with its disk (${event.atRisk} requests at risk)`);
          await sleep(5000);
          await stack.addMachine(event.target);
          await connectMachine(event.target);
          workers!.start(event.target);
          log(`a fresh machine ${event.target} joined`);
        } else if (event.kind === 'kill-temporal-host') {
          await stack.killHost(Number(event.target));
          log(`Temporal host ${event.target} SIGKILLed`);
          await sleep(10_000);
          await stack.startHost(Number(event.target));
          log(`Temporal host ${event.target} back`);
        } else if (event.kind === 'restart-store') {
          await stack.restartStore();
          log('object store restarted');
        } else {
          event.atRisk = proxies.get(event.target)!.atRisk(at, NOT_YET_DURABLE_MS);
          event.inFlight = proxies.get(event.target)!.inFlight;
          await stack.cutMachine(event.target);
          log(`machine ${event.target} cut off (${event.atRisk} requests at risk)`);
          await sleep(options.cutSeconds * 1000);
          await stack.healMachine(event.target);
          log(`machine ${event.target} reconnected`);
        }
        event.lastedSeconds = Number(((performance.now() - t) / 1000).toFixed(1));
      }
    })().catch((err: unknown) => {
      chaosError = err as Error;
      failures.push(`chaos: ${chaosError.message}`);
    });

    let result: CurationResult | undefined;
    try {
      result = await waitForResult(client, handle.workflowId, {
        deadline: Date.now() + options.timeoutMs,
        stop: () => (chaosError ? 'the chaos could not go on; the job was left unfinished' : undefined),
        onRetry: (err) => log(`waiting for the result failed (${err.message.split('\n')[0]}); retrying`),
      });
    } catch (err) {
      failures.push(`job: ${(err as Error).message}`);
      if (err instanceof CurationError && err.manifest) result = err.manifest as CurationResult;
    } finally {
      f.jobSeconds = Number(((performance.now() - jobStarted) / 1000).toFixed(1));
      done = true;
      await chaos;
    }
    log(`job finished in ${f.jobSeconds}s`);
    for (const e of events) if (e.atMs !== undefined) e.resumeSeconds = resumedAfter(simulator, e.atMs);
    if (events.some((e) => e.atSeconds === undefined)) failures.push('the job finished before every fault happened');

    f.simRequests = simulator.stats.total;
    f.rateLimited = simulator.stats.refused.rateLimited;
    f.rateLimitedShare = Number((f.rateLimited / Math.max(1, f.simRequests)).toFixed(4));
    if (f.rateLimited > 0.01 * f.simRequests)
      failures.push(`${f.rateLimited} 429s of ${f.simRequests} requests (> 1%)`);
    f.duplicates = countDuplicates(simulator.stats.requests).paidTwice;
    f.duplicateBound = events.reduce((sum, e) => sum + (e.atRisk ?? 0), 0);
    if (f.duplicates > f.duplicateBound) {
      failures.push(
        `${f.duplicates} answers paid twice, more than the ${f.duplicateBound} at risk on the lost machines`
      );
    }
    for (const [m, proxy] of proxies) f.answeredPerMachine[m] = proxy.answered;
    report.stalls = longestStalls(simulator.stats.requests, jobStartedAt);

    await workers.stop();
    const replay = await replayJobHistories(await fetchJobHistories(client, handle.workflowId));
    f.historiesReplayed = replay.replayed;
    f.replayErrors = replay.errors.length;
    failures.push(...replay.errors);
    if (f.historiesReplayed === 0) failures.push('no history of the job was found to replay');
    log(`replayed ${f.historiesReplayed} histories`);

    if (result) {
      report.stats = result.stats;
      const machineEnv = await stack.env('m1');
      const store =
        options.dataPlane === 'store'
          ? { storage: workerEnv.CURATOR_STORAGE, cacheDir: machineEnv.CURATOR_CACHE_DIR }
          : undefined;
      await checkOutput(result, options, root, store, workDir, report);
    } else if (!failures.length) {
      failures.push('no result');
    }
    f.requestsPerSecond = Math.round(options.requests / Math.max(0.001, f.jobSeconds));
  } catch (err) {
    failures.push(`harness: ${(err as Error).stack ?? err}`);
  } finally {
    await workers?.stop().catch(() => undefined);
    await connection?.close().catch(() => undefined);
    for (const proxy of proxies.values()) await proxy.close().catch(() => undefined);
    await sim?.close().catch(() => undefined);
    // Machines go in any case (their disks are tmpfs); the services only if this run started them.
    for (const m of machines) await stack.killMachine(m).catch(() => undefined);
    if (startedStack) await stack.down().catch(() => undefined);
  }

  f.totalSeconds = Number(elapsed().toFixed(1));
  report.ok = failures.length === 0;
  if (options.resultsPath) writeJsonReport(options.resultsPath, report);
  if (report.ok) rmSync(workDir, { recursive: true, force: true });
  return report;
}

/** Where a run kept in the object store is: the store's root, and the machines' cache root its keys are relative to. */
interface StoreRun {
  storage: string;
  cacheDir: string;
}

/** Rows out = rows in, each exactly once; every object or file of the run whole; the dataset as recorded. */
async function checkOutput(
  result: CurationResult,
  options: ClusterChaosOptions,
  env: Record<string, string>,
  store: StoreRun | undefined,
  workDir: string,
  report: ClusterChaosReport
): Promise<void> {
  const { failures, figures: f } = report;
  // With a store, the paths of the manifest are on the disk of the machine that finalized: read the objects instead.
  const inStore = store && result.datasetUri !== undefined;
  const local = (path: string, name: string) =>
    inStore
      ? copyFromStore(`${store.storage}/${relative(store.cacheDir, path)}`, join(workDir, name), env)
      : Promise.resolve(path);
  try {
    const dataset = await local(result.datasetPath, 'dataset.arrow');
    const failed = await local(result.failedRequestsPath, 'failed.jsonl');
    f.sha256Matches = (await sha256File(dataset)) === result.datasetSha256;
    if (!f.sha256Matches) failures.push('the dataset does not have the SHA-256 its manifest records');
    const accounting = await checkAccounting(dataset, failed, options.requests);
    f.rowsOut = accounting.outputRows;
    f.rowsFailed = accounting.failedRows;
    if (accounting.outputRows !== options.requests) {
      failures.push(`${accounting.outputRows} rows out of ${options.requests} in (${accounting.failedRows} failed)`);
    }
    failures.push(...accountingFailures(accounting));
  } catch (err) {
    failures.push(`reading the output: ${(err as Error).message}`);
  }
  if (store) {
    if (!inStore) failures.push('the manifest names no dataset in the object store (datasetUri)');
    // Every object of this run's prefix: the artifacts and the response-log segments.
    const objects = await checkStoreObjects(store.storage, env);
    f.objectsChecked = objects.objects;
    f.badLines = objects.badLines.length;
    for (const bad of objects.badLines.slice(0, 10)) failures.push(`invalid line ${bad.file}:${bad.line}: ${bad.text}`);
  } else {
    const files = await checkRunFiles(result.runDir, result.failedRequestsPath);
    f.objectsChecked = files.files;
    f.badLines = files.badLines.length;
    f.tornTails = files.tornTails.length;
    for (const bad of files.badLines.slice(0, 10)) failures.push(`invalid line ${bad.file}:${bad.line}: ${bad.text}`);
  }
}

export function formatReport(report: ClusterChaosReport): string {
  const f = report.figures;
  const o = report.options;
  const table = keyValueTable([
    ['machines', o.machines],
    ['data plane', o.dataPlane],
    ['requests (rows in)', o.requests],
    ['shared limit (rpm)', o.rpm],
    ['requests made (simulator)', f.simRequests],
    ['429s', `${f.rateLimited} (${(100 * f.rateLimitedShare).toFixed(2)}%)`],
    ['paid twice', f.duplicates],
    ['at risk on lost machines', f.duplicateBound],
    ['rows out', f.rowsOut],
    ['rows failed', f.rowsFailed],
    ['objects/files checked', f.objectsChecked],
    ['invalid lines', f.badLines],
    ['torn tails (local logs)', f.tornTails],
    ['dataset SHA-256 as recorded', f.sha256Matches ? 'yes' : 'no'],
    ['histories replayed', f.historiesReplayed],
    ['replay errors', f.replayErrors],
    [
      'answers per machine',
      Object.entries(f.answeredPerMachine)
        .map(([m, n]) => `${m} ${n}`)
        .join(', '),
    ],
    ['job wall time (s)', f.jobSeconds],
    ['rows per second', f.requestsPerSecond],
    ['total time (s)', f.totalSeconds],
  ]);
  const events = report.events
    .filter((e) => e.atSeconds !== undefined)
    .map(
      (e) =>
        `  ${e.kind} ${e.target} at ${e.atSeconds}s (${e.atRequests} requests)` +
        (e.atRisk !== undefined ? `, ${e.atRisk} at risk (${e.inFlight} in flight)` : '') +
        `, lasted ${e.lastedSeconds}s, requests back to pace after ${e.resumeSeconds ?? '?'}s`
    );
  const stalls = report.stalls.map((s) => `${s.seconds}s after ${s.afterSeconds}s`).join(', ');
  const verdict = report.ok ? 'PASS' : `FAIL\n${report.failures.map((x) => `  - ${x}`).join('\n')}`;
  return `${table}\nfaults (seconds since the job started):\n${events.join('\n') || '  none'}\nlongest stalls: ${stalls || 'none'}\n${verdict}`;
}

async function main() {
  const { values } = parseArgs({
    options: {
      full: { type: 'boolean', default: false },
      machines: { type: 'string' },
      requests: { type: 'string' },
      rpm: { type: 'string' },
      'data-plane': { type: 'string' },
      'no-faults': { type: 'boolean', default: false },
      results: { type: 'string' },
      seed: { type: 'string' },
    },
  });
  const base = values.full ? FULL : CI;
  const machines = values.machines ? Number(values.machines) : base.machines;
  const options: ClusterChaosOptions = {
    ...base,
    machines,
    requests: values.requests ? Number(values.requests) : base.requests,
    rpm: values.rpm ? Number(values.rpm) : base.rpm,
    dataPlane: (values['data-plane'] as DataPlaneMode | undefined) ?? base.dataPlane,
    faults: !values['no-faults'],
    seed: values.seed ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31),
    resultsPath:
      values.results ?? join(__dirname, 'results', `cluster-chaos-${values.full ? 'full' : 'ci'}-${machines}m.json`),
    log: (line) => console.error(line),
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  const report = await runClusterChaos(options);
  console.log(formatReport(report));
  if (!report.ok) console.log(`work folder kept: ${report.workDir}`);
  process.exitCode = report.ok ? 0 : 1;
}

if (require.main === module) void main();
