/**
 * Public types of the loopback provider simulator. They live apart from the implementation so that user code (and
 * the other simulator modules) can import them without pulling in the HTTP server.
 */

import type { SimHeaderDialect } from './header-dialects';

/** The two wire formats the simulator speaks. */
export type SimProvider = 'openai' | 'anthropic';

/** How the simulator is configured. Every field is optional; see each field for its default. */
export interface SimulatorOptions {
  /** TCP port on 127.0.0.1. `0` (the default) picks a random free port. */
  port?: number;
  /**
   * Delay before every response (success and error), in milliseconds, drawn per request (see {@link LatencySpec}).
   * Delays are timers, so thousands of slow requests cost little CPU. Default 0.
   */
  latencyMs?: LatencySpec;
  /** Mixed into every generated answer, so two simulators with different seeds answer differently. Default `'sim'`. */
  seed?: string;
  /**
   * Per-minute limits and how they are enforced (see {@link RateLimitOptions}). Unset limits are not enforced, but
   * their headers still report generous defaults (10,000 RPM, 2,000,000 TPM). Each provider has its own limiter.
   */
  rateLimits?: RateLimitOptions;
  /**
   * Random transient errors that come WITH budget left, as an overloaded gateway sends them: they are decided before
   * the rate limiter (so they debit nothing) and their rate-limit headers report the true, non-zero `remaining`.
   */
  transient?: TransientOptions;
  /**
   * A server of limited capacity without rate-limit headers, like vLLM, Ollama or llama.cpp: it serves at most
   * `concurrent` completion requests at once (each for its latency), queues up to `queue` more in arrival order, and
   * answers 503 at once beyond that. Rate-limit headers are left out in this mode. Unset: unlimited.
   */
  capacity?: { concurrent: number; queue?: number };
  /** Programmatic fault rules, tried in order after any in-band `[[sim:...]]` directive. */
  faults?: FaultRule[];
  /** When set, any other key gets the provider's 401. When unset, any non-empty key is accepted; a missing one is 401. */
  validApiKeys?: string[];
  /** Leave out all rate-limit headers, as some real accounts and endpoints do. */
  omitRateLimitHeaders?: boolean;
  /**
   * The rate-limit header dialect of OpenAI-format answers: OpenAI's per-minute headers, Groq's (requests per day,
   * tokens per minute) or Together's (per second, `x-ratelimit-*` and `x-tokenlimit-*`).
   * @defaultValue `'openai'`
   */
  rateLimitHeaderDialect?: SimHeaderDialect;
  /** The batch APIs (OpenAI Files and Batches, Anthropic Message Batches). */
  batches?: BatchOptions;
  /**
   * Streamed requests (`stream: true`): when the status and headers go out, as a share of the drawn latency bounded
   * to a few hundred milliseconds; the answer's events follow, spread until the drawn latency.
   * @defaultValue `{ share: 0.1, maxMs: 300 }`
   */
  firstToken?: FirstTokenOptions;
}

/**
 * When a streamed response's headers go out: a share of the request's drawn latency, at most `maxMs`. Real providers
 * send the headers with the first token, a few hundred milliseconds after the request for most models, whatever the
 * length of the answer.
 */
export interface FirstTokenOptions {
  /**
   * The share of the drawn latency before the first token.
   * @defaultValue 0.1
   */
  share?: number;
  /**
   * The most time before the first token, in ms.
   * @defaultValue 300
   */
  maxMs?: number;
}

/**
 * A per-request latency distribution, in milliseconds:
 * - a number: that fixed delay;
 * - `{ min, max }`: uniform in [min, max];
 * - `{ median, p99, max? }`: log-normal with that median and 99th percentile (e.g. `p99 = 5 * median` for a long
 *   tail), cut at `max` when given.
 */
export type LatencySpec = number | { min: number; max: number } | { median: number; p99: number; max?: number };

