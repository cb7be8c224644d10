/**
 * Classifies every way a request can end, so each gets the right treatment: retry later (with the provider's hint),
 * fail this request for good, or stop the whole job (a bad key fails every request alike).
 */
import { parseGoDuration } from '../limits/durations';
import type { ErrorType, RequestError } from '../types/requests';

export type { ErrorType, RequestError };

type HeaderSource = { get(name: string): string | null } | undefined;

/** The provider's retry hint: `retry-after-ms`, then `retry-after` (seconds or HTTP date), then the reset headers. */
/**
 * The provider's retry hint. Explicit hints (`retry-after-ms`, `retry-after`) always count; the rate-limit reset
 * headers only with `resets` (for a 429), and then only for budgets that are used up: every response carries them,
 * and the time until a budget is whole again says nothing about when a server error will pass.
 */
export function retryAfterFromHeaders(headers: HeaderSource, now = Date.now(), resets = true): number | undefined {
  if (!headers) return undefined;
  // An empty header is no hint at all, not "retry now".
  const get = (name: string) => headers.get(name)?.trim() || null;
  const rawMs = get('retry-after-ms');
  const ms = Number(rawMs);
  if (rawMs !== null && Number.isFinite(ms) && ms >= 0) return ms;
  const after = get('retry-after');
  if (after !== null) {
    const seconds = Number(after);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(after);
    if (Number.isFinite(date)) return Math.max(0, date - now);
  }
  if (!resets) return undefined;
  const exhausted = (remaining: string) => get(remaining) === null || Number(get(remaining)) <= 0;
  const openai = ['requests', 'tokens']
    .filter((d) => exhausted(`x-ratelimit-remaining-${d}`))
    .map((d) => get(`x-ratelimit-reset-${d}`))
    .filter((v): v is string => v !== null)
    .map(parseGoDuration)
    .filter((v): v is number => v !== undefined);
  const anthropic = ['requests', 'tokens', 'input-tokens', 'output-tokens']
    .filter((d) => exhausted(`anthropic-ratelimit-${d}-remaining`))
    .map((d) => get(`anthropic-ratelimit-${d}-reset`))
    .filter((v): v is string => v !== null)
    .map((v) => Date.parse(v) - now)
    .filter((v) => Number.isFinite(v) && v >= 0);
  const all = [...openai, ...anthropic];
  return all.length ? Math.max(...all) : undefined;
}

interface ApiErrorLike {
  status?: number;
  headers?: HeaderSource;
  message?: string;
  code?: string | null;
  type?: string | null;
  error?: { type?: string; code?: string; error?: { type?: string } };
  name?: string;
}

/** The classification a client brings (`ProviderClient.classify`), else {@link classifyError}. */
export function classifierOf(client: { classify?(err: unknown): RequestError }): (err: unknown) => RequestError {
  return client.classify ? (err) => client.classify!(err) : classifyError;
}

/** Maps an SDK error (openai or @anthropic-ai/sdk, which share their shapes) to a classified request error. */
export function classifyError(err: unknown): RequestError {
  const e = (err ?? {}) as ApiErrorLike & { cause?: unknown };
  // The SDKs say only "Connection error."; the innermost cause (ECONNREFUSED, ENOTFOUND, bad port) says why.
  let inner: unknown = e.cause;
  while ((inner as { cause?: unknown })?.cause) inner = (inner as { cause?: unknown }).cause;
  const why = (inner as { code?: string })?.code ?? (inner as Error | undefined)?.message;
  const suffix = why && e.cause && !String(e.message).includes(why) ? ` (${why})` : '';
  const message = ((e.message ?? String(err)) + suffix).slice(0, 2000);
  const status = typeof e.status === 'number' ? e.status : undefined;
  const name = e.name ?? '';
  if (status === undefined) {
    if (/timeout|timed out/i.test(name + ' ' + message)) return { type: 'Timeout', message, retryable: true };
    if (/connection|socket|network|ECONN|EPIPE|ETIMEDOUT|EAI_AGAIN|fetch failed/i.test(name + ' ' + message)) {
      return { type: 'ConnectionError', message, retryable: true };
    }
    // A body cut short or garbled on the way is a transient fault of the server or the network.
    if (name === 'SyntaxError' || /JSON/.test(message)) {
      return {
        type: 'MalformedResponse',
        message: `the provider's response is not valid JSON: ${message}`,
        retryable: true,
      };
    }
    // Not a transport failure: a bug or an unexpected shape, which a retry would only repeat.
    return { type: 'ProviderError', message: `${name || 'Error'}: ${message}`, retryable: false };
  }
  const retryAfterMs = retryAfterFromHeaders(e.headers, Date.now(), status === 429);
  const code = e.code ?? e.error?.code ?? e.type ?? e.error?.type ?? e.error?.error?.type ?? '';
  const shouldRetry = e.headers?.get('x-should-retry');
  if (status === 429) {
    if (code === 'insufficient_quota' || shouldRetry === 'false') {
      return { type: 'InsufficientQuota', message, status, retryable: false, fatal: true };
    }
    if (/request too large/i.test(message)) return { type: 'RequestTooLarge', message, status, retryable: false };
    return { type: 'RateLimited', message, status, retryable: true, retryAfterMs };
  }
  if (status === 401) return { type: 'AuthenticationFailed', message, status, retryable: false, fatal: true };
  if (status === 403) return { type: 'PermissionDenied', message, status, retryable: false, fatal: true };
  if (status === 404) return { type: 'NotFound', message, status, retryable: false, fatal: true };
  if (status === 413) return { type: 'RequestTooLarge', message, status, retryable: false };
  if (status === 529) return { type: 'Overloaded', message, status, retryable: true, retryAfterMs };
  if (status === 408) return { type: 'Timeout', message, status, retryable: true, retryAfterMs };
  if (status === 409 || status >= 500) return { type: 'ServerError', message, status, retryable: true, retryAfterMs };
  if (shouldRetry === 'true') return { type: 'ProviderError', message, status, retryable: true, retryAfterMs };
  return { type: 'BadRequest', message, status, retryable: false };
}

/**
 * A 200 whose body is empty or not a JSON object (cut short, or mangled by a proxy) is a transient fault: thrown as a
 * `SyntaxError`, {@link classifyError} makes it a retryable `MalformedResponse` rather than a bug in our code.
 */
export function checkAnswerBody<T>(data: T): T {
  if (!data || typeof data !== 'object' || Array.isArray(data)) {
    throw new SyntaxError(
      `the provider answered 200 with ${typeof data === 'string' && data.length === 0 ? 'an empty body' : 'a body that is not a JSON object'}`
    );
  }
  return data;
}
