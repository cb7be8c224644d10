import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_BACKOFF } from '../../src/defaults';
import type { CurationStats, RetryableFailure, RunPlan } from '../../src/types';
import { addStats, backoffMs, decideRetries, emptyStats, type BackoffPolicy } from '../../src/workflows/request-state';
import { partitionLayout } from '../../src/workflows/curate';

const ZERO = () => 0;
const ALMOST_ONE = () => 0.999;
const POLICY: BackoffPolicy = { initialMs: 1000, coefficient: 2, maxMs: 60_000 };

function failure(index: number, attempts: number, retryAfterMs?: number): RetryableFailure {
  return { index, attempts, type: 'RateLimited', ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
}

describe('decideRetries', () => {
  test('maxRetries=0: the first failed attempt is final', () => {
    const d = decideRetries([failure(0, 1), failure(7, 1)], 0, ZERO);
    assert.deepEqual(d.retry, []);
    assert.deepEqual(
      d.exhausted.map((f) => f.index),
      [0, 7]
    );
    assert.equal(d.delayMs, 0);
  });

  test('maxRetries=2 allows three attempts in total', () => {
    // After attempt 1 and 2 a retry follows; after attempt 3 the request is out of retries.
    for (const attempts of [1, 2]) {
      const d = decideRetries([failure(3, attempts)], 2, ZERO);
      assert.deepEqual(d.retry, [{ index: 3, attempts }], `attempts=${attempts}`);
      assert.deepEqual(d.exhausted, []);
    }
    for (const attempts of [3, 4, 50]) {
      const d = decideRetries([failure(3, attempts)], 2, ZERO);
      assert.deepEqual(d.retry, [], `attempts=${attempts}`);
      assert.equal(d.exhausted.length, 1);
      assert.equal(d.exhausted[0].index, 3);
    }
  });

  test('splits a mixed round and keeps the failures it exhausts intact', () => {
    const failures = [failure(0, 1), failure(1, 4, 500), failure(2, 3), { ...failure(9, 5), type: 'ServerError' }];
    const d = decideRetries(failures, 3, ZERO);
    assert.deepEqual(d.retry, [
      { index: 0, attempts: 1 },
      { index: 2, attempts: 3 },
    ]);
    assert.deepEqual(d.exhausted, [failures[1], failures[3]]);
    // Only retried requests weigh on the delay: the exhausted one's 500 ms hint does not, the largest backoff wins.
    assert.equal(d.delayMs, backoffMs(3, DEFAULT_BACKOFF, ZERO));
  });

  test('no failures: nothing to do and no wait', () => {
    assert.deepEqual(decideRetries([], 10, ZERO), { retry: [], exhausted: [], delayMs: 0 });
  });

  test('the delay is never less than a retry-after hint, rounded up', () => {
    for (const random of [ZERO, ALMOST_ONE]) {
      assert.equal(decideRetries([failure(0, 1, 1234.2)], 5, random, POLICY).delayMs, 1235);
      assert.equal(decideRetries([failure(0, 1, 0.1)], 5, random, POLICY).delayMs, 1);
      // A hint longer than the backoff cap is still honoured.
      assert.equal(decideRetries([failure(0, 1, 90_000)], 5, random, POLICY).delayMs, 90_000);
    }
  });

  test('the round waits for the longest hint or backoff among the retried requests', () => {
    const d = decideRetries([failure(0, 1, 200), failure(1, 1, 7000.5), failure(2, 3)], 5, ZERO, POLICY);
    assert.equal(d.delayMs, 7001);
    const e = decideRetries([failure(0, 1, 200), failure(2, 4)], 5, ZERO, POLICY);
    assert.equal(e.delayMs, 8000);
  });

  test('without a hint the delay is the exponential backoff', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((a) => decideRetries([failure(0, a)], 10, ZERO, POLICY).delayMs),
      [1000, 2000, 4000, 8000, 16000]
    );
  });

  test('uses DEFAULT_BACKOFF when no policy is given', () => {
    assert.equal(
      decideRetries([failure(0, 2)], 10, ZERO).delayMs,
      DEFAULT_BACKOFF.initialMs * DEFAULT_BACKOFF.coefficient
    );
  });
});

