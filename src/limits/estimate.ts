/**
 * Token estimates before sending, reconciled with the response's `usage` afterwards. A real tokenizer for the OpenAI
 * family; a conservative characters-based count for Anthropic, whose tokenizer is not public.
 */
import { countTokens } from 'gpt-tokenizer';
import type { ProviderRequest } from '../providers/types';

/** Chat formatting overhead per message and per reply, as OpenAI documents it. */
const PER_MESSAGE = 4;
const PER_REPLY = 2;
/** Assumed output when the request sets no max_tokens and nothing has been observed yet. */
const DEFAULT_OUTPUT = 256;

/**
 * BPE cost grows faster than linearly on long unbroken runs (a 5 MB string of one character would take minutes), so
 * texts beyond this length are estimated from their length, on the high side.
 */
const TOKENIZE_UP_TO_CHARS = 32_768;

export function estimateInputTokens(provider: 'openai' | 'anthropic', request: ProviderRequest): number {
  let total = PER_REPLY;
  for (const m of request.messages) {
    const exact = provider === 'openai' && m.content.length <= TOKENIZE_UP_TO_CHARS;
    // Anthropic's tokenizer yields more tokens per character than OpenAI's on most text: err on the high side.
    total += PER_MESSAGE + (exact ? countTokens(m.content) : Math.ceil(m.content.length / 3));
  }
  if (request.schema) total += Math.ceil(JSON.stringify(request.schema).length / 3.5);
  return total;
}

export function maxOutputTokens(request: ProviderRequest): number | undefined {
  const p = request.params;
  const value = p.max_completion_tokens ?? p.max_tokens;
  return typeof value === 'number' && value > 0 ? value : undefined;
}

/** Keeps a moving average of real output sizes, per bucket, to estimate requests that set no max_tokens. */
export class OutputEstimator {
  private readonly recent: number[] = [];

  observe(outputTokens: number): void {
    this.recent.push(outputTokens);
    if (this.recent.length > 50) this.recent.shift();
  }

  estimate(request: ProviderRequest, provider: 'openai' | 'anthropic'): number {
    const max = maxOutputTokens(request);
    // Anthropic counts max_tokens against the output budget up front.
    if (provider === 'anthropic' && max !== undefined) return max;
    const average = this.recent.length
      ? Math.ceil(this.recent.reduce((a, b) => a + b, 0) / this.recent.length)
      : DEFAULT_OUTPUT;
    return max !== undefined ? Math.min(max, average) : average;
  }
}
