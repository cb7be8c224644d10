/** Tokens used and what they cost. */

/** Tokens counted by the provider. */
export interface TokenUsage {
  /** Prompt (input) tokens. */
  input: number;
  /** Completion (output) tokens, reasoning included: reasoning is billed as output. */
  output: number;
  /**
   * The part of `output` the model spent reasoning before its answer (OpenAI's
   * `usage.completion_tokens_details.reasoning_tokens`); absent when the provider does not count it apart (Anthropic
   * bills thinking inside `output_tokens`) or the model did not reason.
   */
  reasoning?: number;
}

/** A model's prices, per million tokens, and where they come from. */
export interface Prices {
  /** US dollars per million input tokens. */
  inputPerMillion: number;
  /** US dollars per million output tokens. */
  outputPerMillion: number;
  /** The curator's own prices (`inputCostPerMillion` / `outputCostPerMillion`), or the maintained price list. */
  source: 'curator' | 'genai-prices';
  /** Batch-mode prices: half the synchronous ones. */
  batch?: boolean;
}
