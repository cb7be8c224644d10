/**
 * Stage "send" of a request sent on its own: one call through the provider's client, its outcome told to the rate
 * limiter (usage and headers, a 429, congestion), an error classified as the provider module says. A request of a
 * provider batch is sent with its batch instead (`activities/provider-batch.ts`).
 */
import type { BucketLimiter, Permit } from '../limits';
import { classifierOf, type RequestError } from '../providers/outcome';
import type { ProviderAnswer, ProviderClient, ProviderRequest } from '../providers/types';

export type Sent =
  | { ok: true; answer: ProviderAnswer }
  /**
   * `cancelled`: the activity was cancelled while the request was in flight; it may have been paid for. `alone`: a
   * refusal that held back only this request (no used-up budget: the bucket did not pause), so it may be tried again
   * after its own `retry-after` (see `retry-in-shard.ts`). `answered`: the choices that came of a request whose `n`
   * choices go as separate calls, when only some failed.
   */
  | {
      ok: false;
      error: RequestError;
      cancelled: boolean;
      alone: boolean;
      answered?: Omit<ProviderAnswer, 'headers'>;
    };

export interface SendOptions {
  signal: AbortSignal;
  timeoutMs: number;
  /** Removes API keys from error messages before they are recorded. */
  redact: (text: string) => string;
}

export async function send(
  client: ProviderClient,
  bucket: BucketLimiter,
  permit: Permit,
  request: ProviderRequest,
  { signal, timeoutMs, redact }: SendOptions
): Promise<Sent> {
  try {
    const answer = await client.call(request, { signal, timeoutMs, wire: permit.wire });
    permit.answered(answer.usage, answer.headers);
    bucket.answered = true;
    bucket.outputs.observe(answer.usage.output);
    return { ok: true, answer };
  } catch (err) {
    const headers = (err as { headers?: Headers }).headers;
    const error = classifierOf(client)(err);
    let alone = false;
    if (error.type === 'RateLimited') alone = permit.rateLimited(error.retryAfterMs, headers) === 'request';
    else if (error.type === 'Overloaded' || error.status === 503) alone = permit.congested(headers) === 'request';
    else permit.failed(headers);
    if (signal.aborted) return { ok: false, error, cancelled: true, alone: false };
    const answered = (err as { answered?: Omit<ProviderAnswer, 'headers'> } | null)?.answered;
    error.message = redact(error.message);
    // Nothing ever answered and the address refuses or does not resolve: a wrong base URL, not a blip.
    if (
      error.type === 'ConnectionError' &&
      !bucket.answered &&
      /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|bad port/.test(error.message)
    ) {
      error.type = 'EndpointUnreachable';
      error.message = `cannot reach ${client.baseURL}: ${error.message}`;
      error.retryable = false;
      error.fatal = true;
    }
    return { ok: false, error, cancelled: false, alone, ...(answered ? { answered } : {}) };
  }
}
