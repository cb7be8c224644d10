/**
 * Public types of the loopback provider simulator. They live apart from the implementation so that user code (and
 * the other simulator modules) can import them without pulling in the HTTP server.
 */

/** The two wire formats the simulator speaks. */
export type SimProvider = 'openai' | 'anthropic';

/** How the simulator is configured. Every field is optional; see each field for its default. */
export interface SimulatorOptions {
  /** TCP port on 127.0.0.1. `0` (the default) picks a random free port. */
  port?: number;
  /**
   * Delay before every response (success and error), in milliseconds. A number is a fixed delay; `{ min, max }`
   * draws uniformly at random per request. Default 0.
   */
  latencyMs?: number | { min: number; max: number };
  /** Mixed into every generated answer, so two simulators with different seeds answer differently. Default `'sim'`. */
  seed?: string;
  /**
   * Limits enforced over a sliding window of `windowMs` (default 60,000 ms). Unset limits are not enforced, but their
   * headers still report generous defaults (10,000 RPM, 2,000,000 TPM). Each provider has its own window.
   *
   * Tokens are debited with what the request actually used (`usage` of the response: prompt plus completion tokens),
   * so a client that reconciles its own budget from `usage` tracks the simulator's buckets exactly.
   */
  rateLimits?: { rpm?: number; tpm?: number; inputTpm?: number; outputTpm?: number; windowMs?: number };
  /** Programmatic fault rules, tried in order after any in-band `[[sim:...]]` directive. */
  faults?: FaultRule[];
  /** When set, any other key gets the provider's 401. When unset, any non-empty key is accepted; a missing one is 401. */
  validApiKeys?: string[];
  /** Leave out all rate-limit headers, as some real accounts and endpoints do. */
  omitRateLimitHeaders?: boolean;
  /** The batch APIs (OpenAI Files and Batches, Anthropic Message Batches). */
  batches?: BatchOptions;
}

/** How the simulated batch APIs behave. */
export interface BatchOptions {
  /** Simulated processing time of a batch, from creation to its end, in milliseconds (default 1,000). */
  processingMs?: number;
  /**
   * When set below `processingMs`, batches expire this long after creation instead of finishing: every request left
   * ends as expired, as when a real batch misses its 24-hour window. Unset: batches never expire.
   */
  expireAfterMs?: number;
  /** Requests per OpenAI batch input file (default 50,000). */
  openaiMaxRequests?: number;
  /** Bytes per OpenAI batch input file (default 200 MB). */
  openaiMaxBytes?: number;
  /** Requests per Anthropic message batch (default 100,000). */
  anthropicMaxRequests?: number;
  /** Bytes per Anthropic message batch create body (default 256 MB). */
  anthropicMaxBytes?: number;
  /** Results come back in shuffled order, as the providers do not promise input order (default false). */
  shuffleResults?: boolean;
}

/** A fault applied to matching completion requests. */
export interface FaultRule {
  /** A substring of, or a regular expression tested against, the request's prompt text. Unset matches everything. */
  match?: string | RegExp;
  /** Only requests to this provider. Unset matches both. */
  provider?: SimProvider;
  /** What happens to a matching request. */
  fault: FaultSpec;
  /** How many matching requests get the fault before the rule goes quiet (default: no limit). */
  times?: number;
  /** Chance in [0, 1] that a matching request gets the fault (default 1). Only applied faults count toward `times`. */
  probability?: number;
}

/**
 * What a fault does.
 *
 * - `{ status }`: an error response with the provider's error body. `type`, `code` and `message` override the body's
 *   fields; `retryAfter` (seconds, or any string such as an HTTP date) and `retryAfterMs` set the `retry-after` and
 *   `retry-after-ms` headers; `shouldRetry` sets `x-should-retry`.
 * - `drop`: the socket is destroyed without a response.
 * - `slow`: the normal response, `ms` later than usual.
 * - `malformed`: status 200 with a truncated JSON body.
 * - `finish`: the normal answer with this finish / stop reason. OpenAI and Anthropic names are translated to the other
 *   provider (`length` ⇄ `max_tokens`, `content_filter` ⇄ `refusal`, `stop` ⇄ `end_turn`, `tool_calls` ⇄ `tool_use`).
 *   A `length` / `max_tokens` answer is cut in half.
 * - `refusal`: OpenAI answers `content: null` with a `refusal` string; Anthropic answers `stop_reason: 'refusal'`.
 * - `invalid-json`: structured output that is not valid JSON (text), or that breaks the schema (Anthropic tool input).
 * - `expire`: inside a provider batch, the request is not processed before the batch expires (OpenAI error line with
 *   code `batch_expired`, Anthropic result `expired`). Synchronous requests ignore it.
 */
export type FaultSpec =
  | {
      status: number;
      retryAfter?: number | string;
      retryAfterMs?: number;
      type?: string;
      code?: string;
      message?: string;
      shouldRetry?: boolean;
    }
  | { kind: 'drop' }
  | { kind: 'slow'; ms: number }
  | { kind: 'malformed' }
  | { kind: 'finish'; reason: string }
  | { kind: 'refusal'; text?: string }
  | { kind: 'invalid-json' }
  | { kind: 'expire' };

/** Counters over the completion requests received since start or the last `reset()`. */
export interface SimulatorStats {
  /** Completion requests received. */
  total: number;
  /** Requests per prompt text (see {@link RecordedRequest.prompt}). */
  byPrompt: Map<string, number>;
  /** Requests per response status; `0` counts dropped connections. */
  byStatus: Map<number, number>;
  /** Every request, in arrival order. */
  requests: RecordedRequest[];
  /** HTTP calls to the Files and Batches endpoints of either provider (uploads, creations, polls, downloads). */
  batchCalls: number;
  /** Provider batches created (OpenAI `POST /v1/batches` and Anthropic `POST /v1/messages/batches` that succeeded). */
  batchesCreated: number;
}

/** One completion request as the simulator saw it. */
export interface RecordedRequest {
  /** When it was received, in ms since the epoch. */
  at: number;
  provider: SimProvider;
  /** URL path, e.g. `/v1/chat/completions`. */
  path: string;
  /** All message contents (and the Anthropic `system`) joined with `"\n"`. */
  prompt: string;
  /** Response status; `0` when the connection was dropped on purpose. */
  status: number;
  /** The provider batch that carried the request, for requests answered inside a batch. */
  batchId?: string;
  /** The SDK's `X-Stainless-Retry-Count` header: 0 on the first attempt, 1 on the first retry, … */
  retryCount?: number;
  model?: string;
}

/** A running simulator. */
export interface Simulator {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `url + '/v1'`: the `baseURL` for `new OpenAI(...)`. */
  openaiBaseURL: string;
  /** `url`: the `baseURL` for `new Anthropic(...)`, which appends `/v1/messages` itself. */
  anthropicBaseURL: string;
  /** Live counters; `reset()` clears them in place. */
  stats: SimulatorStats;
  /** Requests whose prompt text contains `promptText` (an exact match included), summed over prompts. */
  callsFor(promptText: string): number;
  /** Clears stats, fault counters (rules and in-band `times`) and the rate-limit windows. */
  reset(): void;
  /** Changes options of the running server; `port` is ignored. New fault rule objects start with fresh counters. */
  setOptions(o: Partial<SimulatorOptions>): void;
  /** Stops the server, cutting any request still waiting on latency. */
  close(): Promise<void>;
}
