/**
 * Cost from the actual `usage`, priced per model by `@pydantic/genai-prices` (a maintained price list), or by the
 * curator's own `inputCostPerMillion` / `outputCostPerMillion`, which win. Unknown models have no cost, not a guess.
 */
import { calcPrice } from '@pydantic/genai-prices';
import type { Curator } from './curator';
import type { Prices, TokenUsage } from './types/usage';

export type { Prices };

/** What the batch APIs of OpenAI and Anthropic charge, as a share of the synchronous price. */
export const BATCH_PRICE_FACTOR = 0.5;

/** The prices of the same model through the batch API. */
export function batchPrices(prices: Prices): Prices {
  return {
    ...prices,
    inputPerMillion: prices.inputPerMillion * BATCH_PRICE_FACTOR,
    outputPerMillion: prices.outputPerMillion * BATCH_PRICE_FACTOR,
    batch: true,
  };
}

function listed(model: string, provider: string, input: number, output: number): number | undefined {
  try {
    const price = calcPrice({ input_tokens: input, output_tokens: output }, model, { providerId: provider });
    return price ? Number(price.total_price) : undefined;
  } catch {
    return undefined;
  }
}

/** The curator's prices per million tokens: synchronous, or halved in batch mode (`backend.batch`). */
export function pricesFor(curator: Pick<Curator<any, any, any>, 'model' | 'provider' | 'backend'>): Prices | undefined {
  const b = curator.backend ?? {};
  const input = b.inputCostPerMillion ?? listed(curator.model, curator.provider, 1_000_000, 0);
  const output = b.outputCostPerMillion ?? listed(curator.model, curator.provider, 0, 1_000_000);
  if (input === undefined || output === undefined) return undefined;
  const source =
    b.inputCostPerMillion !== undefined || b.outputCostPerMillion !== undefined ? 'curator' : 'genai-prices';
  const prices: Prices = { inputPerMillion: input, outputPerMillion: output, source };
  return b.batch === true ? batchPrices(prices) : prices;
}

/** What `tokens` cost at `prices`, in US dollars; undefined when the model has no known price. */
export function costUsd(prices: Prices | undefined, tokens: TokenUsage): number | undefined {
  if (!prices) return undefined;
  return (tokens.input * prices.inputPerMillion + tokens.output * prices.outputPerMillion) / 1_000_000;
}
