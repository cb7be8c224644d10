/**
 * Rate-limit header dialects of OpenAI-compatible servers, translated into the one dialect the engine's limiter
 * reads (`x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, per minute), so that a server whose headers mean
 * something else never teaches the limiter a wrong limit. The simulator speaks each of them
 * (`src/simulator/header-dialects.ts`).
 */

/**
 * How a server reports its rate limits:
 * - `'openai'`: OpenAI's per-minute `x-ratelimit-*-requests` / `-tokens` headers (and Anthropic's own, which the
 *   limiter reads as they are);
 * - `'groq'`: the same names, but `x-ratelimit-*-requests` counts requests per day, and only the tokens are per
 *   minute (console.groq.com/docs/rate-limits);
 * - `'together'`: per-second limits, `x-ratelimit-limit` / `-remaining` / `-reset` for requests and
 *   `x-tokenlimit-limit` / `-remaining` for tokens;
 * - `'none'`: no rate-limit headers (self-hosted servers, and APIs that publish none): the engine sizes its
 *   concurrency from latency and 429s alone, and ignores any header that appears.
 */
export type RateLimitHeaderDialect = 'openai' | 'groq' | 'together' | 'none';

const SECONDS_PER_MINUTE = 60;

function perSecondAsPerMinute(value: string | null): string | undefined {
  if (value === null || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? String(n * SECONDS_PER_MINUTE) : undefined;
}

/**
 * The response headers as the engine's limiter should see them. Headers other than rate limits (request ids,
 * `retry-after`) pass unchanged.
 */
export function engineHeaders(dialect: RateLimitHeaderDialect, headers: Headers | undefined): Headers | undefined {
  if (!headers || dialect === 'openai') return headers;
  const out = new Headers();
  headers.forEach((value, name) => {
    if (!/^x-(ratelimit|tokenlimit)-/i.test(name)) out.set(name, value);
  });
  if (dialect === 'none') return out;
  if (dialect === 'groq') {
    // A day's requests read as a minute's would let the limiter send 1,440 times too fast; the tokens are per minute.
    for (const name of ['x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens']) {
      const value = headers.get(name);
      if (value !== null) out.set(name, value);
    }
    return out;
  }
  // Together: a per-second limit is told to the limiter as its per-minute equivalent. Remaining counts are left out:
  // a second's remainder times 60 would overstate what is left (set `maxRequestsPerSecond` to pace within a second).
  const requests = perSecondAsPerMinute(headers.get('x-ratelimit-limit'));
  const tokens = perSecondAsPerMinute(headers.get('x-tokenlimit-limit'));
  if (requests !== undefined) out.set('x-ratelimit-limit-requests', requests);
  if (tokens !== undefined) out.set('x-ratelimit-limit-tokens', tokens);
  return out;
}
