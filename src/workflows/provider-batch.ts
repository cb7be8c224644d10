/**
 * The provider Batch-API transport in the partition workflow: one round of a shard travels in provider batches.
 *
 *   submit (format, split within the provider's limits, create) -> wait on durable timers, polling -> download
 *
 * The rounds are driven by the one retry loop (`shard-rounds.ts`): retryable failures are resubmitted in a new
 * provider batch, after the usual backoff, up to maxRetries.
 *
 * One poller per partition checks all its waiting batches with one short activity per interval, so the history
 * grows with the number of intervals, not with intervals times batches. Cancelling the job cancels the provider
 * batches. Deterministic: no I/O here, only activities, timers and conditions.
 */
import { CancellationScope, condition, isCancellation, sleep } from '@temporalio/workflow';
import type { PartitionInput, ProviderBatchOutcome, ProviderBatchTask, RetryGroup } from '../types';
import { curatorActivities } from './curator-activities';
import { pollActivityOptions, providerBatchActivityOptions } from './activity-options';

/** Checks a partition's waiting batches every `intervalMs`, with one activity for all of them. */
export class BatchPoller {
  private readonly waiting = new Map<number, { round: number; ended: boolean }>();
  private running = false;
  private failure: unknown;
  private readonly poll;
  /** Requests the provider reports done, over the batches waiting now (for progress). */
  done = 0;
  total = 0;

  constructor(
    private readonly input: PartitionInput,
    private readonly intervalMs: number
  ) {
    this.poll = curatorActivities(pollActivityOptions(input.activityTaskQueue)).pollProviderBatches;
  }

  /** Resolves once every provider batch of this round of `batch` has ended. */
  async ended(batch: number, round: number): Promise<void> {
    const entry = { round, ended: false };
    this.waiting.set(batch, entry);
    if (!this.running) void this.loop();
    try {
      await condition(() => entry.ended || this.failure !== undefined);
    } finally {
      this.waiting.delete(batch);
    }
    if (!entry.ended) throw this.failure;
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.waiting.size > 0) {
        await sleep(this.intervalMs, { summary: `${this.waiting.size} provider batches wait` });
        const batches = [...this.waiting].filter(([, e]) => !e.ended).map(([batch, e]) => ({ batch, round: e.round }));
        if (batches.length === 0) continue;
        const result = await this.poll.executeWithOptions({ summary: `check ${batches.length} provider batches` }, [
          { curator: this.input.curator, runHash: this.input.runHash, jobId: this.input.jobId, batches },
        ]);
        this.done = result.done;
        this.total = result.total;
        for (const batch of result.ended) {
          const entry = this.waiting.get(batch);
          if (entry) entry.ended = true;
        }
      }
    } catch (err) {
      this.failure = err;
    } finally {
      this.running = false;
    }
  }
}

/** The rounds of the partition's shards through provider batches, for the retry loop to drive. */
export function providerBatchRound(input: PartitionInput, poller: BatchPoller) {
  const acts = curatorActivities(providerBatchActivityOptions(input.activityTaskQueue));
  return async function round(
    batch: number,
    name: string,
    round: number,
    retry?: RetryGroup[]
  ): Promise<ProviderBatchOutcome> {
    const retryAttempts = retry?.map((g) => g.attempts);
    const task: ProviderBatchTask = {
      curator: input.curator,
      runHash: input.runHash,
      parseHash: input.parseHash,
      jobId: input.jobId,
      batch,
      round,
      ...(retryAttempts ? { retryAttempts } : {}),
      ...(input.apiKeyId ? { apiKeyId: input.apiKeyId } : {}),
    };
    const retrying = retry?.reduce((n, g) => n + g.count, 0);
    const label = retry ? `${name}, resubmit ${retrying} requests (round ${round})` : name;
    try {
      const submitted = await acts.submitProviderBatch.executeWithOptions({ summary: `submit ${label}` }, [task]);
      if (submitted.outcome) return submitted.outcome;
      await poller.ended(batch, round);
      return await acts.downloadProviderBatch.executeWithOptions({ summary: `download ${label}` }, [task]);
    } catch (err) {
      if (isCancellation(err)) {
        // The job is cancelled: so are its provider batches, which would otherwise run on and be billed.
        await CancellationScope.nonCancellable(() =>
          acts.cancelProviderBatch.executeWithOptions({ summary: `cancel ${label}` }, [task])
        );
      }
      throw err;
    }
  };
}