describe('backoffMs', () => {
  test('grows exponentially with the attempts', () => {
    const values = [1, 2, 3, 4, 5, 6].map((a) => backoffMs(a, POLICY, ZERO));
    assert.deepEqual(values, [1000, 2000, 4000, 8000, 16000, 32000]);
    const custom: BackoffPolicy = { initialMs: 50, coefficient: 3, maxMs: 1e9 };
    assert.deepEqual(
      [1, 2, 3, 4].map((a) => backoffMs(a, custom, ZERO)),
      [50, 150, 450, 1350]
    );
  });

  test('is capped at maxMs, even for absurd attempt counts', () => {
    assert.equal(backoffMs(7, POLICY, ZERO), 60_000);
    assert.equal(backoffMs(100, POLICY, ZERO), 60_000);
    assert.equal(backoffMs(5000, POLICY, ZERO), 60_000);
    for (let a = 1; a < 200; a++) assert.ok(backoffMs(a, POLICY, ZERO) <= POLICY.maxMs, `attempts=${a}`);
  });

  test('attempts 0 or below count as the first attempt', () => {
    assert.equal(backoffMs(0, POLICY, ZERO), 1000);
    assert.equal(backoffMs(-3, POLICY, ZERO), 1000);
  });

  test('jitter only shortens, down to 75%', () => {
    for (let a = 1; a <= 10; a++) {
      const full = backoffMs(a, POLICY, ZERO);
      const shortest = backoffMs(a, POLICY, ALMOST_ONE);
      assert.equal(full, Math.min(60_000, 1000 * 2 ** (a - 1)));
      assert.ok(shortest < full, `attempts=${a}: jitter must shorten`);
      assert.ok(shortest >= Math.floor(full * 0.75), `attempts=${a}: ${shortest} below 75% of ${full}`);
      const mid = backoffMs(a, POLICY, () => 0.5);
      assert.ok(mid <= full && mid >= shortest);
    }
    assert.equal(
      backoffMs(1, POLICY, () => 0.5),
      875
    );
    assert.equal(backoffMs(7, POLICY, ALMOST_ONE), Math.round(60_000 * (1 - 0.999 * 0.25)));
  });

  test('Math.random never takes it outside [75%, 100%] of the base', () => {
    for (let i = 0; i < 1000; i++) {
      const v = backoffMs(3, POLICY, Math.random);
      assert.ok(v >= 3000 && v <= 4000, String(v));
    }
  });
});

describe('stats', () => {
  test('emptyStats is all zeros and a fresh object each time', () => {
    const a = emptyStats();
    assert.deepEqual(a, {
      total: 0,
      succeeded: 0,
      failed: 0,
      cached: 0,
      outputRows: 0,
      tokens: { input: 0, output: 0 },
      retries: 0,
    });
    const b = emptyStats();
    a.total = 5;
    a.tokens.input = 9;
    assert.equal(b.total, 0);
    assert.equal(b.tokens.input, 0);
  });

  test('addStats adds every field in place and returns its target', () => {
    const into = emptyStats();
    const one: CurationStats = {
      total: 10,
      succeeded: 7,
      failed: 2,
      cached: 3,
      outputRows: 12,
      tokens: { input: 100, output: 40 },
      retries: 4,
    };
    const two: CurationStats = {
      total: 5,
      succeeded: 5,
      failed: 0,
      cached: 1,
      outputRows: 0,
      tokens: { input: 1, output: 2 },
      retries: 0,
    };
    const returned = addStats(addStats(into, one), two);
    assert.equal(returned, into);
    assert.deepEqual(into, {
      total: 15,
      succeeded: 12,
      failed: 2,
      cached: 4,
      outputRows: 12,
      tokens: { input: 101, output: 42 },
      retries: 4,
    });
    // The added stats are left untouched.
    assert.deepEqual(two.tokens, { input: 1, output: 2 });
    assert.notEqual(into.tokens, one.tokens);
  });
});

