/**
 * The retry decisions of the per-request state machine, as pure functions the workflows call and unit tests check.
 *
 *   pending -> in flight -> succeeded
 *                        -> failed for good (final error, or out of retries)
 *                        -> waiting to retry -> in flight ...
 *
 * The facts (attempts, errors, answers) live in the batch's response log; the workflow owns the decisions and the
 * waiting, as durable timers in its history.
 */
import type { CurationStats, RetryableFailure } from '../manifests';
import { DEFAULT_BACKOFF } from '../defaults';

export interface BackoffPolicy {
  initialMs: number;
  coefficient: number;
  maxMs: number;
}

export interface RetryDecision {
  /** Requests to attempt again, with the attempts made so far. */
  retry: { index: number; attempts: number }[];
  /** Requests out of retries: they fail for good. */
  exhausted: RetryableFailure[];
  /** How long to wait before the retry round: never less than any provider hint. */
  delayMs: number;
}

/** Exponential backoff with jitter (the jitter only shortens, down to 75%), capped. */
export function backoffMs(attempts: number, policy: BackoffPolicy, random: () => number): number {
  const base = Math.min(policy.maxMs, policy.initialMs * policy.coefficient ** Math.max(0, attempts - 1));
  return Math.round(base * (1 - random() * 0.25));
}

export function decideRetries(
  failures: readonly RetryableFailure[],
  maxRetries: number,
  random: () => number,
  policy: BackoffPolicy = DEFAULT_BACKOFF
): RetryDecision {
  const decision: RetryDecision = { retry: [], exhausted: [], delayMs: 0 };
  for (const f of failures) {
    // attempts counts every try; maxRetries counts tries after the first.
    if (f.attempts > maxRetries) {
      decision.exhausted.push(f);
      continue;
    }
    decision.retry.push({ index: f.index, attempts: f.attempts });
    const wait = f.retryAfterMs !== undefined ? Math.ceil(f.retryAfterMs) : backoffMs(f.attempts, policy, random);
    decision.delayMs = Math.max(decision.delayMs, wait);
  }
  return decision;
}

export function emptyStats(): CurationStats {
  return { total: 0, succeeded: 0, failed: 0, cached: 0, outputRows: 0, tokens: { input: 0, output: 0 }, retries: 0 };
}

export function addStats(into: CurationStats, add: CurationStats): CurationStats {
  into.total += add.total;
  into.succeeded += add.succeeded;
  into.failed += add.failed;
  into.cached += add.cached;
  into.outputRows += add.outputRows;
  into.tokens.input += add.tokens.input;
  into.tokens.output += add.tokens.output;
  into.retries += add.retries;
  return into;
}
