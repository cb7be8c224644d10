/** Rate limits and what one request costs against them. */

/** The limits of one bucket; an absent field is not limited. */
export interface Limits {
  requestsPerMinute?: number;
  /** Input and output combined (OpenAI's model). */
  tokensPerMinute?: number;
  /** Separate budgets (Anthropic's model). */
  inputTokensPerMinute?: number;
  outputTokensPerMinute?: number;
  /** For providers that count per second. */
  requestsPerSecond?: number;
}

/** What one request costs against a bucket: one request, and its input and output tokens. */
export interface Cost {
  requests: number;
  input: number;
  output: number;
}
