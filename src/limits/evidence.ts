/**
 * What a refusal says about the budget. A 429 that comes with a used-up budget (a `remaining` header at 0, or only a
 * reset time to wait for) means the bucket is out until then: every request of the model waits. A 429 with budget
 * left or without rate-limit headers, a 503 or a 529 (`overloaded_error`) says the server or a gateway was congested
 * for this one request: only it waits (its `retry-after`), and the concurrency controller hears of it.
 */
import { readRateLimitHeaders } from './headers';

type HeaderSource = { get(name: string): string | null };

export type RefusalEvidence = 'exhausted' | 'congestion';

export function refusalEvidence(status: number | undefined, headers: HeaderSource | undefined): RefusalEvidence {
  if (status !== 429 || !headers) return 'congestion';
  const snapshot = readRateLimitHeaders(headers);
  const remaining = snapshot
    ? [
        snapshot.remainingRequests,
        snapshot.remainingTokens,
        snapshot.remainingInputTokens,
        snapshot.remainingOutputTokens,
      ].filter((v): v is number => v !== undefined)
    : [];
  if (remaining.some((v) => v <= 0)) return 'exhausted';
  if (remaining.length > 0) return 'congestion';
  // No `remaining` at all: a reset header alone says when the budget is back, so it is out until then.
  const reset = [
    'x-ratelimit-reset-requests',
    'x-ratelimit-reset-tokens',
    'anthropic-ratelimit-requests-reset',
    'anthropic-ratelimit-tokens-reset',
    'anthropic-ratelimit-input-tokens-reset',
    'anthropic-ratelimit-output-tokens-reset',
  ].some((name) => (headers.get(name)?.trim() ?? '') !== '');
  return reset ? 'exhausted' : 'congestion';
}
