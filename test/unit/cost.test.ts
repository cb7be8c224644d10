import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineCurator } from '../../src';
import { costUsd, pricesFor } from '../../src/cost';

const curator = (model: string, backend = {}) => defineCurator({ name: 'c', model, prompt: () => 'x', backend });

test('prices come from the maintained list for known models', () => {
  const prices = pricesFor(curator('gpt-4o-mini'));
  assert.deepEqual(prices, { inputPerMillion: 0.15, outputPerMillion: 0.6, source: 'genai-prices' });
  assert.ok(pricesFor(curator('claude-3-5-haiku-latest'))!.outputPerMillion > 0);
});

test("the curator's own prices win, fractions welcome", () => {
  const prices = pricesFor(curator('gpt-4o-mini', { inputCostPerMillion: 0.075, outputCostPerMillion: 0.3 }));
  assert.deepEqual(prices, { inputPerMillion: 0.075, outputPerMillion: 0.3, source: 'curator' });
  assert.equal(costUsd(prices, { input: 2_000_000, output: 1_000_000 }), 0.45);
});

test('an unknown model has no cost rather than a guess', () => {
  assert.equal(pricesFor(curator('my-local-llama')), undefined);
  assert.equal(costUsd(undefined, { input: 10, output: 10 }), undefined);
  assert.ok(pricesFor(curator('my-local-llama', { inputCostPerMillion: 0, outputCostPerMillion: 0 })));
});
