/**
 * One partition of a job: a contiguous range of batches, run with a window of batch activities in flight. Each batch
 * loops through retry rounds until every request has an answer or has failed for good. The partition continues as
 * new when Temporal suggests it, after draining what is in flight, carrying only counters and the next batch.
 */
import { continueAsNew, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { CuratorActivities } from '../activities';
import type { BatchOutcome, PartitionInput, PartitionResult } from '../manifests';
import { batchActivityOptions } from './activity-options';
import { addStats, decideRetries, emptyStats } from './request-state';

export async function partitionWorkflow(input: PartitionInput): Promise<PartitionResult> {
  const { processBatch } = proxyActivities<CuratorActivities>(batchActivityOptions(input.activityTaskQueue));
  const stats = input.stats ?? emptyStats();
  let next = input.nextBatch ?? input.fromBatch;

  async function runBatch(batch: number): Promise<void> {
    let retry: { index: number; attempts: number }[] | undefined;
    let exhausted = 0;
    let retried = 0;
    for (let round = 1; ; round++) {
      const summary = retry ? `batch ${batch}: retry ${retry.length} requests (round ${round})` : `batch ${batch}`;
      const outcome: BatchOutcome = await processBatch.executeWithOptions({ summary }, [
        {
          curator: input.curator,
          runHash: input.runHash,
          parseHash: input.parseHash,
          jobId: input.jobId,
          batch,
          concurrency: input.requestConcurrency,
          maxConcurrentRequests: input.maxConcurrentRequests,
          retry,
        },
      ]);
      const decision = decideRetries(outcome.retryable, input.maxRetries, Math.random);
      exhausted += decision.exhausted.length;
      if (decision.retry.length === 0) {
        addStats(stats, {
          total: outcome.requests,
          succeeded: outcome.succeeded,
          failed: outcome.failed + exhausted,
          cached: outcome.cached,
          outputRows: outcome.outputRows,
          tokens: outcome.tokens,
          retries: retried,
        });
        return;
      }
      retried += decision.retry.length;
      await sleep(decision.delayMs, {
        summary: `batch ${batch}: ${decision.retry.length} requests wait (${outcome.retryable[0]?.type ?? 'retry'})`,
      });
      retry = decision.retry;
    }
  }

  const inFlight = new Set<Promise<void>>();
  for (;;) {
    while (inFlight.size < input.batchesInFlight && next < input.toBatch && !workflowInfo().continueAsNewSuggested) {
      const running: Promise<void> = runBatch(next++).finally(() => inFlight.delete(running));
      inFlight.add(running);
    }
    if (inFlight.size === 0) break;
    await Promise.race(inFlight);
  }
  if (next < input.toBatch) {
    return await continueAsNew<typeof partitionWorkflow>({ ...input, nextBatch: next, stats });
  }
  return { stats };
}
