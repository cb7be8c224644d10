/**
 * A curator is the user's definition of one LLM transformation: how a dataset row becomes a prompt, which model
 * answers it, and how the answer becomes zero or more output rows.
 *
 * Curators hold functions, which a Temporal payload cannot carry, so they are registered on the worker by name
 * and workflows refer to them by that name only.
 */
import { resolveResponseFormat } from './schema';
import type { Answer } from './types/answer';
import type { ChatMessage, ChatRole } from './types/messages';
import type { ToolChoice } from './types/requests';
import type { JsonSchema, ZodLike } from './types/schema';

export type { ChatMessage, ChatRole, ToolChoice, ZodLike };

/** A tool the model may call: its name, what it does, and its parameters as a zod schema or a JSON Schema object. */
export interface ToolDefinition {
  /** The tool's name, as the model calls it: letters, digits, `_` and `-`, at most 64. */
  name: string;
  /** What the tool does, told to the model. */
  description?: string;
  /** The arguments of a call: a call whose arguments break them is rejected and retried, as a schema-breaking answer. */
  parameters: ZodLike | JsonSchema;
}

/** One row of a dataset: a plain JSON object. */
export type Row = Record<string, unknown>;

/**
 * A curator's row types may be any object type, an `interface` included: an interface has no index signature, so it
 * is not a {@link Row}. Arrays and functions, which `object` would let through, are refused by {@link RowTypes}.
 */
export type RowType = object;

/** An array or a function: an `object`, but never a dataset row. */
type NotARow = readonly unknown[] | ((...args: never[]) => unknown);

/** Whether `T` is an array or a function type (`any`, which stands for every type, is not). */
type IsNotARow<T> = [T] extends [NotARow] ? ([NotARow] extends [T] ? false : true) : false;

/**
 * Refuses, where a curator is defined, row types that are arrays or functions, which {@link RowType} lets through.
 * (A type parameter cannot be constrained by a conditional type of itself, so the check sits on the definition.)
 */
export type RowTypes<In, Out> =
  IsNotARow<In> extends true
    ? { 'a row type must be a plain object type, not an array or a function': In }
    : IsNotARow<Out> extends true
      ? { 'a row type must be a plain object type, not an array or a function': Out }
      : unknown;

/** What `prompt(row)` may return: a user message as text, or a full conversation. */
export type Prompt = string | ChatMessage[];

/**
 * Which API a curator speaks: a provider registered by name (see `registerProvider`); built in are `openai` (chat
 * completions, and compatible servers), `anthropic` (messages), and presets for OpenAI-compatible servers (see
 * `PROVIDER_PRESETS`).
 */
export type Provider =
  | 'openai'
  | 'anthropic'
  | 'gemini'
  | 'deepseek'
  | 'together'
  | 'groq'
  | 'openrouter'
  | 'vllm'
  | 'ollama'
  | 'llama.cpp'
  | (string & {});

/**
 * Settings of the provider connection and the request engine. None of them changes the run fingerprint, except
 * `baseURL` and `batch`.
 */
