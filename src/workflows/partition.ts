/**
 * One partition of a job: a contiguous range of shards (slices of `batchSize` rows; the inputs keep the field names
 * `fromBatch`, `batchesInFlight` of version 0.1). At most `batchesInFlight` shard activities run at once; a shard
 * waiting on a retry timer holds no slot, so one rate-limited request never stalls the others. Each shard goes
 * through the one retry loop (`shard-rounds.ts`) with its transport: calls of their own, or provider batches. The
 * partition continues as new when Temporal suggests it, after draining what is in flight, carrying only counters
 * and the next shard.
 */
import {
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { PartitionInput, PartitionResult, RetryableFailure, RetryGroup } from '../types';
import { curatorActivities } from './curator-activities';
import { shardActivityOptions } from './activity-options';
import { addStats, emptyStats } from './request-state';
import { BatchPoller, providerBatchRound } from './provider-batch';
import { partitionProgressQuery } from './queries';
import { settleShard } from './shard-rounds';

export async function partitionWorkflow(input: PartitionInput): Promise<PartitionResult> {
  const { processShard } = curatorActivities(shardActivityOptions(input.activityTaskQueue));
  const stats = input.stats ?? emptyStats();
  let next = input.nextBatch ?? input.fromBatch;
  let active = 0;
  let running = 0;
  let failure: unknown;
  // Batch mode: the batches go through the provider's batch API, polled together.
  const poller = input.batchMode ? new BatchPoller(input, input.batchMode.pollIntervalMs) : undefined;
  const providerBatchRounds = poller && providerBatchRound(input, poller);
  setHandler(partitionProgressQuery, () => ({
    fromBatch: input.fromBatch,
    toBatch: input.toBatch,
    nextBatch: next,
    activeBatches: active,
    finished: stats,
  }));

  /** `batch 17: rows 1700-1799`, as the Temporal UI shows each shard activity (the words of version 0.1). */
  function shardName(batch: number): string {
    if (!input.rows) return `batch ${batch}`;
    const first = batch * input.rows.batchSize;
    return `batch ${batch}: rows ${first}-${Math.min(input.rows.total, first + input.rows.batchSize) - 1}`;
  }

  /**
   * The synchronous transport: one round of a shard in a slot, each request a call of its own. The first round's slot
   * is taken by the launcher, synchronously; a retry round waits for one, so a shard on a retry timer holds none.
   */
  async function callRound(batch: number, round: number, failures?: RetryableFailure[]) {
    const retry = failures?.map((f) => ({ index: f.index, attempts: f.attempts }));
    if (retry) {
      await condition(() => active < input.batchesInFlight);
      active++;
    }
    try {
      return await processShard.executeWithOptions(
        { summary: retry ? `${shardName(batch)}, retry ${retry.length} requests (round ${round})` : shardName(batch) },
        [
          {
            curator: input.curator,
            runHash: input.runHash,
            parseHash: input.parseHash,
            jobId: input.jobId,
            batch,
            concurrency: input.requestConcurrency,
            maxConcurrentRequests: input.maxConcurrentRequests,
            maxRetries: input.maxRetries,
            retry,
            ...(input.apiKeyId ? { apiKeyId: input.apiKeyId } : {}),
          },
        ]
      );
    } finally {
      active--;
    }
  }

  async function runShard(batch: number): Promise<void> {
    if (providerBatchRounds) {
      // The provider Batch-API transport: the shard holds its slot through all its rounds.
      try {
        addStats(
          stats,
          await settleShard<RetryGroup>(batch, input.maxRetries, (round, retry) =>
            providerBatchRounds(batch, shardName(batch), round, retry)
          )
        );
      } finally {
        active--;
      }
      return;
    }
    addStats(
      stats,
      await settleShard<RetryableFailure>(batch, input.maxRetries, (round, retry) => callRound(batch, round, retry))
    );
  }

  try {
    while (next < input.toBatch && failure === undefined && !workflowInfo().continueAsNewSuggested) {
      await condition(() => active < input.batchesInFlight || failure !== undefined);
      if (failure !== undefined) break;
      active++;
      running++;
      runShard(next++).then(
        () => running--,
        (err: unknown) => {
          failure ??= err;
          running--;
        }
      );
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    failure ??= err;
  }
  // Even when cancelled: the batches in flight save what they have before the job assembles its partial dataset.
  await CancellationScope.nonCancellable(() => condition(() => running === 0));
  if (failure !== undefined) throw failure;
  if (next < input.toBatch) {
    return await continueAsNew<typeof partitionWorkflow>({ ...input, nextBatch: next, stats });
  }
  return { stats };
}
