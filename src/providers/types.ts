/** The provider-neutral shape of one request and its answer, between formatting and parsing. */
import type { ProviderRequest, RequestError, RequestTool, ToolChoice } from '../types/requests';
import type { TokenUsage } from '../types/usage';
import type { WireGate } from '../limits/wire-gate';

export type { ProviderRequest, RequestTool, ToolChoice };

/** Finish reasons in OpenAI's vocabulary; Anthropic's stop reasons are mapped onto it (`max_tokens` is `length`). */
export type FinishReason = 'stop' | 'length' | 'content_filter' | 'tool_calls' | (string & {});

/** A tool call as the provider sent it, before its arguments are checked. */
export interface ProviderToolCall {
  id: string;
  name: string;
  /** The arguments as JSON text (OpenAI). */
  arguments?: string;
  /** The arguments already as an object (Anthropic `tool_use` input). */
  input?: unknown;
}

/** One completion of an answer, mapped to one shape whatever the provider. */
export interface ProviderChoice {
  /** The text answer, or the JSON text of a structured answer. */
  text: string | null;
  /** The structured answer when the provider returned an object (Anthropic tool use). */
  object?: unknown;
  /** The calls of the curator's tools, in order. */
  toolCalls?: ProviderToolCall[];
  finishReason: FinishReason;
  /** The provider's own finish reason, before mapping. */
  rawFinishReason: string;
  refusal?: string;
  /**
   * The model's thinking before this answer, as text: Anthropic `thinking` blocks, or the `reasoning_content` /
   * `reasoning` of OpenAI-compatible servers (OpenAI itself keeps it hidden).
   */
  thinking?: string;
}

/** A provider's answer to one request, mapped to one shape whatever the provider: its first choice's fields, and more. */
export interface ProviderAnswer extends ProviderChoice {
  /** Every choice, the first included, when the request asked for more than one (`n`). */
  choices?: ProviderChoice[];
  /** Tokens of the whole answer, every choice counted (reasoning included in the output). */
  usage: TokenUsage;
  /** The provider's response body as it came (kept only for a curator with `includeRawAnswer`). */
  raw?: unknown;
  requestId?: string;
  /** The response headers, for the rate limiter. */
  headers?: Headers;
}

/** How one call is made. */
export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs: number;
  /**
   * The bucket's last step before the wire: a client whose HTTP goes through `providerFetch` passes it in the
   * request's `fetch` options under `WIRE_GATE` (see `limits/wire-gate.ts`); other clients may ignore it.
   */
  wire?: WireGate;
}

/** One provider connection, made from the worker's environment. */
export interface ProviderClient {
  /** The provider's name, as curators give it. */
  readonly provider: string;
  readonly baseURL: string;
  /** Sends one request and maps the answer; throws what `classify` understands when it fails. */
  call(request: ProviderRequest, options: CallOptions): Promise<ProviderAnswer>;
  /**
   * Sends the smallest streamed request for `model` (one user message, "hi") and resolves with the response headers
   * as soon as they arrive, giving up the rest of the stream at once: the rate limiter learns a bucket's limits from
   * them within a time to first token rather than a whole answer's latency (`src/limits/limits-probe.ts`). Resolves
   * to undefined when the server answered but not with a stream (nothing is learned then). Throws as `call` does, so
   * `classify` understands its errors. Optional: a client without it is never probed.
   */
  probeLimits?(model: string, options: CallOptions): Promise<Headers | undefined>;
  /**
   * What a failed call means: retry later, fail the request, or stop the job.
   * @defaultValue `classifyError`, for errors shaped as the `openai` and `@anthropic-ai/sdk` SDKs throw them
   */
  classify?(err: unknown): RequestError;
}

/** The choices of an answer: its `choices`, or the answer itself when it has one. */
export function choicesOf(answer: ProviderChoice & { choices?: ProviderChoice[] }): ProviderChoice[] {
  return answer.choices ?? [answer];
}
