/**
 * The data plane a worker writes through, chosen once from its environment: where response logs, batch leases and
 * run metadata live. The embedded default is the cache directory exactly as today (an append-only file per batch, a
 * lease file, metadata.db); `CURATOR_STORAGE=s3://…` puts response logs (as immutable segments) and leases (as
 * conditional PUTs) in the bucket; `CURATOR_DATABASE_URL` puts run metadata and leases (rows, preferred over the
 * store's) in PostgreSQL. See docs/storage-backends.md.
 */
import { ShardLease } from './shard-lease';
import { CacheLayout, pad } from './cache-dir';
import type { MetadataStore } from './metadata/metadata-store';
import { openMetadataStore } from './metadata/open-metadata-store';
import type { PgLeases } from './metadata/pg-leases';
import type { ObjectStore } from './object-store/object-store';
import { openObjectStore } from './object-store/storage-location';
import { loadSegmentedLog, newWriterId, SegmentLogWriter } from './object-store/segmented-response-log';
import { StoreLease } from './object-store/store-lease';
import { ShardLog, ResponseLogWriter, type AttemptRecord } from './response-log';

/** Appends one activity attempt's records; `append` resolves once the record is durable (and only then counts). */
export interface ResponseLogAppender {
  append(record: AttemptRecord): Promise<void>;
  close(): Promise<void>;
}

/** The response logs of every batch of every run. */
export interface ResponseLogStore {
  /** Everything recorded for the batch, folded for job `jobId` ({@link ShardLog.apply}). */
  load(runHash: string, batch: number, jobId: string): Promise<ShardLog>;
  /** A writer for one activity attempt of job `jobId` on the batch. */
  open(runHash: string, batch: number, jobId: string, attempt: number): Promise<ResponseLogAppender>;
}

/** One activity at a time per batch. */
export interface BatchLeaseStore {
  /** Waits for the batch to be free (calling `waiting` meanwhile), then holds it until `release`. */
  acquire(
    runHash: string,
    batch: number,
    signal: AbortSignal,
    waiting: () => void
  ): Promise<{ release(): Promise<void> }>;
}

/** Today's files in the cache directory. */
export class LocalResponseLogs implements ResponseLogStore {
  constructor(private readonly cache: CacheLayout) {}
  load(runHash: string, batch: number, jobId: string): Promise<ShardLog> {
    return ShardLog.load(this.cache.run(runHash).responses(batch), jobId);
  }
  open(runHash: string, batch: number): Promise<ResponseLogAppender> {
    return ResponseLogWriter.open(this.cache.run(runHash).responses(batch));
  }
}

/** Object keys of a run under the store's root. */
export const runKeys = {
  /** The prefix of a batch's response-log segments. */
  responses: (runHash: string, batch: number): string => `${runHash}/responses/${pad(batch)}`,
  lease: (runHash: string, batch: number): string => `${runHash}/leases/${pad(batch)}`,
};

/** Segments in an object store (segmented-response-log.ts). */
export class SegmentedResponseLogs implements ResponseLogStore {
  constructor(private readonly store: ObjectStore) {}
  load(runHash: string, batch: number, jobId: string): Promise<ShardLog> {
    return loadSegmentedLog(this.store, runKeys.responses(runHash, batch), jobId);
  }
  async open(runHash: string, batch: number, jobId: string, attempt: number): Promise<ResponseLogAppender> {
    return new SegmentLogWriter(this.store, runKeys.responses(runHash, batch), newWriterId(jobId, attempt));
  }
}

/** The data plane of one worker (or CLI) process. */
export interface DataPlane {
  /** Run artifacts: the cache directory, or the bucket of `CURATOR_STORAGE`. */
  objects: ObjectStore;
  /** True when `objects` is not the cache directory itself (`CURATOR_STORAGE` is set): the directory is a cache. */
  remote: boolean;
  responses: ResponseLogStore;
  leases: BatchLeaseStore;
  metadata: MetadataStore;
  close(): Promise<void>;
}

/** Chooses and opens the data plane from `env` (see the module comment). */
export async function openDataPlane(cacheDir: string, env: NodeJS.ProcessEnv = process.env): Promise<DataPlane> {
  const cache = new CacheLayout(cacheDir);
  const objects = await openObjectStore(cacheDir, env);
  const remote = Boolean(env.CURATOR_STORAGE);
  const metadata = await openMetadataStore(cache.metadataDb, env);
  let pgLeases: PgLeases | undefined;
  if (env.CURATOR_DATABASE_URL) {
    // require, not import(): see metadata-store.ts.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { PgLeases } = require('./metadata/pg-leases') as typeof import('./metadata/pg-leases');
    pgLeases = await PgLeases.open(env.CURATOR_DATABASE_URL);
  }
  const leases: BatchLeaseStore = pgLeases
    ? { acquire: (run, batch, signal, waiting) => pgLeases.acquire(runKeys.lease(run, batch), signal, waiting) }
    : remote
      ? {
          acquire: (run, batch, signal, waiting) =>
            StoreLease.acquire(objects, runKeys.lease(run, batch), signal, waiting),
        }
      : { acquire: (run, batch, signal, waiting) => ShardLease.acquire(cache.run(run).lease(batch), signal, waiting) };
  return {
    objects,
    remote,
    responses: remote ? new SegmentedResponseLogs(objects) : new LocalResponseLogs(cache),
    leases,
    metadata,
    async close() {
      await Promise.allSettled([objects.close(), metadata.close(), pgLeases?.close()]);
    },
  };
}
