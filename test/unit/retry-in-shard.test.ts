import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_WAIT_IN_SHARD_MS, retryInShardAfterMs } from '../../src/requests/retry-in-shard';
import type { RequestError } from '../../src/types/requests';

const refused = (error: Partial<RequestError>, alone = true) => ({
  error: { type: 'RateLimited', message: 'refused', status: 429, retryable: true, ...error } as RequestError,
  alone,
});
const noJitter = () => 0;

describe('retryInShardAfterMs', () => {
  test('a refusal that held back only its request waits its own retry-after, within maxRetries', () => {
    assert.equal(retryInShardAfterMs(refused({ retryAfterMs: 1000 }), 1, 10, noJitter), 1000);
    assert.equal(retryInShardAfterMs(refused({ retryAfterMs: 120.4 }), 3, 10, noJitter), 121);
    // attempts counts every try; maxRetries the tries after the first: the 11th attempt is the last of 10 retries.
    assert.equal(retryInShardAfterMs(refused({ retryAfterMs: 1000 }), 10, 10, noJitter), 1000);
    assert.equal(retryInShardAfterMs(refused({ retryAfterMs: 1000 }), 11, 10, noJitter), undefined);
    assert.equal(retryInShardAfterMs(refused({ retryAfterMs: 1000 }), 1, 0, noJitter), undefined);
  });

  test('without a hint: the backoff, one second doubling per attempt, jitter only shortening', () => {
    const overloaded = refused({ type: 'Overloaded', status: 529 });
    assert.equal(retryInShardAfterMs(overloaded, 1, 10, noJitter), 1000);
    assert.equal(retryInShardAfterMs(overloaded, 3, 10, noJitter), 4000);
    assert.equal(
      retryInShardAfterMs(overloaded, 2, 10, () => 1),
      1500
    );
    // Beyond what a shard activity waits: the workflow's durable timer.
    assert.equal(retryInShardAfterMs(overloaded, 5, 10, noJitter), undefined);
  });

  test('the workflow keeps every other retry', () => {
    // The bucket paused (budget used up): the workflow waits, durably.
    assert.equal(retryInShardAfterMs(refused({ retryAfterMs: 1000 }, false), 1, 10, noJitter), undefined);
    // A hint longer than a shard activity waits.
    assert.equal(retryInShardAfterMs(refused({ retryAfterMs: MAX_WAIT_IN_SHARD_MS + 1 }), 1, 10, noJitter), undefined);
    // Not retryable, or a task from before maxRetries was passed.
    assert.equal(retryInShardAfterMs(refused({ retryable: false }), 1, 10, noJitter), undefined);
    assert.equal(retryInShardAfterMs(refused({ retryAfterMs: 1000 }), 1, undefined, noJitter), undefined);
  });
});