export interface BackendParams {
  /**
   * The provider's base URL. Unlike the Python original, it is part of the fingerprint, so answers from a local
   * server are never mixed with answers from the real API.
   * @defaultValue `OPENAI_BASE_URL` / `ANTHROPIC_BASE_URL` from the worker's environment, else the provider's public
   * API
   */
  baseURL?: string;
  /**
   * How many times one request is retried after its first attempt, as in Curator.
   * @defaultValue 10 (`DEFAULT_MAX_RETRIES`)
   */
  maxRetries?: number;
  /**
   * Time limit of one HTTP attempt, in milliseconds.
   * @defaultValue 600,000 for reasoning models (o-series, GPT-5, R1, "thinking" models), else 180,000
   * (`defaultRequestTimeoutMs`)
   */
  requestTimeoutMs?: number;
  /**
   * Requests handled by one activity. 1 works too: one activity per request.
   * @defaultValue 100 (`DEFAULT_BATCH_SIZE`); in batch mode 10,000 (`DEFAULT_BATCH_MODE_BATCH_SIZE`)
   */
  batchSize?: number;
  /**
   * The most requests in flight at once, per worker process. Below it, the worker sizes the number itself: from the
   * rate limit and the measured latency (Little's law, with headroom) when a limit is known, else by probing the
   * server's capacity (it grows until refusals or queueing show, then backs off).
   *
   * @defaultValue 1/32 of the machine's memory (its container's limit, where lower) at 64 KiB per request, between
   * 256 and 8,192 (`MIN_DEFAULT_CEILING`, `MAX_DEFAULT_CEILING`)
   */
  maxConcurrentRequests?: number;
  /**
   * Throw after saving everything when any request failed for good, as in Curator.
   * @defaultValue true (`DEFAULT_REQUIRE_ALL_RESPONSES`)
   */
  requireAllResponses?: boolean;
  /**
   * Finish reasons treated as failures and retried.
   * @defaultValue `['length', 'content_filter']` (`DEFAULT_INVALID_FINISH_REASONS`)
   */
  invalidFinishReasons?: string[];
  /**
   * Requests per minute the provider allows. Without any limit set, the limits are read from the provider's
   * rate-limit headers; with no headers either (self-hosted servers), concurrency adapts to 429s.
   */
  maxRequestsPerMinute?: number;
  /** Tokens per minute the provider allows (input and output combined, OpenAI's model). */
  maxTokensPerMinute?: number;
  /** Input tokens per minute, for providers that budget input and output apart (Anthropic). */
  maxInputTokensPerMinute?: number;
  /** Output tokens per minute, for providers that budget input and output apart (Anthropic). */
  maxOutputTokensPerMinute?: number;
  /** Requests per second, for providers that count per second (Together, some gateways). */
  maxRequestsPerSecond?: number;
  /**
   * Whether the worker may send one tiny streamed request ("hi", as Curator's own probe) for a bucket with no limit
   * known (none set here, none learned yet), to read the rate-limit headers as soon as the stream starts: the job then
   * leaves its one-request-at-a-time start after a time to first token instead of a whole answer. Once per provider,
   * base URL and model per worker process; never with any of the limits above set. A probe
   * that fails or a server that does not stream changes nothing (the first answer tells the limits, as without it).
   * @defaultValue true
   */
  probeLimits?: boolean;
  /** US dollars per million input tokens; overrides the maintained price list (fractions welcome). */
  inputCostPerMillion?: number;
  /** US dollars per million output tokens; overrides the maintained price list. */
  outputCostPerMillion?: number;
  /**
   * Batch mode, Curator's `batch=True`: requests go through the provider's batch API (OpenAI Batch, Anthropic Message
   * Batches) instead of one call each, at half price, with results within the provider's window (24 hours, often
   * minutes). Part of the fingerprint, as in Curator: batch and synchronous runs keep separate caches. The prices
   * (listed or `inputCostPerMillion` / `outputCostPerMillion`) are the synchronous ones; batch mode halves them.
   */
  batch?: boolean;
  /**
   * Answer each request that any run of the cache directory already answered (the same body to the same provider,
   * base URL and mode) from that answer, with no call: then changing one row (its text or its
   * `rowGenerationParams`) makes one new call, not a run's worth. Every accepted answer is kept for this (one small
   * file each under `answers/` in the cache directory) while it is on. To reuse answers to the same prompt asked
   * with other params, see {@link CuratorDefinition.reuseAnswer}.
   * @defaultValue false (`DEFAULT_REUSE_ANSWERS`): each run asks anew, as in Curator
   */
  reuseAnswers?: boolean;
  /**
   * Batch mode: seconds between status checks of submitted batches, as Curator's `batch_check_interval`.
   * @defaultValue 60 (`DEFAULT_BATCH_POLL_INTERVAL_SECONDS`)
   */
  batchPollIntervalSeconds?: number;
  /**
   * Batch mode: OpenAI's `completion_window`.
   * @defaultValue `'24h'`, the only value OpenAI accepts today (`DEFAULT_BATCH_COMPLETION_WINDOW`)
   */
  batchCompletionWindow?: string;
  /**
   * Batch mode: most requests per provider batch, capped at the provider's limit. A batch of `batchSize` rows larger
   * than this, or than the byte limit, is split into several.
   * @defaultValue the provider's limit: OpenAI 50,000, Anthropic 100,000
   */
  batchMaxRequests?: number;
  /**
   * Batch mode: most bytes per provider batch, capped at the provider's limit.
   * @defaultValue the provider's limit: OpenAI 200 MB per input file, Anthropic 256 MB
   */
  batchMaxBytes?: number;
}

