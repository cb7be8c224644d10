/**
 * Output token estimates before sending, reconciled with the response's `usage` afterwards. Input tokens are each
 * provider's own estimate (`Provider.estimateInputTokens`).
 */
import type { ProviderRequest } from '../types/requests';

/** Assumed output when the request sets no max_tokens and nothing has been observed yet. */
const DEFAULT_OUTPUT = 256;

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

  /** `reservesMaxTokens`: the provider counts max_tokens against the output budget up front (Anthropic). */
  estimate(request: ProviderRequest, reservesMaxTokens: boolean): number {
    const max = maxOutputTokens(request);
    if (reservesMaxTokens && max !== undefined) return max;
    const average = this.recent.length
      ? Math.ceil(this.recent.reduce((a, b) => a + b, 0) / this.recent.length)
      : DEFAULT_OUTPUT;
    return max !== undefined ? Math.min(max, average) : average;
  }
}
