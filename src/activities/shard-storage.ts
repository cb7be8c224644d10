/**
 * What both transports' shard activities (process-shard.ts, provider-batch.ts) do with the data plane: hold the
 * batch's lease, read its rows and its response log, record attempts, and keep the request and parsed shards where
 * the run's artifacts are kept for good (the object store when one is configured, else the cache directory).
 */
import { Context, cancellationSignal } from '@temporalio/activity';
import type { Row } from '../curator';
import { writeParsedShard, type ParsedLine } from '../requests/parse';
import { AttemptRecorder, writeRequestShard } from '../requests/record';
import type { RunLayout } from '../storage/cache-dir';
import { readInputIndex, readShardRows, type InputIndex } from '../storage/dataset';
import type { ShardLog } from '../storage/response-log';
import type { DataPlane } from '../storage/data-plane';
import type { RunArtifacts } from '../storage/run-artifacts';
import type { ActivityDeps } from './deps';

/** One batch of one run as an activity works on it. */
export interface ShardStorage {
  plane: DataPlane;
  artifacts: RunArtifacts;
  run: RunLayout;
}

/** The data plane and the run's paths, for a batch of run `runHash`. */
export async function shardStorage(deps: ActivityDeps, runHash: string): Promise<ShardStorage> {
  const { plane, artifacts } = await deps.storage();
  return { plane, artifacts, run: deps.cache.run(runHash) };
}

/**
 * Runs `work` holding the batch's lease (a file, a PostgreSQL row or a conditional object, by the data plane): the
 * log must be read only once no other activity (of a terminated job) is still appending to it.
 */
export async function withBatchLease<T>(
  s: ShardStorage,
  runHash: string,
  batch: number,
  waiting: () => void,
  work: () => Promise<T>
): Promise<T> {
  const lease = await s.plane.leases.acquire(runHash, batch, cancellationSignal(), waiting);
  try {
    return await work();
  } finally {
    await lease.release();
  }
}

/** The batch's rows (with the index of the run's copy) and everything its response log holds for job `jobId`. */
export async function readShard(
  s: ShardStorage,
  task: { runHash: string; batch: number; jobId: string }
): Promise<{ index: InputIndex; rows: Row[]; first: number; log: ShardLog }> {
  const index = await readInputIndex(s.run);
  const rows = await readShardRows(s.run, index, task.batch);
  const log = await s.plane.responses.load(task.runHash, task.batch, task.jobId);
  return { index, rows, first: task.batch * index.batchSize, log };
}

/** A recorder on a writer of this activity attempt (its own segments on an object store). */
export async function openRecorder(
  s: ShardStorage,
  task: { runHash: string; batch: number; jobId: string },
  log: ShardLog
): Promise<AttemptRecorder> {
  const attempt = Context.current().info.attempt;
  const writer = await s.plane.responses.open(task.runHash, task.batch, task.jobId, attempt);
  return AttemptRecorder.open(writer, log, task.jobId);
}

/** {@link writeRequestShard}, then published once (the first copy stays). */
export async function keepRequestShard(
  s: ShardStorage,
  batch: number,
  firstRound: boolean,
  requests: Iterable<[number, unknown]>
): Promise<void> {
  const path = s.run.requests(batch);
  await writeRequestShard(path, firstRound, requests);
  if (firstRound) await s.artifacts.publish(path, { ifAbsent: true });
}

/** {@link writeParsedShard}'s arguments after the run's layout. */
type ParseArgs = Parameters<typeof writeParsedShard> extends [RunLayout, ...infer Rest] ? Rest : never;

/**
 * {@link writeParsedShard}, then published: the lease holder's parse replaces the object, which finalize reads on
 * whichever machine it runs.
 */
export async function keepParsedShard(s: ShardStorage, ...args: ParseArgs): Promise<ParsedLine[]> {
  const lines = await writeParsedShard(s.run, ...args);
  const task = args[1];
  await s.artifacts.publish(s.run.parsed(task.parseHash, task.batch));
  return lines;
}
