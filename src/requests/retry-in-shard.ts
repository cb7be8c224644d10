/**
 * Stage "retry in the shard": a refusal that held back only its own request (a 429 with budget left or with a hint
 * within a second, a 529 `overloaded_error`, a 503) is tried again inside its shard activity, after its own
 * `retry-after`. Sent back to the workflow instead, it would wait for the shard's slowest answer and a workflow round:
 * with answers of tens of seconds, a tail of a minute after the rest of the job. Every attempt is recorded in the
 * response log as before, so the count stays within `maxRetries` and a crash resumes from the log. A refusal with a
 * used-up budget paused the whole bucket and still goes back to the workflow, whose timers are durable.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { DEFAULT_BACKOFF } from '../defaults';
import type { RequestError } from '../types/requests';

/** The longest wait kept inside a shard activity: a longer hint is a durable timer of the workflow's. */
export const MAX_WAIT_IN_SHARD_MS = 10_000;

/**
 * How long to wait before trying a failed request again inside its shard, or undefined when it goes back to the
 * workflow. `attempts` counts every attempt so far, this one included; `maxRetries` counts the tries after the first
 * (undefined: the workflow did not say, so every retry is the workflow's). Without a hint the wait is the workflow's
 * backoff: one second, doubling with each attempt. Pure: `random` is the jitter, which only shortens.
 */
export function retryInShardAfterMs(
  failure: { error: RequestError; alone: boolean },
  attempts: number,
  maxRetries: number | undefined,
  random: () => number = Math.random
): number | undefined {
  const { error, alone } = failure;
  if (!alone || !error.retryable || maxRetries === undefined || attempts > maxRetries) return undefined;
  const wait =
    error.retryAfterMs ??
    Math.min(DEFAULT_BACKOFF.maxMs, DEFAULT_BACKOFF.initialMs * DEFAULT_BACKOFF.coefficient ** (attempts - 1)) *
      (1 - random() * 0.25);
  return wait <= MAX_WAIT_IN_SHARD_MS ? Math.ceil(wait) : undefined;
}

/** Waits `ms`; false when `signal` aborted first (the request is then left to the workflow, unsent). */
export async function waitToRetry(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await delay(ms, undefined, { signal });
    return true;
  } catch (err) {
    if (signal.aborted) return false;
    throw err;
  }
}
