/**
 * The simulator's enforcement modes, latency samplers and capacity gate as pure functions of the time they are given.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/simulator/answers';
import { CapacityGate } from '../../src/simulator/capacity';
import { optionsFromArgs } from '../../src/simulator/cli';
import { latencySampler, logNormal } from '../../src/simulator/latency';
import { createLimiter } from '../../src/simulator/enforcement';
import { limitSettings, type Limiter } from '../../src/simulator/rate-limits';
import { TokenBucketLimiter } from '../../src/simulator/token-bucket-limiter';

const ONE_REQUEST = { input: 10, output: 5 };
const T0 = 1_800_000_000_000;

/** The requests dimension's headers as [limit, remaining, resetMs]. */
function requestsAt(limiter: Limiter, settings: ReturnType<typeof limitSettings>, at: number): number[] {
  const { limit, remaining, resetMs } = limiter.snapshot(at, settings).requests;
  return [limit, remaining, resetMs];
}

/** Offers a request every `stepMs` from `from` to `to`; returns the times admitted. */
function greedy(
  limiter: Limiter,
  settings: ReturnType<typeof limitSettings>,
  from: number,
  to: number,
  stepMs: number
) {
  const admitted: number[] = [];
  for (let t = from; t < to; t += stepMs) if (limiter.admit(t, ONE_REQUEST, settings) === undefined) admitted.push(t);
  return admitted;
}

/** The most admissions in any interval of `spanMs` (two pointers over sorted times). */
function maxIn(times: number[], spanMs: number): number {
  let most = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[end] as number) - (times[start] as number) >= spanMs) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

test('per-second: 6,000 RPM admits exactly 100 in a second, then 429s with remaining 0 until the second has passed', () => {
  const settings = limitSettings({ rpm: 6000, enforcement: 'per-second' });
  const limiter = createLimiter('per-second');
  assert.equal(limiter.admit(T0, ONE_REQUEST, settings), undefined);
  // Below the second's quantum the headers report the per-minute bucket, refilled at 100 a second.
  assert.deepEqual(requestsAt(limiter, settings, T0), [6000, 5999, 10]);
  assert.equal(limiter.snapshot(T0 + 5, settings).requests.remaining, 5999);
  for (let i = 1; i < 100; i++) assert.equal(limiter.admit(T0 + i * 5, ONE_REQUEST, settings), undefined, `#${i}`);
  const rejection = limiter.admit(T0 + 600, ONE_REQUEST, settings);
  assert.equal(rejection?.dimension, 'requests');
  assert.equal(rejection?.limit, 6000);
  assert.equal(rejection?.retryAfterMs, 400);
  assert.deepEqual(requestsAt(limiter, settings, T0 + 600), [6000, 0, 895]);
  assert.equal(limiter.admit(T0 + 999, ONE_REQUEST, settings)?.dimension, 'requests');
  // The first request's second is over: exactly one more fits.
  assert.equal(limiter.admit(T0 + 1000, ONE_REQUEST, settings), undefined);
  assert.equal(limiter.admit(T0 + 1001, ONE_REQUEST, settings)?.dimension, 'requests');
});

test('per-second: a greedy client never gets more than limit/60 in any second or the limit in any minute', () => {
  const settings = limitSettings({ rpm: 6000, enforcement: 'per-second' });
  const admitted = greedy(createLimiter('per-second'), settings, T0, T0 + 180_000, 3);
  assert.equal(maxIn(admitted, 1000), 100);
  assert.equal(maxIn(admitted, 60_000), 6000);
  // Tokens are quantized too: 150,000 TPM is 2,500 a second, 166 requests of 15 tokens.
  const tokens = limitSettings({ tpm: 150_000, enforcement: 'per-second' });
  assert.equal(maxIn(greedy(createLimiter('per-second'), tokens, T0, T0 + 10_000, 1), 1000), 166);
});

test('token bucket: a full bucket of limit/60, then a continuous refill of limit/60 per second', () => {
  const settings = limitSettings({ rpm: 6000, enforcement: 'token-bucket' });
  const limiter = new TokenBucketLimiter();
  assert.equal(limiter.snapshot(T0, settings).requests.remaining, 100);
  for (let i = 0; i < 100; i++) assert.equal(limiter.admit(T0, ONE_REQUEST, settings), undefined, `#${i}`);
  const rejection = limiter.admit(T0, ONE_REQUEST, settings);
  assert.equal(rejection?.dimension, 'requests');
  assert.equal(rejection?.retryAfterMs, 10, 'one request refills every 10 ms');
  assert.deepEqual(requestsAt(limiter, settings, T0), [6000, 0, 1000]);
  // 250 ms refill 25 requests, not a whole second's worth and not nothing: the refill is continuous.
  assert.equal(limiter.snapshot(T0 + 250, settings).requests.remaining, 25);
  assert.equal(limiter.snapshot(T0 + 250, settings).requests.resetMs, 750);
  let more = 0;
  while (limiter.admit(T0 + 250, ONE_REQUEST, settings) === undefined) more++;
  assert.equal(more, 25);
  // Never above its capacity, however long it rests.
  assert.equal(limiter.snapshot(T0 + 3_600_000, settings).requests.remaining, 100);
});

