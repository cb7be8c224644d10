import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LimiterPool, type BucketLimiter } from '../../src/limits';
import { OutputEstimator } from '../../src/limits/estimate';
import { RateLimiter } from '../../src/limits/rate-limiter';
import { SharedWindow } from '../../src/limits/shared-window';
import type { Cost } from '../../src/limits/window';
import type { ProviderRequest } from '../../src/providers/types';
import { admit, enter, type Admission } from '../../src/requests/admit';

const ONE: Cost = { requests: 1, input: 10, output: 5 };
const REQUEST = { model: 'm', messages: [{ role: 'user', content: 'hi' }], params: {} } as unknown as ProviderRequest;
const headers = (values: Record<string, string>) => ({ get: (name: string) => values[name] ?? null });

let dir: string;
let n = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'admit-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A job of `jobPlaces` places on a bucket whose limit is known, so its slots are the controller's target. */
async function setup(jobPlaces: number, maxConcurrent: number) {
  const window = new SharedWindow(join(dir, `limits-${++n}.db`));
  const limiter = new RateLimiter({ bucket: 'b', configured: {}, maxConcurrent, window });
  // The first answer's headers tell the limit: from then on the bucket's slots are the controller's target.
  (await limiter.acquire(ONE)).answered(
    { input: 10, output: 5 },
    headers({ 'x-ratelimit-limit-requests': '1000000', 'x-ratelimit-remaining-requests': '999999' })
  );
  const bucket: BucketLimiter = { limiter, outputs: new OutputEstimator(), answered: true, estimate: () => ONE };
  const job = new LimiterPool(() => window).jobSlots<unknown>('job', jobPlaces);
  return { window, limiter, bucket, job };
}

describe('enter, then admit', () => {
  test('the places taken by enter are the ones admit uses: one of each per request, not two', async () => {
    const { window, limiter, bucket, job } = await setup(4, 4);
    const cancelled = new AbortController().signal;
    const gates: Admission = { job, bucket, signal: new AbortController().signal };
    assert.equal(await enter(gates, cancelled), true);
    assert.equal(job.gate.inUse, 1);
    assert.equal(limiter.load().inFlight, 1);
    let held = 0;
    const permit = await admit(REQUEST, gates, cancelled, () => held++, true);
    assert.ok(permit);
    assert.equal(held, 1, 'the caller learns it holds the job place');
    assert.equal(job.gate.inUse, 1, 'the job place is not taken again');
    assert.equal(limiter.load().inFlight, 1, 'nor the bucket slot');
    permit.answered({ input: 10, output: 5 });
    assert.equal(limiter.load().inFlight, 0, 'the permit gives the slot back');
    job.gate.release();
    window.close();
  });

  test('requests wait in enter first come, first served, for a slot the bucket gives back', async () => {
    const { window, limiter, bucket, job } = await setup(8, 2);
    const cancelled = new AbortController().signal;
    const gates: Admission = { job, bucket, signal: new AbortController().signal };
    const order: number[] = [];
    const entries = [0, 1, 2, 3].map((k) => enter(gates, cancelled).then(() => order.push(k)));
    const tick = () => new Promise((r) => setImmediate(r));
    await tick();
    assert.deepEqual(order, [0, 1], 'the bucket holds two');
    limiter.releaseSlot();
    await tick();
    assert.deepEqual(order, [0, 1, 2]);
    limiter.releaseSlot();
    await Promise.all(entries);
    assert.deepEqual(order, [0, 1, 2, 3]);
    assert.equal(limiter.load().inFlight, 2);
    window.close();
  });

  test('an enter aborted while waiting for the bucket gives its job place back and resolves false', async () => {
    const { window, bucket, job } = await setup(8, 8);
    const cancelled = new AbortController().signal;
    const stop = new AbortController();
    const gates: Admission = { job, bucket, signal: stop.signal };
    // Fill the bucket's slots.
    const target = bucket.limiter.concurrencyTarget();
    for (let k = 0; k < target; k++) await bucket.limiter.takeSlot();
    const jobBefore = job.gate.inUse;
    const blocked = enter(gates, cancelled);
    await new Promise((r) => setImmediate(r));
    assert.equal(job.gate.inUse, jobBefore + 1, 'the job place is held while the bucket is full');
    stop.abort();
    assert.equal(await blocked, false);
    assert.equal(job.gate.inUse, jobBefore, 'given back');
    window.close();
  });

  test('an enter of a cancelled activity rejects, holding nothing', async () => {
    const { window, bucket, job } = await setup(1, 8);
    const activity = new AbortController();
    const gates: Admission = { job, bucket, signal: activity.signal };
    void job.gate.take();
    const blocked = enter(gates, activity.signal);
    activity.abort(new Error('cancelled'));
    await assert.rejects(blocked, /cancelled/);
    assert.equal(job.gate.inUse, 1, 'only the place taken before');
    window.close();
  });
});
