/** One request as the engine formats it, and why an attempt of it failed: what every stage passes along. */
import type { ChatMessage } from './messages';
import type { JsonSchema } from './schema';

/** One request as the engine formats it, before a provider turns it into its own body. */
export interface ProviderRequest {
  model: string;
  messages: ChatMessage[];
  /** The curator's generation params, passed verbatim into the body. */
  params: Record<string, unknown>;
  /** Structured output schema, when the curator has a response format. */
  schema?: JsonSchema;
  /** The tools the model may call, their parameters as JSON Schema. */
  tools?: RequestTool[];
  /** Which tool the model calls, when the curator says. */
  toolChoice?: ToolChoice;
}

/** A tool of a request, in the provider-neutral form each provider module maps to its own. */
export interface RequestTool {
  name: string;
  description?: string;
  /** The JSON Schema of the call's arguments. */
  parameters: JsonSchema;
}

/**
 * Whether and which tool the model calls: `auto` (it decides), `none`, `required` (some tool), or one tool by name.
 * Anthropic's `any` is `required` here.
 */
export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };

/** Error classes recorded per attempt and used by the retry decision. */
export type ErrorType =
  | 'RateLimited'
  | 'ServerError'
  | 'Overloaded'
  | 'Timeout'
  | 'ConnectionError'
  | 'EndpointUnreachable'
  | 'InvalidFinishReason'
  | 'Refusal'
  | 'SchemaMismatch'
  | 'InvalidJson'
  | 'EmptyResponse'
  | 'MalformedResponse'
  | 'BadRequest'
  | 'AuthenticationFailed'
  | 'PermissionDenied'
  | 'NotFound'
  | 'InsufficientQuota'
  | 'RequestTooLarge'
  | 'InvalidRow'
  | 'PromptError'
  | 'ParseError'
  /** The curator's `reuseAnswer` threw for the request's row: nothing was sent for it. */
  | 'ReuseError'
  | 'ProviderError'
  /** Batch mode: the provider batch ended (its window ran out) before the request was processed. */
  | 'Expired'
  /** Batch mode: the provider batch was cancelled before the request was processed. */
  | 'Canceled'
  /** Batch mode: the provider rejected the whole batch (its validation failed). */
  | 'BatchFailed';

/** Why one attempt of a request failed, classified: what the retry decision and the response log see. */
export interface RequestError {
  type: ErrorType;
  message: string;
  status?: number;
  retryable: boolean;
  /** The provider's retry hint in milliseconds (retry-after-ms, retry-after, reset headers). */
  retryAfterMs?: number;
  /** True when the error concerns the account or endpoint, not the request: the job cannot progress. */
  fatal?: boolean;
}
