/**
 * A worker that runs curation jobs: the job and partition workflows plus the activities, with the user's curators
 * registered by name.
 *
 * @example
 * const worker = await createWorker({ connection, curators: [poems] });
 * await worker.run();
 */
import { bundleWorkflowCode, NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from './activities';
import { ActivityDeps } from './activities/deps';
import type { Curator } from './curator';
import { DEFAULT_TASK_QUEUE, connectWorker } from './temporal/connection';

export interface CuratorWorkerOptions {
  /** The curators this worker can run, by name. */
  curators: Iterable<Curator<any, any, any>>;
  /** Default: connects to `TEMPORAL_ADDRESS`, else 127.0.0.1:7233. */
  connection?: NativeConnection;
  namespace?: string;
  /** Default `temporal-curator`; clients must start jobs on the same queue. */
  taskQueue?: string;
  /** Cache root (default `CURATOR_CACHE_DIR`, else `~/.cache/temporal-curator`). */
  cacheDir?: string;
  /** Where API keys and base URLs are read from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Anything else for `Worker.create`, e.g. `maxConcurrentActivityTaskExecutions`. */
  workerOptions?: Partial<WorkerOptions>;
}

export const workflowsPath = require.resolve('./workflows');

let bundle: Promise<{ code: string }> | undefined;

/** Bundles the workflows once per process: a worker restart in the same process, or many test workers, reuse it. */
export function curatorWorkflowBundle(): Promise<{ code: string }> {
  bundle ??= bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger });
  return bundle;
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string, meta?: unknown) => console.warn(message, meta ?? ''),
  error: (message: string, meta?: unknown) => console.error(message, meta ?? ''),
};

export async function createWorker(options: CuratorWorkerOptions): Promise<Worker> {
  const deps = new ActivityDeps({ curators: options.curators, cacheDir: options.cacheDir, env: options.env });
  const connection = options.connection ?? (await connectWorker());
  return Worker.create({
    connection,
    namespace: options.namespace ?? process.env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    workflowBundle: await curatorWorkflowBundle(),
    activities: createActivities(deps),
    // Heartbeats carry cancellation to a batch: sent at most this far apart, a cancel or termination stops new
    // requests within about a second instead of up to a minute.
    maxHeartbeatThrottleInterval: '1 second',
    ...options.workerOptions,
  });
}
