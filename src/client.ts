/**
 * Running curation jobs from code: start or attach to a job, wait for its result, load the dataset.
 *
 * @example
 * const result = await curate(client, 'poems', { dataset: [{ topic: 'the sea' }] });
 * console.log(result.datasetPath, result.stats, result.table.numRows);
 */
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { tableFromIPC, type Table } from 'apache-arrow';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Curator } from './curator';
import { CuratorError, readJobFailure, type CurationErrorType } from './errors';
import { apiKeyIdFor } from './providers/key-id';
import type { CurateJobInput, CurationManifest, CurationStats, DatasetRef, JobOptions } from './types';
import { CuratorName } from './search-attributes';
import { sha256File } from './storage/arrow';
import { CacheLayout, defaultCacheDir } from './storage/cache-dir';
import { storeRows } from './storage/dataset';
import { curatorFingerprint } from './requests/fingerprint';
import { detectInputKind, hashInput } from './storage/input-sources';
import { sha256, stableStringify } from './storage/fingerprint';
import { DEFAULT_TASK_QUEUE } from './defaults';
import {
  curateWorkflow,
  jobProgressQuery,
  partitionProgressQuery,
  PARTIAL_RESULT_MEMO,
  type JobProgress,
} from './workflows';

export type { CurationErrorType } from './errors';

/** What a job can read: rows in memory, a `.jsonl` or `.arrow` path, a reference, or an earlier result (chaining). */
export type DatasetInput = readonly unknown[] | string | DatasetRef | CurationManifest;

/** What {@link curate} and {@link startCuration} take: the dataset, and where and how to run the job. */
export interface CurateOptions extends JobOptions {
  /** The rows to curate: in memory, a file, or an earlier result. */
  dataset: DatasetInput;
  /**
   * The workers' task queue.
   * @defaultValue `'temporal-curator'` (`DEFAULT_TASK_QUEUE`)
   */
  taskQueue?: string;
  /**
   * Where in-memory rows are stored for the worker to read: the worker's cache root.
   * @defaultValue as the worker's: `CURATOR_CACHE_DIR`, else `~/.cache/temporal-curator`
   */
  cacheDir?: string;
  /**
   * Overrides the job's workflow id, which otherwise derives from the curator (its whole definition, when given as a
   * curator rather than a name), the dataset's content and the options.
   */
  workflowId?: string;
  /**
   * The environment the workers read provider base URLs and keys from, for the job's identity when `curator` is a
   * curator object (the embedded stack's `env`). When it holds the curator's provider key, the job carries the key's
   * short salted name (never the key) and a worker holding another key refuses it before paying anything.
   * @defaultValue `process.env`
   */
  workerEnv?: NodeJS.ProcessEnv;
  /**
   * Index the job with the `Curator*` search attributes (see `search-attributes.ts`). They must be registered on the
   * server: the embedded dev server does it; off by default, so an unprepared cluster never refuses a job.
   * @defaultValue false
   */
  searchAttributes?: boolean;
}

/** A finished job: its manifest, plus the dataset loaded on first access of `table`. */
export interface CurationResult extends CurationManifest {
  /** The output dataset as an Arrow table, read from `datasetPath` on first access. */
  readonly table: Table;
}

/**
 * A job that failed after saving what it could; `manifest` says where the partial dataset and failures are.
 *
 * @example
 * try {
 *   await curate(client, 'poems', { dataset });
 * } catch (err) {
 *   if (!(err instanceof CurationError)) throw err;
 *   switch (err.type) {
 *     case 'IncompleteResponses': // some rows failed for good: err.manifest.failedRequestsPath lists them
 *     case 'Cancelled': // err.manifest is the partial result
 *       break;
 *     case 'MissingApiKey':
 *     case 'AuthenticationFailed': // fix the worker's key, then run the same job again
 *     default:
 *       throw err;
 *   }
 * }
 */
export class CurationError extends CuratorError {
  override name = 'CurationError';
  constructor(
    message: string,
    /** What the job failed with: see {@link CurationErrorType}. */
    readonly type: CurationErrorType,
    /** The manifest of what was saved (the partial dataset, the failed requests), when the job got that far. */
    readonly manifest?: CurationManifest,
    options?: ErrorOptions
  ) {
    super(message, options);
  }
}

function isManifest(value: unknown): value is CurationManifest {
  return !!value && typeof value === 'object' && 'runHash' in value && 'parseHash' in value && 'datasetPath' in value;
}

