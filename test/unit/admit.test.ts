/**
 * Admission's two places: the bucket's (in flight) and the job's (`maxConcurrentRequests`), taken in one order per
 * shard, the first possibly by the shard's pool; a wait that ends without a permit gives back what it took.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Curator } from '../../src/curator';
import { LimiterPool } from '../../src/limits';
import { admit, queueFirstAt } from '../../src/requests/admit';
import type { ProviderRequest } from '../../src/types/requests';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'admit-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const curator = { name: 'c', provider: 'openai', model: 'm', prompt: () => 'x' } as unknown as Curator;
const request: ProviderRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }], params: {} };
const never = new AbortController().signal;

describe('queueFirstAt', () => {
  test("the bucket's places, unless the job allows fewer than the bucket's ceiling", () => {
    assert.equal(queueFirstAt(8192, 8192), 'bucket');
    assert.equal(queueFirstAt(10_000, 8192), 'bucket');
    assert.equal(queueFirstAt(64, 8192), 'job');
  });
});

describe('admit', () => {
  test("holding the bucket's place, it waits for the job's, and gives the bucket's back when the wait is aborted", async () => {
    const pool = new LimiterPool(join(dir, 'a.db'));
    const bucket = pool.get(curator, 'http://sim/v1', 8192);
    const job = pool.jobSlots('job-1', 1);
    await job.gate.take(); // the job's one place is taken by another request
    await bucket.limiter.slots.take(); // the shard's pool took the bucket's place for this one
    assert.equal(bucket.limiter.load().inFlight, 1);
    const wait = new AbortController();
    let held = false;
    const admitted = admit(request, { job, bucket, signal: wait.signal, first: 'bucket' }, never, true, () => {
      held = true;
    });
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(held, false, "the job's place is not free");
    wait.abort();
    assert.equal(await admitted, undefined, 'aborted without a cancel: no permit, nothing sent');
    assert.equal(bucket.limiter.load().inFlight, 0, "the bucket's place went back");
    job.done();
    pool.close();
  });

  test("taking both itself, the bucket's place first; the permit gives it back", async () => {
    const pool = new LimiterPool(join(dir, 'b.db'));
    const bucket = pool.get(curator, 'http://sim/v1', 8192);
    const job = pool.jobSlots('job-2', 8192);
    let held = false;
    const permit = await admit(request, { job, bucket, signal: never, first: 'bucket' }, never, false, () => {
      held = true;
    });
    assert.ok(permit);
    assert.equal(held, true);
    assert.equal(bucket.limiter.load().inFlight, 1);
    assert.equal(job.gate.inUse, 1);
    permit.answered({ input: 2, output: 1 });
    assert.equal(bucket.limiter.load().inFlight, 0);
    assert.equal(job.gate.inUse, 1, "the job's place is the caller's to give back, once the attempt is recorded");
    job.gate.release();
    job.done();
    pool.close();
  });

  test("a job's place the pool took is held at once; the bucket's is taken after it", async () => {
    const pool = new LimiterPool(join(dir, 'c.db'));
    const bucket = pool.get(curator, 'http://sim/v1', 8192);
    const job = pool.jobSlots('job-3', 4);
    await job.gate.take();
    let held = false;
    const permit = await admit(request, { job, bucket, signal: never, first: 'job' }, never, true, () => {
      held = true;
    });
    assert.ok(permit);
    assert.equal(held, true);
    assert.equal(job.gate.inUse, 1, 'no second place of the job');
    assert.equal(bucket.limiter.load().inFlight, 1);
    permit.unused();
    assert.equal(bucket.limiter.load().inFlight, 0);
    job.done();
    pool.close();
  });
});
