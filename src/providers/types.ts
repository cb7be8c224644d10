/** The provider-neutral shape of one request and its answer, between formatting and parsing. */
import type { ProviderRequest, RequestError } from '../types/requests';
import type { TokenUsage } from '../types/usage';

export type { ProviderRequest };

/** Finish reasons in OpenAI's vocabulary; Anthropic's stop reasons are mapped onto it (`max_tokens` is `length`). */
export type FinishReason = 'stop' | 'length' | 'content_filter' | 'tool_calls' | (string & {});

/** A provider's answer to one request, mapped to one shape whatever the provider. */
export interface ProviderAnswer {
  /** The text answer, or the JSON text of a structured answer. */
  text: string | null;
  /** The structured answer when the provider returned an object (Anthropic tool use). */
  object?: unknown;
  finishReason: FinishReason;
  /** The provider's own finish reason, before mapping. */
  rawFinishReason: string;
  refusal?: string;
  /** The model's thinking before its answer, as text (Anthropic `thinking` blocks), when the provider returns it. */
  thinking?: string;
  usage: TokenUsage;
  requestId?: string;
  /** The response headers, for the rate limiter. */
  headers?: Headers;
}

/** How one call is made. */
export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs: number;
}

/** One provider connection, made from the worker's environment. */
export interface ProviderClient {
  /** The provider's name, as curators give it. */
  readonly provider: string;
  readonly baseURL: string;
  /** Sends one request and maps the answer; throws what `classify` understands when it fails. */
  call(request: ProviderRequest, options: CallOptions): Promise<ProviderAnswer>;
  /**
   * What a failed call means: retry later, fail the request, or stop the job.
   * @defaultValue `classifyError`, for errors shaped as the `openai` and `@anthropic-ai/sdk` SDKs throw them
   */
  classify?(err: unknown): RequestError;
}
