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
import type { CurationStats, RetryableFailure, RetryGroup } from '../types';
import { DEFAULT_BACKOFF } from '../defaults';

export interface BackoffPolicy {
  initialMs: number;
  coefficient: number;
  maxMs: number;
}

/** Requests that failed retryably: one request (sent on its own) or a group of them (sent in provider batches). */
export interface Retryable {
  /** Attempts made so far. */
  attempts: number;
  /** Requests it stands for. @defaultValue 1 */
  count?: number;
  /** The provider's hint, when it gave one. */
  retryAfterMs?: number;
}

/** Exponential backoff with jitter (the jitter only shortens, down to 75%), capped. */
export function backoffMs(attempts: number, policy: BackoffPolicy, random: () => number): number {
  const base = Math.min(policy.maxMs, policy.initialMs * policy.coefficient ** Math.max(0, attempts - 1));
  return Math.round(base * (1 - random() * 0.25));
}

/** The retry decision of a round, whatever the requests travelled in. */
export interface Decision<T extends Retryable> {
  /** To attempt again. */
  retry: T[];
  /** Out of retries: they fail for good. */
  exhausted: T[];
  /** How long to wait before the retry round: never less than any provider hint. */
  delayMs: number;
}

/** The one retry decision: within `maxRetries`, after the largest backoff (or provider hint) of what is retried. */
export function decide<T extends Retryable>(
  failures: readonly T[],
  maxRetries: number,
  random: () => number,
  policy: BackoffPolicy = DEFAULT_BACKOFF
): Decision<T> {
  const decision: Decision<T> = { retry: [], exhausted: [], delayMs: 0 };
  for (const f of failures) {
    // attempts counts every try; maxRetries counts tries after the first.
    if (f.attempts > maxRetries) {
      decision.exhausted.push(f);
      continue;
    }
    decision.retry.push(f);
    const wait = f.retryAfterMs !== undefined ? Math.ceil(f.retryAfterMs) : backoffMs(f.attempts, policy, random);
    decision.delayMs = Math.max(decision.delayMs, wait);
  }
  return decision;
}

/** Requests that count: one for a request, `count` for a group. */
export function requestCount(items: readonly Retryable[]): number {
  return items.reduce((n, f) => n + (f.count ?? 1), 0);
}

export interface RetryDecision {
  /** Requests to attempt again, with the attempts made so far. */
  retry: { index: number; attempts: number }[];
  /** Requests out of retries: they fail for good. */
  exhausted: RetryableFailure[];
  /** How long to wait before the retry round: never less than any provider hint. */
  delayMs: number;
}

/** {@link decide} on requests sent on their own, as the retry task names them. */
export function decideRetries(
  failures: readonly RetryableFailure[],
  maxRetries: number,
  random: () => number,
  policy: BackoffPolicy = DEFAULT_BACKOFF
): RetryDecision {
  const d = decide(failures, maxRetries, random, policy);
  return {
    retry: d.retry.map((f) => ({ index: f.index, attempts: f.attempts })),
    exhausted: d.exhausted,
    delayMs: d.delayMs,
  };
}

export interface BatchRetryDecision {
  /** The attempt counts whose requests are resubmitted. */
  retryAttempts: number[];
  /** Requests resubmitted. */
  retry: number;
  /** Requests out of retries: they fail for good. */
  exhausted: number;
  delayMs: number;
}

/** {@link decide} on groups of requests sent in provider batches, as counts. */
export function decideBatchRetries(
  groups: readonly RetryGroup[],
  maxRetries: number,
  random: () => number
): BatchRetryDecision {
  const d = decide(groups, maxRetries, random);
  return {
    retryAttempts: d.retry.map((g) => g.attempts),
    retry: requestCount(d.retry),
    exhausted: requestCount(d.exhausted),
    delayMs: d.delayMs,
  };
}

export function emptyStats(): CurationStats {
  return { total: 0, succeeded: 0, failed: 0, cached: 0, outputRows: 0, tokens: { input: 0, output: 0 }, retries: 0 };
}

export function addStats(into: CurationStats, add: CurationStats): CurationStats {
  into.total += add.total;
  into.succeeded += add.succeeded;
  into.failed += add.failed;
  into.cached += add.cached;
  if (add.reused) into.reused = (into.reused ?? 0) + add.reused;
  into.outputRows += add.outputRows;
  into.tokens.input += add.tokens.input;
  into.tokens.output += add.tokens.output;
  // Only when some were counted, so the stats of runs without reasoning keep their shape.
  if (add.tokens.reasoning) into.tokens.reasoning = (into.tokens.reasoning ?? 0) + add.tokens.reasoning;
  into.retries += add.retries;
  return into;
}
