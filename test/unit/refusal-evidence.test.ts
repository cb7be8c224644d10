import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { refusalEvidence } from '../../src/limits/evidence';

const headers = (values: Record<string, string>) => ({ get: (name: string) => values[name] ?? null });

describe('refusalEvidence', () => {
  test('a 429 with a used-up budget is exhausted', () => {
    const limit = { 'x-ratelimit-limit-requests': '6000' };
    assert.equal(refusalEvidence(429, headers({ ...limit, 'x-ratelimit-remaining-requests': '0' })), 'exhausted');
    assert.equal(
      refusalEvidence(
        429,
        headers({
          'anthropic-ratelimit-requests-limit': '50',
          'anthropic-ratelimit-requests-remaining': '12',
          'anthropic-ratelimit-output-tokens-limit': '8000',
          'anthropic-ratelimit-output-tokens-remaining': '0',
        })
      ),
      'exhausted'
    );
    // Only a reset time: the budget is back then.
    assert.equal(refusalEvidence(429, headers({ 'x-ratelimit-reset-requests': '1s' })), 'exhausted');
  });

  test('a 429 with budget left or without rate-limit headers, a 503 or a 529 is congestion', () => {
    const limit = { 'x-ratelimit-limit-requests': '6000', 'x-ratelimit-reset-requests': '10ms' };
    assert.equal(refusalEvidence(429, headers({ ...limit, 'x-ratelimit-remaining-requests': '40' })), 'congestion');
    assert.equal(refusalEvidence(429, headers({ 'retry-after': '1' })), 'congestion');
    assert.equal(refusalEvidence(429, undefined), 'congestion');
    assert.equal(refusalEvidence(529, headers({ 'x-ratelimit-remaining-requests': '0' })), 'congestion');
    assert.equal(refusalEvidence(503, headers({})), 'congestion');
  });
});