/** A user's curator definition. */
export interface CuratorDefinition<In extends RowType = Row, Out extends RowType = Row, R = unknown> {
  /** Unique name: the worker registers the curator under it and clients run it by it. */
  name: string;
  /** The model name sent to the provider. */
  model: string;
  /**
   * Which API to speak.
   * @defaultValue `anthropic` for model names containing "claude", else `openai`
   */
  provider?: Provider;
  /** Builds the prompt for one row. Its source text is part of the fingerprint. */
  prompt: (row: In) => Prompt;
  /** Prepended as a system message. */
  systemPrompt?: string;
  /** Structured output: a zod schema or a JSON Schema object. */
  responseFormat?: ZodLike<R> | JsonSchema;
  /**
   * Tools the model may call (OpenAI `tools`, Anthropic `tools`). `parse` finds the calls, their arguments parsed and
   * checked, in `answer.choices[k].toolCalls`. Part of the fingerprint.
   *
   * @example
   * tools: [{ name: 'get_weather', parameters: z.object({ city: z.string() }) }],
   * // arguments are typed `unknown`: the schema checked them, the cast names their shape
   * parse: (row, _text, answer) =>
   *   answer.choices[0].toolCalls.map((call) => ({ id: row.id, ...(call.arguments as { city: string }) })),
   */
  tools?: ToolDefinition[];
  /**
   * Which tool the model calls, when {@link CuratorDefinition.tools} are declared. Part of the fingerprint.
   * @defaultValue the provider's default (`auto`)
   */
  toolChoice?: ToolChoice;
  /**
   * Keep the provider's response body with each answer, for what the typed answer does not cover (logprobs, provider
   * extras): `parse` reads it as `answer.raw`, and re-parsing a cached run still has it without a call. Part of the
   * fingerprint (a run without it has no raw bodies to give), and the response log grows by the bodies' size.
   * @defaultValue false
   */
  includeRawAnswer?: boolean;
  /**
   * Turns one response into output rows. Returning an array fans out (0..n rows); `null`, `undefined` or `[]` record
   * an empty result that is kept, never re-requested. Not part of the fingerprint: changing it re-parses cached
   * responses with zero API calls. `response` is the accepted value of the first choice; `answer` holds every choice
   * (with `n` in the generation params), their text, finish reasons and tool calls, the usage, and the raw body when
   * {@link CuratorDefinition.includeRawAnswer} is on.
   * @defaultValue `{ response }` for text, the object itself for structured output
   *
   * @example
   * // n: 3 completions, a row each
   * parse: (row, _first, answer) => answer.choices.map((c) => ({ id: row.id, k: c.index, text: c.value })),
   */
  parse?: (row: In, response: R, answer: Answer<R>) => Out | Out[] | null | undefined;
  /** Passed verbatim into the provider request body (temperature, max_tokens, ...). Part of the fingerprint. */
  generationParams?: Record<string, unknown>;
  /**
   * Generation params of one row, merged over {@link CuratorDefinition.generationParams} (a row's value wins; `null`
   * or `undefined` drops the key): a function of the row, or the name of a field of the row that holds an object.
   * Part of the fingerprint (the function's source or the field's name; the values through the dataset). A row whose
   * params are not an object of JSON values fails alone, naming the row.
   *
   * @example
   * rowGenerationParams: (row: { difficulty: string }) => ({ temperature: row.difficulty === 'hard' ? 1 : 0.2 })
   */
  rowGenerationParams?: ((row: In) => Record<string, unknown> | null | undefined) | string;
  /**
   * Reuse after a param change: each request first looks for the answers that any run of the cache directory kept
   * for the same prompt (the same request body once its generation params are left out: same messages, model,
   * schema and tools, to the same provider, base URL and mode): the answer to the identical request first, then the
   * others newest first; it takes the first this predicate accepts instead of a call. Not part of the fingerprint.
   * Turns {@link BackendParams.reuseAnswers} on (answers are kept only while it is on, so the earlier run needs it
   * too). Finish reasons are the provider's own: `stop` / `length` for OpenAI, `end_turn` / `max_tokens` for
   * Anthropic. A reused answer is recorded in this run's response log with where it came from
   * (`reused`: the stored answer, its params, run and job), so a rerun is a plain cache hit; it counts in
   * `stats.cached` and `stats.reused`, and costs nothing. It is not checked again against `invalidFinishReasons`:
   * the predicate decides. A predicate that throws fails that row alone, naming it, and nothing is sent for it.
   *
   * @example
   * // Rerun with a larger max_tokens: keep the answers that finished, ask again only the truncated ones.
   * generationParams: { max_tokens: 2000 },
   * reuseAnswer: (answer) => answer.choices[0].finishReason === 'stop',
   */
  reuseAnswer?: (answer: Answer<R>, context: ReuseContext<In>) => boolean;
  /** Provider connection and engine settings. */
  backend?: BackendParams;
}

