/**
 * What a provider is, to the engine: everything that differs between OpenAI, Anthropic and any other LLM API lives
 * behind this interface, one module per provider (`openai.ts`, `anthropic.ts`). Nothing outside `src/providers`
 * looks at a provider's name. To bring your own provider, implement it and pass it to `registerProvider` before
 * defining the curators that name it.
 */
import type { BatchLimits, ProviderBatchClient } from './batch';
import type { ProviderClient, ProviderRequest } from './types';
import type { Enforcement } from '../limits/pacing';

/** How a provider client is made: from the worker's environment, never from a workflow input. */
export interface ProviderClientOptions {
  /** Where requests go, without a trailing slash. */
  baseURL: string;
  /** The key read from {@link ProviderModule.apiKeyEnv} in the worker's environment. */
  apiKey: string;
  /** The HTTP client calls go through (the engine's own, see `CURATOR_HTTP_CLIENT`); undefined: the SDK's own. */
  fetch?: typeof globalThis.fetch;
}

/**
 * What a provider accepts of images and files, checked by the worker before sending so that a row over a limit fails
 * alone with its name rather than as the provider's 400.
 */
export interface MediaLimits {
  /** Most bytes of one image (decoded). */
  imageBytes?: number;
  /** Most characters of one image's base64 text (Anthropic measures the base64, not the bytes). */
  imageBase64Chars?: number;
  /** Most characters of base64 across a request's images and files. */
  requestBase64Chars?: number;
  /**
   * Whether a file part may be given by URL (the provider fetches it); otherwise only inline.
   * @defaultValue true
   */
  filesByUrl?: boolean;
}

/** A provider's Batch API: requests sent together, answered within hours at a discount. */
export interface ProviderBatchApi {
  /** Most requests and bytes per provider batch, as the provider documents them (a curator may only lower them). */
  readonly limits: BatchLimits;
  /** The client of the Batch API; one per base URL, key, limits and completion window. */
  createClient(
    options: Omit<ProviderClientOptions, 'fetch'> & { limits: BatchLimits; completionWindow: string }
  ): ProviderBatchClient;
}

/**
 * One LLM provider: its client (the call, the answer mapping, the error classification), its default address and key
 * variable, its request body, its token estimate and its Batch API. Rate-limit headers are read in both dialects
 * (`x-ratelimit-*` and `anthropic-ratelimit-*`) by `src/limits/headers.ts`, so a provider speaking either needs
 * nothing more; a client whose server speaks another dialect translates it (`header-dialects.ts`).
 *
 * @example
 * registerProvider({ ...openai, name: 'my-gateway', apiKeyEnv: 'GATEWAY_KEY', baseURLEnv: 'GATEWAY_URL',
 *   defaultBaseURL: 'https://gateway.example/v1' });
 */
export interface ProviderModule {
  /** The name a curator gives as `provider`. */
  readonly name: string;
  /** The environment variable of the worker that holds the API key. */
  readonly apiKeyEnv: string;
  /** The environment variable that may hold the base URL (a curator's `backend.baseURL` comes first). */
  readonly baseURLEnv: string;
  /** Where requests go when neither the curator nor the environment says. */
  readonly defaultBaseURL: string;
  /** A client for calls of one request each; the worker keeps one per base URL and key. */
  createClient(options: ProviderClientOptions): ProviderClient;
  /** The provider's request body: what a call sends, and what a line of a provider batch carries. */
  body(request: ProviderRequest): Record<string, unknown>;
  /** The input tokens of a request, on the high side: the rate limiter reserves them before sending. */
  estimateInputTokens(request: ProviderRequest): number;
  /**
   * Its limits on images and files in prompts.
   * @defaultValue none: every image and file is sent as it is
   */
  readonly media?: MediaLimits;
  /**
   * Whether the provider counts a request's `max_tokens` against the output budget up front (Anthropic).
   * @defaultValue false
   */
  readonly reservesMaxTokens?: boolean;
  /**
   * How the provider enforces its per-minute limits over short intervals: `'per-interval'` (OpenAI quantizes them
   * per second, so the pace keeps a margin for jitter) or `'token-bucket'` (refilled continuously, Anthropic: the
   * whole rate is paced).
   * @defaultValue 'per-interval'
   */
  readonly limitEnforcement?: Enforcement;
  /** The Batch API, when the provider has one (batch mode needs it). */
  readonly batch?: ProviderBatchApi;
}