/** Turns what the user gave into a reference a workflow can carry, plus a content hash that keys the job. */
export async function resolveDataset(
  input: DatasetInput,
  cacheDir?: string
): Promise<{ ref: DatasetRef; hash: string }> {
  if (typeof input === 'string') {
    const path = resolve(input);
    const kind = await detectInputKind(path);
    return { ref: { kind, path }, hash: await hashInput(kind, path) };
  }
  if (Array.isArray(input)) {
    const path = await storeRows(input, new CacheLayout(cacheDir ?? defaultCacheDir()));
    return { ref: { kind: 'jsonl', path }, hash: await sha256File(path) };
  }
  if (isManifest(input)) {
    return { ref: { kind: 'run', runHash: input.runHash, parseHash: input.parseHash }, hash: input.datasetSha256 };
  }
  const ref = input as DatasetRef;
  if (ref.kind === 'run') return { ref, hash: sha256(`${ref.runHash}/${ref.parseHash}`) };
  return { ref, hash: await hashInput(ref.kind, ref.path) };
}

/** The memo key naming a job's dataset file, by which a newer job of the same curator and file finds it. */
export const DATASET_PATH_MEMO = 'datasetPath';
/** The memo key naming a job's cache root: a job of another project over the same file is not superseded. */
export const CACHE_DIR_MEMO = 'cacheDir';

/**
 * The job's workflow id: the same curator, dataset and options attach to the same job instead of starting another.
 * `definition` (the `curatorFingerprint` of the curator) makes an edited curator a new job; `cacheDir` (the job's
 * cache root, resolved) keeps two projects that run the same curator over the same data on one Temporal server from
 * attaching to each other's job, which runs on the other project's worker, key and cache.
 */
export function jobWorkflowId(
  curator: string,
  datasetHash: string,
  options: JobOptions = {},
  definition?: string,
  cacheDir?: string
): string {
  const key: Record<string, unknown> = { datasetHash, options };
  if (definition !== undefined) key.definition = definition;
  if (cacheDir !== undefined) key.cacheDir = cacheDir;
  return `curate/${curator}/${sha256(stableStringify(key)).slice(0, 24)}`;
}

/**
 * Running jobs of the same curator over the same dataset file and cache root other than `workflowId`: jobs planned
 * with the file's earlier content or the curator's earlier definition, which would otherwise go on paying in the
 * background.
 */
export async function supersededJobs(
  client: Client,
  curator: string,
  datasetPath: string,
  workflowId: string,
  cacheDir?: string
) {
  const found: string[] = [];
  const query = `WorkflowType = 'curateWorkflow' AND ExecutionStatus = 'Running'`;
  for await (const job of client.workflow.list({ query })) {
    if (job.workflowId === workflowId || !job.workflowId.startsWith(`curate/${curator}/`)) continue;
    const sameCache = job.memo?.[CACHE_DIR_MEMO] === (cacheDir === undefined ? undefined : resolve(cacheDir));
    if (job.memo?.[DATASET_PATH_MEMO] === datasetPath && sameCache) found.push(job.workflowId);
  }
  return found;
}

/** Starts the job, or attaches to it when the same job is already running. */
export async function startCuration(
  client: Client,
  curator: string | Curator<any, any, any>,
  options: CurateOptions
): Promise<WorkflowHandle<typeof curateWorkflow>> {
  const name = typeof curator === 'string' ? curator : curator.name;
  const { dataset, taskQueue, cacheDir, workflowId, searchAttributes, workerEnv, ...jobOptions } = options;
  const { ref, hash } = await resolveDataset(dataset, cacheDir);
  const input: CurateJobInput = {
    curator: name,
    dataset: ref,
    options: jobOptions,
    ...(cacheDir !== undefined ? { cacheDir: resolve(cacheDir) } : {}),
  };
  // Only a starter that knows the curator's provider and holds its key can say which key the job is for.
  const keyId = typeof curator === 'string' ? undefined : apiKeyIdFor(curator, workerEnv);
  if (keyId) input.apiKeyId = keyId;
  const definition = typeof curator === 'string' ? undefined : curatorFingerprint(curator, workerEnv);
  return client.workflow.start(curateWorkflow, {
    taskQueue: taskQueue ?? DEFAULT_TASK_QUEUE,
    workflowId: workflowId ?? jobWorkflowId(name, hash, jobOptions, definition, input.cacheDir),
    memo:
      ref.kind === 'run'
        ? undefined
        : { [DATASET_PATH_MEMO]: ref.path, ...(input.cacheDir ? { [CACHE_DIR_MEMO]: input.cacheDir } : {}) },
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    staticSummary: `curate ${name}`,
    staticDetails: [
      `**Curator** ${name}`,
      `**Dataset** ${ref.kind === 'run' ? `run ${ref.runHash} (parse ${ref.parseHash})` : ref.path}`,
      `**Dataset SHA-256** ${hash}`,
      `**Options** ${JSON.stringify(jobOptions)}`,
    ].join('\n\n'),
    typedSearchAttributes: searchAttributes ? [{ key: CuratorName, value: name }] : undefined,
    args: [input],
  });
}