/** What {@link CuratorDefinition.reuseAnswer} knows of a stored answer besides the answer itself. */
export interface ReuseContext<In extends RowType = Row> {
  /** The row of the request that may take the answer. */
  row: In;
  /** The generation params the stored answer was asked with (`{}` for answers kept before they were recorded). */
  params: Record<string, unknown>;
  /** The generation params of the request now. */
  currentParams: Record<string, unknown>;
  /** Whether the stored answer was asked with exactly this request's body. */
  identical: boolean;
}

/** A registered curator: the definition with its defaults resolved. */
export interface Curator<In extends RowType = Row, Out extends RowType = Row, R = unknown> extends CuratorDefinition<
  In,
  Out,
  R
> {
  provider: Provider;
}

/** Params without the keys set to null or undefined: those mean "not set" and are dropped, as Curator does. */
export function withoutUnset(params: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined && v !== null));
}

/** The curator's own generation params as sent (before any row's params are merged over them). */
export function requestParams(curator: Curator): Record<string, unknown> {
  return withoutUnset(curator.generationParams ?? {});
}

/** What identifies a curator's per-row params in the fingerprint: the function's source or the field's name. */
export function rowParamsIdentity(curator: Curator): string | { field: string } | null {
  const source = curator.rowGenerationParams;
  if (source === undefined) return null;
  return typeof source === 'string' ? { field: source } : source.toString();
}

