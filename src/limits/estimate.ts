/**
 * Output token estimates before sending, reconciled with the response's `usage` afterwards. Input tokens are each
 * provider's own estimate (`Provider.estimateInputTokens`).
 *
 * Reasoning output counts as output (it is billed and rate-limited as output), so a request that asks for reasoning
 * is estimated higher until real sizes are observed: by its Anthropic `thinking.budget_tokens`, or by an allowance
 * per OpenAI `reasoning_effort` ({@link REASONING_EFFORT_ALLOWANCE}), always within its max_tokens.
 */
import type { ProviderRequest } from '../types/requests';
import type { Limits } from '../types/limits';

/** Assumed output when the request sets no max_tokens and nothing has been observed yet. */
const DEFAULT_OUTPUT = 256;

/**
 * Reasoning tokens assumed per OpenAI `reasoning_effort` before any answer is observed: the high end of what the
 * effort usually spends, so that the first requests of a job do not overrun a tokens-per-minute limit.
 */
export const REASONING_EFFORT_ALLOWANCE: Readonly<Record<string, number>> = {
  none: 0,
  minimal: 64,
  low: 256,
  medium: 1024,
  high: 4096,
  xhigh: 8192,
};

export function maxOutputTokens(request: ProviderRequest): number | undefined {
  const p = request.params;
  const value = p.max_completion_tokens ?? p.max_tokens;
  return typeof value === 'number' && value > 0 ? value : undefined;
}

/** The `budget_tokens` of Anthropic's `thinking: {type: 'enabled', budget_tokens}`, when extended thinking is on. */
export function thinkingBudget(params: Record<string, unknown>): number | undefined {
  const thinking = params.thinking as { type?: unknown; budget_tokens?: unknown } | null | undefined;
  if (!thinking || typeof thinking !== 'object' || thinking.type !== 'enabled') return undefined;
  const budget = thinking.budget_tokens;
  return typeof budget === 'number' && budget > 0 ? budget : undefined;
}

/**
 * The reasoning output a request asks for, before any is observed: its thinking budget, or the allowance of its
 * `reasoning_effort` (an unknown effort counts as `medium`); 0 when it asks for none.
 */
export function reasoningAllowance(request: ProviderRequest): number {
  const budget = thinkingBudget(request.params);
  if (budget !== undefined) return budget;
  const effort = request.params.reasoning_effort;
  if (typeof effort !== 'string') return 0;
  return REASONING_EFFORT_ALLOWANCE[effort] ?? REASONING_EFFORT_ALLOWANCE.medium;
}

/** Keeps a moving average of real output sizes, per bucket, to estimate requests that set no max_tokens. */
export class OutputEstimator {
  private readonly recent: number[] = [];

  /** `outputTokens`: the answer's whole output, reasoning included. */
  observe(outputTokens: number): void {
    this.recent.push(outputTokens);
    if (this.recent.length > 50) this.recent.shift();
  }

  /** `reservesMaxTokens`: the provider counts max_tokens against the output budget up front (Anthropic). */
  estimate(request: ProviderRequest, reservesMaxTokens: boolean): number {
    const max = maxOutputTokens(request);
    if (reservesMaxTokens && max !== undefined) return max;
    // Observed sizes include reasoning already; before any, the request's own reasoning allowance is added.
    const average = this.recent.length
      ? Math.ceil(this.recent.reduce((a, b) => a + b, 0) / this.recent.length)
      : DEFAULT_OUTPUT + reasoningAllowance(request);
    return max !== undefined ? Math.min(max, average) : average;
  }
}

/**
 * The characters of a request's text, or undefined when it has images or files: their tokens are the provider's to
 * count. Read from the messages as they are, without serializing them (a prompt may carry megabytes of base64).
 */
export function textChars(request: ProviderRequest): number | undefined {
  let chars = 0;
  for (const m of request.messages) {
    if (typeof m.content === 'string') {
      chars += m.content.length;
      continue;
    }
    for (const part of m.content) {
      if (part.type !== 'text') return undefined;
      chars += part.text.length;
    }
  }
  return chars;
}

/**
 * The share of a token limit that requests counted by their length alone may fill at the bucket's request limit,
 * each assumed to take a token per character (more than any tokenizer yields on text), before their input is
 * counted exactly.
 */
export const UNCOUNTED_TOKEN_SHARE = 0.5;

/**
 * Whether a request's input tokens need the provider's exact count, or a count by its length will do. Only a token
 * limit the bucket could reach needs the exact count: at its request limit, requests of `chars` characters (a token
 * each, at most) and `output` tokens out would fill more than {@link UNCOUNTED_TOKEN_SHARE} of it. Far from every
 * token limit (most jobs at OpenAI's tiers, where the request limit binds first), no estimate changes when a request
 * is sent, and the tokenizer, whose tables are a large part of a worker's memory (bench/README.md), is never
 * loaded. Without any request limit, a token limit is the one that binds.
 */
export function inputNeedsCount(limits: Limits, chars: number, output: number): boolean {
  const perMinute = Math.min(
    limits.requestsPerMinute ?? Infinity,
    limits.requestsPerSecond !== undefined ? limits.requestsPerSecond * 60 : Infinity
  );
  const reach = (limit: number | undefined, perRequest: number) =>
    limit !== undefined && perMinute * perRequest > UNCOUNTED_TOKEN_SHARE * limit;
  return reach(limits.tokensPerMinute, chars + output) || reach(limits.inputTokensPerMinute, chars);
}