function withTable(manifest: CurationManifest): CurationResult {
  let table: Table | undefined;
  return Object.defineProperty({ ...manifest }, 'table', {
    enumerable: false,
    get: () => (table ??= tableFromIPC(readFileSync(manifest.datasetPath))),
  }) as CurationResult;
}

/** Waits for a job and returns its result; a failed job throws a `CurationError` naming what was saved. */
export async function curationResult(handle: WorkflowHandle<typeof curateWorkflow>): Promise<CurationResult> {
  try {
    return withTable(await handle.result());
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      if (err.cause instanceof CancelledFailure) {
        const memo = (await handle.describe().catch(() => undefined))?.memo;
        const manifest = memo?.[PARTIAL_RESULT_MEMO] as CurationManifest | undefined;
        throw new CurationError(
          manifest
            ? `the job was cancelled; partial dataset ${manifest.datasetPath} (${manifest.stats.succeeded} of ${manifest.stats.total} requests done)`
            : 'the job was cancelled before anything was saved',
          'Cancelled',
          manifest
        );
      }
      const failure = readJobFailure(err.cause, err.message);
      throw new CurationError(failure.message, failure.type, failure.details[0] as CurationManifest | undefined, {
        cause: failure.failure ?? err,
      });
    }
    throw err;
  }
}

/**
 * Asks a running job to stop. Requests in flight finish or are abandoned, everything done is assembled into a partial
 * dataset, and the job ends as cancelled; `curationResult` then throws a `CurationError` of type `Cancelled` carrying
 * that dataset's manifest. Starting the same job again continues from there.
 */
export async function cancelCuration(client: Client, workflowId: string): Promise<void> {
  await client.workflow.getHandle(workflowId).cancel();
}

/** A job's progress: the finished partitions' totals plus those of the running partitions' finished batches. */
export interface CurationProgress extends JobProgress {
  /** Requests settled so far (succeeded or failed for good), including those of batches still running. */
  settled: number;
  /** Requests of running batch activities that are not settled yet (sent, waiting for a rate limit, or queued). */
  inProgress: number;
  /** Batch activities running now. */
  activeBatches: number;
  /** Totals of finished batches: tokens and rows are counted when a batch finishes. */
  stats: CurationStats;
}

/** What a shard activity reports with each heartbeat (see `curatorProcessShard`). */
interface BatchHeartbeat {
  done?: number;
  of?: number;
}

/**
 * Reads a running job's progress through queries and describes, which add nothing to its history: the job and its
 * running partitions answer queries with their finished batches, and the heartbeats of the batch activities in
 * flight tell how far each one is.
 */
export async function curationProgress(client: Client, workflowId: string): Promise<CurationProgress> {
  const job = await client.workflow.getHandle(workflowId).query(jobProgressQuery);
  const partials = await Promise.all(
    job.runningPartitions.map(async (id) => {
      const handle = client.workflow.getHandle(id);
      // A partition may finish between the two calls: it then counts in the job's totals at the next look.
      const [progress, description] = await Promise.all([
        handle.query(partitionProgressQuery).catch(() => undefined),
        handle.describe().catch(() => undefined),
      ]);
      return { progress, pending: description?.raw.pendingActivities ?? [] };
    })
  );
  const stats: CurationStats = JSON.parse(JSON.stringify(job.finished)) as CurationStats;
  let doneInRunning = 0;
  let inProgress = 0;
  let activeBatches = 0;
  const converter = client.options.loadedDataConverter.payloadConverter;
  for (const { progress: p, pending } of partials) {
    if (p) {
      stats.total += p.finished.total;
      stats.succeeded += p.finished.succeeded;
      stats.failed += p.finished.failed;
      stats.cached += p.finished.cached;
      stats.outputRows += p.finished.outputRows;
      stats.tokens.input += p.finished.tokens.input;
      stats.tokens.output += p.finished.tokens.output;
      stats.retries += p.finished.retries;
    }
    for (const activity of pending) {
      activeBatches++;
      const payload = activity.heartbeatDetails?.payloads?.[0];
      const beat = payload ? (converter.fromPayload(payload) as BatchHeartbeat) : undefined;
      if (beat && typeof beat.of === 'number') {
        const done = Math.min(beat.of, beat.done ?? 0);
        doneInRunning += done;
        inProgress += beat.of - done;
      } else {
        inProgress += job.batchSize ?? 0;
      }
    }
  }
  const settled = Math.min(job.totalRequests, stats.succeeded + stats.failed + doneInRunning);
  return { ...job, settled, inProgress, activeBatches, stats };
}

/** Runs a curation to the end: start (or attach), wait, return the dataset and its manifest. */
export async function curate(
  client: Client,
  curator: string | Curator<any, any, any>,
  options: CurateOptions
): Promise<CurationResult> {
  return curationResult(await startCuration(client, curator, options));
}
