/**
 * A worker that runs curation jobs: the job and partition workflows plus the activities, with the user's curators
 * registered by name.
 *
 * @example
 * const worker = await createWorker({ connection, curators: [poems] });
 * await worker.run();
 */
import { bundleWorkflowCode, NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createActivities } from './activities';
import { ActivityDeps } from './activities/deps';
import type { Curator } from './curator';
import { defaultCacheDir } from './storage/cache-dir';
import { DEFAULT_NAMESPACE, DEFAULT_TASK_QUEUE } from './defaults';
import { bundleInChildProcess } from './temporal/bundle-in-child';
import { connectWorker } from './temporal/connection';
import { keepHeapWithin, workerMemoryBudgetMB } from './heap-budget';

/** What {@link createWorker} needs: the curators, and where Temporal, the cache and the provider keys are. */
export interface CuratorWorkerOptions {
  /** The curators this worker can run, by name. */
  curators: Iterable<Curator<any, any, any>>;
  /**
   * The connection to Temporal.
   * @defaultValue a connection to `TEMPORAL_ADDRESS`, else `127.0.0.1:7233` (`DEFAULT_ADDRESS`)
   */
  connection?: NativeConnection;
  /**
   * The Temporal namespace.
   * @defaultValue `TEMPORAL_NAMESPACE`, else `'default'` (`DEFAULT_NAMESPACE`)
   */
  namespace?: string;
  /**
   * The task queue; clients must start jobs on the same queue.
   * @defaultValue `'temporal-curator'` (`DEFAULT_TASK_QUEUE`)
   */
  taskQueue?: string;
  /**
   * The cache root: responses, datasets and the job index.
   * @defaultValue `CURATOR_CACHE_DIR`, else `$XDG_CACHE_HOME/temporal-curator`, else `~/.cache/temporal-curator`
   */
  cacheDir?: string;
  /**
   * Where API keys and base URLs are read from.
   * @defaultValue `process.env`
   */
  env?: NodeJS.ProcessEnv;
  /**
   * Abort it to stop the worker gently: batch activities take no new request, let those in flight finish and log
   * their answers (nothing paid is lost), then fail retryably so the job goes on where it stopped. Call
   * `worker.shutdown()` after aborting it. (`shutdown()` alone also stops new requests at once, but its cancel gives
   * up those in flight after the worker's `shutdownGraceTime`.)
   */
  drain?: AbortSignal;
  /**
   * The worker process's memory budget in MiB: the garbage collector keeps V8's own settings while the process is far
   * below it, and collects sooner (at more CPU) only as the process nears it. Process-wide; 0 for none.
   * @defaultValue `CURATOR_WORKER_MEMORY_MB`, else 512 (`DEFAULT_WORKER_MEMORY_MB`)
   */
  memoryBudgetMB?: number;
  /** Anything else for `Worker.create`, e.g. `maxConcurrentActivityTaskExecutions`. */
  workerOptions?: Partial<WorkerOptions>;
}

/** The path of this package's workflows module, for `Worker.create({ workflowsPath })` or a bundler. */
export const workflowsPath = require.resolve('./workflows');

let bundle: Promise<{ code: string }> | undefined;

/**
 * Bundles the workflows once per process (a worker restart in the same process, or many test workers, reuse it), and
 * keeps the bundle on disk keyed by a hash of the sources: webpack costs ~5 CPU-s at every worker start otherwise. A
 * bundle not on disk yet is built in a child process (`temporal/bundle-in-child.ts`): the heap webpack grows is never
 * given back, and the worker would carry it under load for its whole life. `CURATOR_BUNDLE_DIR` moves the folder
 * (default `<cache dir>/workflow-bundles`); where it cannot be written, the workers simply bundle at every start.
 */
export function curatorWorkflowBundle(): Promise<{ code: string }> {
  bundle ??= loadOrBuildBundle();
  return bundle;
}

