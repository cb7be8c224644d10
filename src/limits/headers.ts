/**
 * The providers' rate-limit headers: where limits come from when the user sets none, and how several workers sharing
 * one key see each other's use. Read from real responses, so no probe request is ever spent on them.
 */
import { parseGoDuration } from './durations';
import type { Limits } from './window';

type HeaderSource = { get(name: string): string | null };

export interface RateLimitSnapshot {
  limits: Limits;
  remainingRequests?: number;
  remainingTokens?: number;
  remainingInputTokens?: number;
  remainingOutputTokens?: number;
  /** Milliseconds until the requests budget is whole again. */
  resetRequestsMs?: number;
}

function num(headers: HeaderSource, name: string): number | undefined {
  const raw = headers.get(name);
  if (raw === null || raw.trim() === '') return undefined;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

export function readRateLimitHeaders(
  headers: HeaderSource | undefined,
  now = Date.now()
): RateLimitSnapshot | undefined {
  if (!headers) return undefined;
  const openaiRequests = num(headers, 'x-ratelimit-limit-requests');
  const openaiTokens = num(headers, 'x-ratelimit-limit-tokens');
  if (openaiRequests !== undefined || openaiTokens !== undefined) {
    const reset = headers.get('x-ratelimit-reset-requests');
    return {
      limits: { requestsPerMinute: openaiRequests, tokensPerMinute: openaiTokens },
      remainingRequests: num(headers, 'x-ratelimit-remaining-requests'),
      remainingTokens: num(headers, 'x-ratelimit-remaining-tokens'),
      resetRequestsMs: reset ? parseGoDuration(reset) : undefined,
    };
  }
  const anthropicRequests = num(headers, 'anthropic-ratelimit-requests-limit');
  const input = num(headers, 'anthropic-ratelimit-input-tokens-limit');
  const output = num(headers, 'anthropic-ratelimit-output-tokens-limit');
  const tokens = num(headers, 'anthropic-ratelimit-tokens-limit');
  if (anthropicRequests !== undefined || input !== undefined || output !== undefined || tokens !== undefined) {
    const reset = headers.get('anthropic-ratelimit-requests-reset');
    const resetAt = reset ? Date.parse(reset) : NaN;
    return {
      limits: {
        requestsPerMinute: anthropicRequests,
        // Anthropic enforces input and output separately; the combined header only matters without them.
        inputTokensPerMinute: input,
        outputTokensPerMinute: output,
        tokensPerMinute: input === undefined && output === undefined ? tokens : undefined,
      },
      remainingRequests: num(headers, 'anthropic-ratelimit-requests-remaining'),
      remainingTokens: num(headers, 'anthropic-ratelimit-tokens-remaining'),
      remainingInputTokens: num(headers, 'anthropic-ratelimit-input-tokens-remaining'),
      remainingOutputTokens: num(headers, 'anthropic-ratelimit-output-tokens-remaining'),
      resetRequestsMs: Number.isFinite(resetAt) ? Math.max(0, resetAt - now) : undefined,
    };
  }
  return undefined;
}