/** Refuses tools a provider would reject (or that could not be told apart), where the curator is defined. */
function checkTools(curator: string, tools: ToolDefinition[] | undefined, choice: ToolChoice | undefined): void {
  if (tools !== undefined && !Array.isArray(tools)) throw new TypeError(`curator '${curator}': tools must be an array`);
  const names = new Set<string>();
  for (const [k, tool] of (tools ?? []).entries()) {
    const name = (tool as Partial<ToolDefinition> | null)?.name;
    if (typeof name !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
      throw new TypeError(
        `curator '${curator}': tool ${k} needs a name of 1-64 letters, digits, '_' or '-', got ${JSON.stringify(name)}`
      );
    }
    if (names.has(name)) throw new TypeError(`curator '${curator}': two tools are named '${name}'`);
    names.add(name);
    try {
      if (!resolveResponseFormat(tool.parameters)) throw new TypeError('parameters are required');
    } catch (err) {
      throw new TypeError(`curator '${curator}': tool '${name}': ${(err as Error).message}`);
    }
  }
  if (choice === undefined) return;
  const named = typeof choice === 'object' && choice !== null ? choice.name : undefined;
  if (named === undefined && !['auto', 'none', 'required'].includes(choice as string)) {
    throw new TypeError(
      `curator '${curator}': toolChoice must be 'auto', 'none', 'required' or { name }, got ${JSON.stringify(choice)}`
    );
  }
  if (names.size === 0) throw new TypeError(`curator '${curator}': toolChoice is set but no tools are declared`);
  if (named !== undefined && !names.has(named)) {
    throw new TypeError(`curator '${curator}': toolChoice names '${named}', which is not one of its tools`);
  }
}

/**
 * Defines a curator. The result is what a worker registers and what `curate()` and the CLI accept.
 *
 * @throws TypeError for an invalid definition, a `responseFormat` with no JSON Schema form (e.g. a zod 3 `z.date()`)
 * included.
 *
 * @example
 * const poems = defineCurator({
 *   name: 'poems',
 *   model: 'gpt-4o-mini',
 *   prompt: (row: { topic: string }) => `Write a short poem about ${row.topic}.`,
 *   parse: (row, poem: string) => ({ topic: row.topic, poem }),
 * });
 */
export function defineCurator<In extends RowType = Row, Out extends RowType = Row, R = any>(
  definition: CuratorDefinition<In, Out, R> & RowTypes<In, Out>
): Curator<In, Out, R> {
  if (!definition || typeof definition !== 'object') throw new TypeError('defineCurator expects an object');
  const { name, model, prompt } = definition;
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name)) {
    throw new TypeError(`curator name must be 1-100 letters, digits, '.', '_' or '-', got ${JSON.stringify(name)}`);
  }
  if (typeof model !== 'string' || model.length === 0) throw new TypeError(`curator '${name}': model is required`);
  if (typeof prompt !== 'function') throw new TypeError(`curator '${name}': prompt(row) must be a function`);
  if (definition.parse !== undefined && typeof definition.parse !== 'function') {
    throw new TypeError(`curator '${name}': parse must be a function`);
  }
  const provider = definition.provider ?? (/claude/i.test(model) ? 'anthropic' : 'openai');
  if (typeof provider !== 'string' || provider.length === 0) {
    throw new TypeError(
      `curator '${name}': provider must be the name of a provider ('openai', 'anthropic', or one added with ` +
        `registerProvider), got '${String(provider)}'`
    );
  }
  if (definition.reuseAnswer !== undefined && typeof definition.reuseAnswer !== 'function') {
    throw new TypeError(`curator '${name}': reuseAnswer must be a function of a stored answer`);
  }
  const rowParams = definition.rowGenerationParams;
  if (rowParams !== undefined && typeof rowParams !== 'function' && !(typeof rowParams === 'string' && rowParams)) {
    throw new TypeError(`curator '${name}': rowGenerationParams must be a function of the row or a field name`);
  }
  // Converted here, once, so that a schema the library cannot use fails where the curator is defined, not in a
  // worker's activity retried for minutes.
  try {
    resolveResponseFormat(definition.responseFormat);
  } catch (err) {
    throw new TypeError(`curator '${name}': ${(err as Error).message}`);
  }
  checkTools(name, definition.tools, definition.toolChoice);
  return Object.freeze({ ...definition, provider });
}
