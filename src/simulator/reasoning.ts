/**
 * Reasoning output: OpenAI's hidden reasoning tokens (`reasoning_effort`) and Anthropic's thinking blocks
 * (`thinking.budget_tokens`). Both are billed as output tokens before the visible answer, so they share the answer's
 * token limit; both are drawn from their own PRNG so that the visible answer stays the one a plain request gets.
 */
import { createHash } from 'node:crypto';
import { generateTextOfLength, Rng } from './answers';
import { charsForTokens } from './tokens';

/** OpenAI models that reason (o-series and GPT-5, except the `-chat` variants), as the API decides by name. */
export function isReasoningModel(model: unknown): boolean {
  return typeof model === 'string' && /^(o\d|gpt-5)/.test(model) && !/-chat/.test(model);
}

/** `reasoning_effort` values the API accepts. */
export const REASONING_EFFORTS = ['none', 'minimal', 'low', 'medium', 'high', 'xhigh'] as const;

/** Reasoning tokens per effort, as [min, max]: more effort, more tokens. */
const EFFORT_TOKENS: Record<string, [number, number]> = {
  none: [0, 0],
  minimal: [0, 64],
  low: [64, 256],
  medium: [256, 1024],
  high: [1024, 4096],
  xhigh: [2048, 8192],
};

/** Reasoning tokens of one choice of a reasoning model (`medium` effort when unset, as the API defaults). */
export function reasoningTokens(effort: unknown, seedParts: string[]): number {
  const [min, max] = EFFORT_TOKENS[typeof effort === 'string' ? effort : 'medium'] ?? [256, 1024];
  return new Rng(...seedParts, 'reasoning').int(min, max);
}

/** An Anthropic `thinking` block: text of an eighth to a half of the budget, and a signature over it. */
export function thinkingBlock(
  budget: number,
  seedParts: string[]
): { type: 'thinking'; thinking: string; signature: string } {
  const rng = new Rng(...seedParts, 'thinking');
  const tokens = rng.int(Math.floor(budget / 8), Math.floor(budget / 2));
  const thinking = generateTextOfLength(rng, charsForTokens(tokens));
  const digest = createHash('sha512').update(seedParts.join('\u0000')).update(thinking).digest();
  return { type: 'thinking', thinking, signature: Buffer.concat([digest, digest]).toString('base64') };
}
