/**
 * The answer `parse` receives as its third argument: every choice of the accepted answer, typed, with its tool calls
 * already parsed from JSON, the usage, and the provider's raw body when the curator asks for it. It is read back from
 * the shard's response log, so re-parsing a cached run makes no call.
 */
import type { TokenUsage } from './usage';

/** One tool call of an answer, its arguments parsed from JSON and checked against the tool's parameters. */
export interface ToolCall<Args = unknown> {
  /** The provider's id of the call (`call_...`, `toolu_...`). */
  id: string;
  /** The name of the tool called: one of the curator's `tools`. */
  name: string;
  /** The arguments, parsed from JSON and valid against the tool's parameters (the zod output for a zod schema). */
  arguments: Args;
}

/** One completion of a prompt: with `n` above 1, an answer has several. */
export interface AnswerChoice<R = unknown> {
  /** 0-based position among the answer's choices. */
  index: number;
  /**
   * The accepted value: the validated object of a structured answer, else the text (`null` for an answer made of
   * tool calls only).
   */
  value: R;
  /** The text of the answer, `null` when it has none (tool calls only, or a structured answer given as a tool). */
  text: string | null;
  /** The tool calls of the answer, in order; empty when there are none. */
  toolCalls: ToolCall[];
  /** The provider's own finish reason (`stop`, `tool_calls`, `end_turn`, `tool_use`, ...). */
  finishReason: string;
  /** The model's thinking before this choice, when it had some (see {@link Answer.thinking}). */
  thinking?: string;
}

/** Every choice of one request's accepted answer, as `parse(row, response, answer)` receives it. */
export interface Answer<R = unknown> {
  /** The choices, in order; `choices[0].value` is the `response` argument of `parse`. */
  choices: AnswerChoice<R>[];
  /**
   * Tokens of the answer, every choice counted (and for Anthropic's `n`, every call). When a retry completed an
   * Anthropic answer whose other calls came in an earlier attempt, the tokens of the retry's calls (the run's stats
   * count the earlier ones with that attempt). `usage.reasoning` is the part of the output the model spent
   * reasoning, when the provider counts it (OpenAI).
   */
  usage: TokenUsage;
  /**
   * The model's thinking before its answer (the first choice's; with `n`, each choice's is in `choices[k].thinking`),
   * as text: Anthropic extended thinking (`thinking: {type: 'enabled', budget_tokens}`), or the `reasoning_content` /
   * `reasoning` of OpenAI-compatible servers; absent when there was none (OpenAI keeps its reasoning hidden: only
   * `usage.reasoning` counts it).
   */
  thinking?: string;
  /** The provider's id of the response (or of its first call). */
  requestId?: string;
  /**
   * The provider's response body as it came (OpenAI: the chat completion; Anthropic: the message, or with `n` above
   * 1 the array of the `n` messages). Only when the curator sets `includeRawAnswer`; recorded with the answer.
   */
  raw?: unknown;
}
