/** Tokens used and what they cost. */

/** Tokens counted by the provider. */
export interface TokenUsage {
  /** Prompt (input) tokens. */
  input: number;
  /** Completion (output) tokens, reasoning included. */
  output: number;
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