/** Per-minute limits and their enforcement mode. */
export interface RateLimitOptions {
  /** Requests per minute. */
  rpm?: number;
  /** Tokens (input plus output) per minute. */
  tpm?: number;
  /** Input tokens per minute. */
  inputTpm?: number;
  /** Output tokens per minute. */
  outputTpm?: number;
  /**
   * How the per-minute limits are enforced:
   * - `'sliding-window'`: over a sliding window of `windowMs`; the window starts empty, so a whole minute's budget
   *   can go out at once. `remaining` is the limit minus the window's usage; `reset` the time until it all expires.
   * - `'per-second'`: OpenAI's quantization ("60,000 requests/minute may be enforced as 1,000 requests/second"):
   *   each limit is enforced as `floor(limit / 60)` (at least 1) over any one-second interval.
   * - `'token-bucket'`: Anthropic's continuously refilled bucket, `limit / 60` per second, holding `burstSeconds` of
   *   refill.
   *
   * The two short-interval modes report the per-minute limit in `limit`, and in `remaining` / `reset` a bucket of that
   * limit refilled continuously (as OpenAI's observed headers and Anthropic's docs describe): a client pacing evenly
   * at the limit sees `remaining` near the limit. When the short interval is used up, `remaining` is 0 and `reset`
   * the time until a request is admitted again (so every 429 of these modes says `remaining: 0`).
   *
   * Tokens are debited with what the request actually used (`usage` of the response: prompt plus completion tokens),
   * so a client that reconciles its own budget from `usage` tracks the simulator's state exactly.
   *
   * @defaultValue `'sliding-window'`
   */
  enforcement?: 'sliding-window' | 'per-second' | 'token-bucket';
  /**
   * Window of `'sliding-window'` enforcement, in ms.
   *
   * @defaultValue 60000
   */
  windowMs?: number;
  /**
   * Size of a `'token-bucket'` bucket, in seconds of refill: 1 admits a burst of `limit / 60`, 60 a whole minute's
   * limit at once.
   *
   * @defaultValue 1
   */
  burstSeconds?: number;
}

/** Random transient errors; rates are chances in [0, 1] per completion request. */
export interface TransientOptions {
  /**
   * Chance of a 429 while budget is left: OpenAI gets `rate_limit_exceeded` with an "overloaded" message, Anthropic
   * `rate_limit_error`; both carry `retry-after` and the true `remaining` headers (never forced to 0).
   *
   * @defaultValue 0
   */
  rate429?: number;
  /**
   * Chance of an Anthropic 529 `overloaded_error` (Anthropic requests only; OpenAI has no 529).
   *
   * @defaultValue 0
   */
  rate529?: number;
  /**
   * `retry-after` of the transient errors, in seconds.
   *
   * @defaultValue 1
   */
  retryAfterSeconds?: number;
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
 *   With `breaks: 'schema'` the output (text, OpenAI tool arguments, Anthropic tool input) is valid JSON that breaks
 *   the declared schema, as a model's wrong tool call is; give the rule a `probability` to break that share of calls.
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
      /** A 429 of congestion, not of budget: the rate-limit headers keep the true `remaining` instead of 0. */
      budgetLeft?: boolean;
    }
  | { kind: 'drop' }
  | { kind: 'slow'; ms: number }
  | { kind: 'malformed' }
  | { kind: 'finish'; reason: string }
  | { kind: 'refusal'; text?: string }
  | { kind: 'invalid-json'; breaks?: 'syntax' | 'schema' }
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
  /** Completion requests by why they were refused (a request counts once, under the first reason that applied). */
  refused: {
    /** 429s of an enforced limit (the budget was used up). */
    rateLimited: number;
    /** Transient 429s sent with budget left ({@link SimulatorOptions.transient}). */
    transient429: number;
    /** Transient Anthropic 529 `overloaded_error`s. */
    overloaded529: number;
    /** 503s of a full server ({@link SimulatorOptions.capacity}). */
    capacity503: number;
  };
  /** Completion requests received and not yet answered. */
  inFlight: number;
  /** The most completion requests in flight at once. */
  maxInFlight: number;
  /** The most requests served at once in capacity mode (queued ones excluded); 0 without `capacity`. */
  maxServing: number;
  /**
   * Completion requests answered 200, counted by the second (epoch seconds, `Math.floor(at / 1000)`) in which the
   * limiter admitted them: to check that no second, or minute, carried more than the limit.
   */
  admittedPerSecond: Map<number, number>;
}

/** One completion request as the simulator saw it. */
export interface RecordedRequest {
  /** When it was received, in ms since the epoch. */
  at: number;
  /**
   * When its response was over (its last byte written, or the client gone mid-stream), in ms since the epoch; unset
   * while it is in flight and for requests answered inside a provider batch.
   */
  endedAt?: number;
  provider: SimProvider;
  /** URL path, e.g. `/v1/chat/completions`. */
  path: string;
  /** All message contents (and the Anthropic `system`) joined with `"\n"`. */
  prompt: string;
  /** Response status; `0` when the connection was dropped on purpose. */
  status: number;
  /** The provider batch that carried the request, for requests answered inside a batch. */
  batchId?: string;
  /** Whether the request asked for a streamed answer (`stream: true`). */
  stream?: boolean;
  /** The SDK's `X-Stainless-Retry-Count` header: 0 on the first attempt, 1 on the first retry, … */
  retryCount?: number;
  model?: string;
  /** The body's generation params (every field but the model and the conversation), as sent. */
  params?: Record<string, unknown>;
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