async function loadOrBuildBundle(): Promise<{ code: string }> {
  const dir = process.env.CURATOR_BUNDLE_DIR || join(defaultCacheDir(), 'workflow-bundles');
  const path = join(dir, `workflows-${await sourceHash()}.js`);
  try {
    return { code: await readFile(path, 'utf8') };
  } catch {
    // Not built yet for these sources.
  }
  // In a child process, so this one never grows to webpack's heap; in-process only where no child could do it.
  const built = await bundleInChildProcess(workflowsPath).catch(() =>
    bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger })
  );
  try {
    await mkdir(dir, { recursive: true });
    // Another worker may build the same bundle at the same moment: each writes its own file and renames it.
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, built.code);
    await rename(tmp, path);
    await pruneBundles(dir, path);
  } catch {
    // A read-only cache costs start-up time only.
  }
  return built;
}

/** Bundles of sources older than a day go (each is ~2 MB, and every edit of the sources makes a new one). */
async function pruneBundles(dir: string, keep: string): Promise<void> {
  const dayAgo = Date.now() - 24 * 3600_000;
  for (const name of await readdir(dir)) {
    const file = join(dir, name);
    if (file === keep || !/^workflows-[0-9a-f]+\.js$/.test(name)) continue;
    if ((await stat(file)).mtimeMs < dayAgo) await rm(file, { force: true });
  }
}

/**
 * What the bundle is made of: every source file of this package (workflows may import any of them), its
 * dependencies' versions, the SDK's workflow and bundler versions, and where the sources are (the bundle names them
 * in stack traces).
 */
async function sourceHash(): Promise<string> {
  const hash = createHash('sha256').update(__dirname);
  // Our package.json names the versions of everything else the workflows may import.
  try {
    hash.update(await readFile(join(__dirname, '..', 'package.json')));
  } catch {
    hash.update('no package.json');
  }
  for (const pkg of ['@temporalio/workflow/package.json', '@temporalio/worker/package.json']) {
    try {
      hash.update(
        `${pkg} ${(JSON.parse(await readFile(require.resolve(pkg), 'utf8')) as { version: string }).version}`
      );
    } catch {
      hash.update(`${pkg} ?`);
    }
  }
  const files = (await readdir(__dirname, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile() && /\.(ts|js|mjs|cjs|json)$/.test(e.name))
    .map((e) => join(e.parentPath ?? e.path, e.name))
    .sort();
  for (const file of files)
    hash
      .update(file)
      .update('\0')
      .update(await readFile(file))
      .update('\0');
  return hash.digest('hex').slice(0, 16);
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string, meta?: unknown) => console.warn(message, meta ?? ''),
  error: (message: string, meta?: unknown) => console.error(message, meta ?? ''),
};

/**
 * Creates a Temporal worker that runs curation jobs: the curation workflows (from a bundle cached on disk) and the
 * activities, with the given curators registered by name. Run it with `worker.run()`.
 */
export async function createWorker(options: CuratorWorkerOptions): Promise<Worker> {
  keepHeapWithin(workerMemoryBudgetMB(options.memoryBudgetMB, options.env));
  const stopping = new AbortController();
  const deps = new ActivityDeps({
    curators: options.curators,
    cacheDir: options.cacheDir,
    env: options.env,
    drain: options.drain ? AbortSignal.any([options.drain, stopping.signal]) : stopping.signal,
  });
  const connection = options.connection ?? (await connectWorker());
  const worker = await Worker.create({
    connection,
    namespace: options.namespace ?? process.env.TEMPORAL_NAMESPACE ?? DEFAULT_NAMESPACE,
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    workflowBundle: await curatorWorkflowBundle(),
    activities: createActivities(deps),
    // Heartbeats carry cancellation to a batch: sent at most this far apart, a cancel or termination stops new
    // requests within about a second instead of up to a minute.
    maxHeartbeatThrottleInterval: '1 second',
    // A workflow task waits this long on a worker's sticky queue before any worker may take it (default 10 s): after
    // a worker dies, its jobs go on after this. A live worker takes its tasks in milliseconds, so 3 s is ample.
    stickyQueueScheduleToStartTimeout: '3 seconds',
    ...options.workerOptions,
  });
  // A stopping worker's batches take no new request from the moment `shutdown()` is called (by the caller, or by the
  // SDK on SIGINT/SIGTERM): the SDK's cancel reaches them only when its core delivers it, and a request sent meanwhile
  // would be given up with the others in flight, to be paid again by the job's next worker.
  const shutdown = worker.shutdown.bind(worker);
  worker.shutdown = () => {
    stopping.abort();
    shutdown();
  };
  return worker;
}
