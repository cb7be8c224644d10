/**
 * One partition of a job: a contiguous range of batches. At most `batchesInFlight` batch activities run at once; a
 * batch waiting on a retry timer holds no slot, so one rate-limited request never stalls the others. Each batch
 * loops through retry rounds until every request has an answer or has failed for good. The partition continues as
 * new when Temporal suggests it, after draining what is in flight, carrying only counters and the next batch.
 */
import {
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { CuratorActivities } from '../activities';
import type { BatchOutcome, PartitionInput, PartitionResult } from '../manifests';
import { batchActivityOptions } from './activity-options';
import { addStats, decideRetries, emptyStats } from './request-state';
import { BatchPoller, runProviderBatch } from './provider-batch';
import { partitionProgressQuery } from './queries';

export async function partitionWorkflow(input: PartitionInput): Promise<PartitionResult> {
  const { processBatch } = proxyActivities<CuratorActivities>(batchActivityOptions(input.activityTaskQueue));
  const stats = input.stats ?? emptyStats();
  let next = input.nextBatch ?? input.fromBatch;
  let active = 0;
  let running = 0;
  let failure: unknown;
  // Batch mode: the batches go through the provider's batch API, polled together.
  const poller = input.batchMode ? new BatchPoller(input, input.batchMode.pollIntervalMs) : undefined;
  setHandler(partitionProgressQuery, () => ({
    fromBatch: input.fromBatch,
    toBatch: input.toBatch,
    nextBatch: next,
    activeBatches: active,
    finished: stats,
  }));

  /** `batch 17: rows 1700-1799`, as the Temporal UI shows each batch activity. */
  function batchName(batch: number): string {
    if (!input.rows) return `batch ${batch}`;
    const first = batch * input.rows.batchSize;
    return `batch ${batch}: rows ${first}-${Math.min(input.rows.total, first + input.rows.batchSize) - 1}`;
  }

  /** Runs one round of a batch in a slot; the first round's slot is taken by the launcher, synchronously. */
  async function attempt(batch: number, retry?: { index: number; attempts: number }[], round = 1) {
    if (retry) {
      await condition(() => active < input.batchesInFlight);
      active++;
    }
    try {
      return await processBatch.executeWithOptions(
        { summary: retry ? `${batchName(batch)}, retry ${retry.length} requests (round ${round})` : batchName(batch) },
        [
          {
            curator: input.curator,
            runHash: input.runHash,
            parseHash: input.parseHash,
            jobId: input.jobId,
            batch,
            concurrency: input.requestConcurrency,
            maxConcurrentRequests: input.maxConcurrentRequests,
            retry,
            ...(input.apiKeyId ? { apiKeyId: input.apiKeyId } : {}),
          },
        ]
      );
    } finally {
      active--;
    }
  }

  async function runBatch(batch: number): Promise<void> {
    if (poller) {
      let run;
      try {
        run = await runProviderBatch(input, batch, batchName(batch), poller);
      } finally {
        active--;
      }
      addStats(stats, {
        total: run.outcome.requests,
        succeeded: run.outcome.succeeded,
        failed: run.outcome.failed + run.exhausted,
        cached: run.outcome.cached,
        outputRows: run.outcome.outputRows,
        tokens: run.outcome.tokens,
        retries: run.retried,
      });
      return;
    }
    let outcome: BatchOutcome = await attempt(batch);
    let exhausted = 0;
    let retried = 0;
    for (let round = 2; ; round++) {
      const decision = decideRetries(outcome.retryable, input.maxRetries, Math.random);
      exhausted += decision.exhausted.length;
      if (decision.retry.length === 0) break;
      retried += decision.retry.length;
      await sleep(decision.delayMs, {
        summary: `batch ${batch}: ${decision.retry.length} requests wait (${outcome.retryable[0]?.type ?? 'retry'})`,
      });
      outcome = await attempt(batch, decision.retry, round);
    }
    addStats(stats, {
      total: outcome.requests,
      succeeded: outcome.succeeded,
      failed: outcome.failed + exhausted,
      cached: outcome.cached,
      outputRows: outcome.outputRows,
      tokens: outcome.tokens,
      retries: retried,
    });
  }

  try {
    while (next < input.toBatch && failure === undefined && !workflowInfo().continueAsNewSuggested) {
      await condition(() => active < input.batchesInFlight || failure !== undefined);
      if (failure !== undefined) break;
      active++;
      running++;
      runBatch(next++).then(
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
