/**
 * The one retry loop of a shard, whichever way its requests travel: a round, the retry decision on what failed
 * retryably, a durable timer, the next round with just those requests, until every request has an answer or has
 * failed for good. Deterministic: the rounds are activities, the wait a timer in the history.
 */
import { sleep } from '@temporalio/workflow';
import type { ShardOutcome, CurationStats } from '../types';
import { decide, requestCount, type Retryable } from './request-state';

/** What a round of a shard leaves behind, with its retryable requests in the transport's shape. */
export interface RoundOutcome<R extends Retryable> extends Omit<ShardOutcome, 'retryable'> {
  retryable: R[];
}

/**
 * Runs the rounds of `shard`: `round(1)` first, then `round(n, retry)` with what the decision retries, after its
 * delay. Returns the shard's stats, with the requests out of retries counted as failed.
 */
export async function settleShard<R extends Retryable & { type: string }>(
  shard: number,
  maxRetries: number,
  round: (n: number, retry?: R[]) => Promise<RoundOutcome<R>>
): Promise<CurationStats> {
  let outcome = await round(1);
  let exhausted = 0;
  let retried = 0;
  for (let n = 2; ; n++) {
    const decision = decide(outcome.retryable, maxRetries, Math.random);
    exhausted += requestCount(decision.exhausted);
    if (decision.retry.length === 0) break;
    const count = requestCount(decision.retry);
    retried += count;
    await sleep(decision.delayMs, {
      summary: `batch ${shard}: ${count} requests wait (${outcome.retryable[0]?.type ?? 'retry'})`,
    });
    outcome = await round(n, decision.retry);
  }
  return {
    total: outcome.requests,
    succeeded: outcome.succeeded,
    failed: outcome.failed + exhausted,
    cached: outcome.cached,
    ...(outcome.reused ? { reused: outcome.reused } : {}),
    outputRows: outcome.outputRows,
    tokens: outcome.tokens,
    retries: retried,
  };
}