test('token bucket: burstSeconds sizes the bucket; the long-run rate stays at the limit', () => {
  const minute = limitSettings({ rpm: 6000, enforcement: 'token-bucket', burstSeconds: 60 });
  const limiter = new TokenBucketLimiter();
  assert.equal(greedy(limiter, minute, T0, T0 + 1, 1).length, 1);
  assert.equal(limiter.snapshot(T0, minute).requests.remaining, 5999);
  const settings = limitSettings({ rpm: 6000, enforcement: 'token-bucket' });
  const admitted = greedy(new TokenBucketLimiter(), settings, T0, T0 + 120_000, 1);
  assert.ok(maxIn(admitted, 60_000) <= 6000 + 100, 'a minute carries at most the limit plus one bucket');
  assert.equal(maxIn(admitted.slice(200), 1000), 100, 'past the first burst, 100 a second');
});

test('token-bucket mode: a burst of limit/60 is enforced, the headers report the per-minute bucket', () => {
  const settings = limitSettings({ rpm: 6000, enforcement: 'token-bucket' });
  const limiter = createLimiter('token-bucket');
  for (let i = 0; i < 99; i++) assert.equal(limiter.admit(T0, ONE_REQUEST, settings), undefined, `#${i}`);
  assert.deepEqual(requestsAt(limiter, settings, T0), [6000, 5901, 990]);
  assert.equal(limiter.admit(T0, ONE_REQUEST, settings), undefined);
  const rejection = limiter.admit(T0, ONE_REQUEST, settings);
  assert.deepEqual([rejection?.limit, rejection?.retryAfterMs], [6000, 10]);
  assert.deepEqual(requestsAt(limiter, settings, T0), [6000, 0, 1000]);
  assert.equal(limiter.snapshot(T0 + 10, settings).requests.remaining, 5901, 'a request refilled: the minute is shown');
});

test('token bucket: a request larger than the bucket is admitted on a full bucket and paid back by refill', () => {
  const settings = limitSettings({ tpm: 600, enforcement: 'token-bucket' }); // a bucket of 10 tokens
  const limiter = new TokenBucketLimiter();
  assert.equal(limiter.admit(T0, { input: 30, output: 0 }, settings), undefined);
  assert.equal(limiter.snapshot(T0, settings).tokens.remaining, 0);
  const rejection = limiter.admit(T0 + 1000, { input: 30, output: 0 }, settings);
  assert.equal(rejection?.retryAfterMs, 2000, 'from -20 back to a full 10 at 10 tokens a second');
  assert.equal(limiter.admit(T0, { input: 601, output: 0 }, settings)?.retryAfterMs, undefined, 'above the limit');
});

test('log-normal latency has the asked median and p99', () => {
  const rng = new Rng('latency');
  const sample = logNormal(3000, 15_000);
  const draws = Array.from({ length: 40_000 }, () => sample(() => rng.next())).sort((a, b) => a - b);
  const quantile = (q: number) => draws[Math.floor(q * draws.length)] as number;
  assert.ok(Math.abs(quantile(0.5) / 3000 - 1) < 0.03, `median ${quantile(0.5)}`);
  assert.ok(Math.abs(quantile(0.99) / 15_000 - 1) < 0.08, `p99 ${quantile(0.99)}`);
  assert.ok(draws.every((d) => d > 0));
  const capped = logNormal(3000, 15_000, 20_000);
  assert.ok(Array.from({ length: 5000 }, () => capped(() => rng.next())).every((d) => d <= 20_000));
});

test('fixed and uniform latency', () => {
  assert.equal(
    latencySampler(undefined)(() => 0.5),
    0
  );
  assert.equal(
    latencySampler(250)(() => 0.9),
    250
  );
  const uniform = latencySampler({ min: 2000, max: 4000 });
  assert.deepEqual([uniform(() => 0), uniform(() => 0.5), uniform(() => 0.999_999)], [2000, 3000, 4000]);
  assert.equal(
    latencySampler({ median: 100, p99: 100 })(() => 0.3),
    100,
    'no spread when p99 equals the median'
  );
});

test('capacity gate: N serve, Q queue in order, the rest are refused', async () => {
  const gate = new CapacityGate(2, 1);
  const order: string[] = [];
  assert.equal(await gate.enter(), true);
  assert.equal(await gate.enter(), true);
  const queued = gate.enter().then((ok) => order.push(`queued:${ok}`));
  assert.equal(await gate.enter(), false);
  order.push('refused');
  gate.leave();
  await queued;
  assert.deepEqual(order, ['refused', 'queued:true']);
  assert.equal(gate.maxServing, 2);
  // The queued request now serves: two serving, the queue free again for exactly one.
  const next = gate.enter();
  assert.equal(await gate.enter(), false);
  gate.leave();
  assert.equal(await next, true);
});

test('CLI options of the enforcement modes', () => {
  assert.deepEqual(
    optionsFromArgs([
      '--rpm',
      '6000',
      '--enforcement',
      'token-bucket',
      '--burst-seconds',
      '2',
      '--latency-median',
      '3000',
      '--transient-429',
      '0.05',
      '--overloaded-529',
      '0.05',
    ]),
    {
      port: 0,
      latencyMs: { median: 3000, p99: 15_000 },
      rateLimits: { rpm: 6000, enforcement: 'token-bucket', burstSeconds: 2 },
      transient: { rate429: 0.05, rate529: 0.05 },
    }
  );
  assert.deepEqual(optionsFromArgs(['--capacity', '256', '--queue', '64', '--latency', '2000-4000']), {
    port: 0,
    latencyMs: { min: 2000, max: 4000 },
    capacity: { concurrent: 256, queue: 64 },
  });
  assert.throws(() => optionsFromArgs(['--enforcement', 'fixed']), /--enforcement expects one of/);
  assert.throws(() => optionsFromArgs(['--transient-429', '5']), /between 0 and 1/);
  assert.throws(() => optionsFromArgs(['--latency', '5', '--latency-median', '5']), /exclude each other/);
});