describe('partitionLayout', () => {
  function plan(batchCount: number, batchesInFlight: number): RunPlan {
    return {
      model: 'm',
      runHash: 'r',
      parseHash: 'p',
      datasetHash: 'd',
      runDir: '/tmp/r',
      totalRequests: batchCount * 10,
      batchSize: 10,
      batchCount,
      requestConcurrency: 4,
      batchesInFlight,
      maxConcurrentRequests: batchesInFlight * 4,
      maxRetries: 3,
      requireAllResponses: true,
    };
  }

  /** The batches each partition runs, walked exactly as curateWorkflow and partitionWorkflow do. */
  function coverage(batchCount: number, batchesInFlight: number, perPartition?: number): number[] {
    const layout = partitionLayout(plan(batchCount, batchesInFlight), perPartition);
    const seen: number[] = [];
    for (let p = 0; p < layout.count; p++) {
      const fromBatch = p * layout.length;
      const toBatch = Math.min(batchCount, fromBatch + layout.length);
      assert.ok(toBatch > fromBatch, `partition ${p} of ${JSON.stringify(layout)} is empty`);
      for (let next = fromBatch; next < toBatch; next++) seen.push(next);
    }
    return seen;
  }

  const sizes = [0, 1, 2, 3, 7, 8, 9, 10, 16, 17, 63, 64, 99, 100, 101, 250, 799, 1000, 12_345];
  const windows = [1, 2, 3, 5, 8, 9, 15, 16, 17, 40, 64, 100];

  test('every batch is covered exactly once, in order', () => {
    for (const n of sizes) {
      for (const b of windows) {
        for (const per of [undefined, 1, 3, 50, 100, 1000]) {
          const seen = coverage(n, b, per);
          assert.deepEqual(
            seen,
            Array.from({ length: n }, (_, i) => i),
            `batchCount=${n} batchesInFlight=${b} batchesPerPartition=${per}`
          );
        }
      }
    }
  });

  test('partition sizes and window stay within bounds', () => {
    for (const n of sizes) {
      for (const b of [...windows, 0]) {
        for (const per of [undefined, 1, 7, 100]) {
          const layout = partitionLayout(plan(n, b), per);
          const what = `batchCount=${n} batchesInFlight=${b} per=${per} -> ${JSON.stringify(layout)}`;
          assert.ok(Number.isInteger(layout.length) && layout.length >= 1, what);
          assert.ok(layout.length <= (per ?? 100), what);
          assert.ok(layout.window >= 1 && layout.window <= 8, what);
          assert.ok(layout.inFlight >= 1, what);
          assert.equal(layout.count, Math.ceil(n / layout.length), what);
          // Together the partitions run at least the planned batches at once, and at most one more per partition.
          assert.ok(layout.inFlight * layout.window >= Math.min(Math.max(1, b), 8 * layout.inFlight), what);
          assert.ok(layout.inFlight * layout.window < Math.max(1, b) + layout.inFlight, what);
        }
      }
    }
  });

  test('small windows use a single partition with the plan window', () => {
    for (const b of [1, 2, 5, 8]) {
      const layout = partitionLayout(plan(1000, b));
      assert.equal(layout.inFlight, 1);
      assert.equal(layout.window, b);
      assert.equal(layout.length, 100);
      assert.equal(layout.count, 10);
    }
    assert.deepEqual(partitionLayout(plan(0, 1)), { length: 1, count: 0, inFlight: 1, window: 1 });
  });

  test('a job with more batches in flight than one partition window splits the work across partitions', () => {
    const layout = partitionLayout(plan(64, 32));
    assert.equal(layout.window, 8);
    assert.equal(layout.inFlight, 4);
    assert.equal(layout.length, 16);
    assert.equal(layout.count, 4);
  });

  test('batches in flight across the job never exceed the plan for multiples of the window', () => {
    for (const b of [1, 2, 3, 4, 5, 6, 7, 8, 16, 24, 64]) {
      const layout = partitionLayout(plan(1000, b));
      assert.equal(layout.inFlight * layout.window, b, `batchesInFlight=${b}`);
    }
  });

  test('batches in flight across the job reach the plan, with at most one more per partition', () => {
    for (const b of [9, 10, 15, 17, 23, 40, 100, 123]) {
      const layout = partitionLayout(plan(1000, b));
      const what = `batchesInFlight=${b}: ${JSON.stringify(layout)}`;
      assert.ok(layout.inFlight * layout.window >= b, what);
      assert.ok(layout.inFlight * layout.window < b + layout.inFlight, what);
    }
  });

  test('a job whose batches fit the plan runs every batch at once: no partition holds more than its window', () => {
    // 10,000 rows of 100 at the default ceiling: 100 batches planned in flight. Rounding the window down gave
    // 13 partitions of 8 batches with a window of 7, and 12 batches waited for a batch of their partition to end.
    for (const n of [9, 17, 63, 99, 100, 101, 123]) {
      for (let b = n; b <= n + 3; b++) {
        const layout = partitionLayout(plan(n, b));
        assert.ok(layout.length <= layout.window, `batchCount=${n} batchesInFlight=${b}: ${JSON.stringify(layout)}`);
        assert.ok(layout.count <= layout.inFlight, `batchCount=${n} batchesInFlight=${b}: ${JSON.stringify(layout)}`);
      }
    }
  });

  test('a fractional batchesPerPartition still covers every batch exactly once', () => {
    assert.deepEqual(
      coverage(10, 1, 2.5),
      Array.from({ length: 10 }, (_, i) => i)
    );
  });
});
