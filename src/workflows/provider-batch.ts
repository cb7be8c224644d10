/**
 * Batch mode in the partition workflow: each batch of rows goes through the provider's batch API, round by round.
 *
 *   submit (format, split within the provider's limits, create) -> wait on durable timers, polling -> download
 *     -> retryable failures resubmitted in a new provider batch, after the usual backoff, up to maxRetries
 *
 * One poller per partition checks all its waiting batches with one short activity per interval, so the history
 * grows with the number of intervals, not with intervals times batches. Cancelling the job cancels the provider
 * batches. Deterministic: no I/O here, only activities, timers and conditions.
 */
import { CancellationScope, condition, isCancellation, proxyActivities, sleep } from '@temporalio/workflow';
import type { CuratorActivities } from '../activities';
import type { PartitionInput, ProviderBatchOutcome, ProviderBatchTask, RetryGroup } from '../manifests';
import { pollActivityOptions, providerBatchActivityOptions } from './activity-options';
import { DEFAULT_BACKOFF } from '../defaults';
import { backoffMs } from './request-state';

export interface BatchRetryDecision {
  /** The attempt counts whose requests are resubmitted. */
  retryAttempts: number[];
  /** Requests resubmitted. */
  retry: number;
  /** Requests out of retries: they fail for good. */
  exhausted: number;
  delayMs: number;
}

/** The retry decision of a batch-mode round, on groups of requests: as `decideRetries`, with counts. */
export function decideBatchRetries(
  groups: readonly RetryGroup[],
  maxRetries: number,
  random: () => number
): BatchRetryDecision {
  const decision: BatchRetryDecision = { retryAttempts: [], retry: 0, exhausted: 0, delayMs: 0 };
  for (const g of groups) {
    // attempts counts every try; maxRetries counts tries after the first.
    if (g.attempts > maxRetries) {
      decision.exhausted += g.count;
      continue;
    }
    decision.retryAttempts.push(g.attempts);
    decision.retry += g.count;
    decision.delayMs = Math.max(decision.delayMs, backoffMs(g.attempts, DEFAULT_BACKOFF, random));
  }
  return decision;
}

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
    this.poll = proxyActivities<CuratorActivities>(pollActivityOptions(input.activityTaskQueue)).pollProviderBatches;
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

export interface ProviderBatchRun {
  outcome: ProviderBatchOutcome;
  /** Requests out of retries. */
  exhausted: number;
  /** Requests resubmitted, summed over rounds. */
  retried: number;
}

/** All rounds of one batch in batch mode, until every request has an answer or has failed for good. */
export async function runProviderBatch(
  input: PartitionInput,
  batch: number,
  name: string,
  poller: BatchPoller
): Promise<ProviderBatchRun> {
  const acts = proxyActivities<CuratorActivities>(providerBatchActivityOptions(input.activityTaskQueue));
  let retryAttempts: number[] | undefined;
  let retrying = 0;
  let exhausted = 0;
  let retried = 0;
  for (let round = 1; ; round++) {
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
    const label = retryAttempts ? `${name}, resubmit ${retrying} requests (round ${round})` : name;
    let outcome: ProviderBatchOutcome;
    try {
      const submitted = await acts.submitProviderBatch.executeWithOptions({ summary: `submit ${label}` }, [task]);
      if (submitted.outcome) {
        outcome = submitted.outcome;
      } else {
        await poller.ended(batch, round);
        outcome = await acts.downloadProviderBatch.executeWithOptions({ summary: `download ${label}` }, [task]);
      }
    } catch (err) {
      if (isCancellation(err)) {
        // The job is cancelled: so are its provider batches, which would otherwise run on and be billed.
        await CancellationScope.nonCancellable(() =>
          acts.cancelProviderBatch.executeWithOptions({ summary: `cancel ${label}` }, [task])
        );
      }
      throw err;
    }
    const decision = decideBatchRetries(outcome.retryable, input.maxRetries, Math.random);
    exhausted += decision.exhausted;
    if (decision.retry === 0) return { outcome, exhausted, retried };
    retried += decision.retry;
    await sleep(decision.delayMs, {
      summary: `batch ${batch}: ${decision.retry} requests wait (${outcome.retryable[0]?.type ?? 'retry'})`,
    });
    retryAttempts = decision.retryAttempts;
    retrying = decision.retry;
  }
}
