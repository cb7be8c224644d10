import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Curator } from '../../src/curator';
import { LimiterPool } from '../../src/limits';
import { RateLimiter } from '../../src/limits/rate-limiter';
import { copiesThatFit, GRANT_MS, LOAD_FRESH_MS, SharedWindow, STATE_TTL_MS } from '../../src/limits/shared-window';
import { admissionDelay, MINUTE_MS, WINDOW_MARGIN_MS, type Cost, type Limits } from '../../src/limits/window';

const ONE: Cost = { requests: 1, input: 10, output: 5 };
const T0 = 1_800_000_000_000;

let dir: string;
let n = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rate-limit-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});
const dbPath = () => join(dir, `limits-${++n}.db`);

/** Two processes' views of one file, on a clock the test moves. */
function pair(path = dbPath()) {
  const clock = { now: T0 };
  const options = { clock: () => clock.now, flushAfterMs: 60_000 };
  return { clock, a: new SharedWindow(path, options), b: new SharedWindow(path, options) };
}

function admitted(result: ReturnType<SharedWindow['tryAdmit']>): boolean {
  return 'ref' in result;
}

describe('copiesThatFit', () => {
  const sums = (requests: number, input = 0, output = 0, second = 0) => ({
    minute: { requests, input, output },
    second: { requests: second, input: 0, output: 0 },
  });

  test('counts how many copies of a cost fit under every limit', () => {
    assert.equal(copiesThatFit(sums(7), ONE, { requestsPerMinute: 10 }), 3);
    assert.equal(copiesThatFit(sums(7, 100, 50), ONE, { requestsPerMinute: 10, tokensPerMinute: 190 }), 2);
    assert.equal(copiesThatFit(sums(0, 95), ONE, { inputTokensPerMinute: 100 }), 0);
    assert.equal(copiesThatFit(sums(0, 0, 0), ONE, {}), Infinity);
  });

  test('a per-second limit looks at the last second only', () => {
    assert.equal(copiesThatFit(sums(500, 0, 0, 4), ONE, { requestsPerSecond: 5 }), 1);
    assert.equal(copiesThatFit(sums(500, 0, 0, 5), ONE, { requestsPerSecond: 5 }), 0);
  });

  test('an oversized cost fits once into an empty window, like admissionDelay', () => {
    const big: Cost = { requests: 1, input: 1000, output: 0 };
    assert.equal(copiesThatFit(sums(0), big, { tokensPerMinute: 100 }), 1);
    assert.equal(admissionDelay([], big, { tokensPerMinute: 100 }, T0), 0);
    assert.equal(copiesThatFit(sums(1, 10), big, { tokensPerMinute: 100 }), 0);
  });
});

describe('SharedWindow', () => {
  test('admits up to a per-minute limit, then says to wait until the first sends leave the window', () => {
    const { a } = pair();
    const limits: Limits = { requestsPerMinute: 10 };
    for (let k = 0; k < 10; k++) assert.ok(admitted(a.tryAdmit('b', ONE, limits, T0 + k)), `send ${k}`);
    const refused = a.tryAdmit('b', ONE, limits, T0 + 10);
    assert.ok('waitMs' in refused);
    // The oldest sends count until their slot's end plus the window (grants end at most ~2 slots later).
    assert.ok(refused.waitMs > MINUTE_MS && refused.waitMs <= MINUTE_MS + WINDOW_MARGIN_MS + 2 * GRANT_MS + 10);
    assert.ok(admitted(a.tryAdmit('b', ONE, limits, T0 + 10 + refused.waitMs)));
    a.close();
  });

  test('two processes sharing the file never admit more than the limit between them', () => {
    const { clock, a, b } = pair();
    const limits: Limits = { requestsPerMinute: 50 };
    let count = 0;
    // 10 s of both asking every 5 ms, well inside one window: exactly the limit gets through, no more.
    for (let t = 0; t < 10_000; t += 5) {
      clock.now = T0 + t;
      for (const w of [a, b]) if (admitted(w.tryAdmit('b', ONE, limits, clock.now))) count++;
      if (t % 100 === 0) {
        a.flush();
        b.flush();
      }
    }
    assert.equal(count, 50);
    a.close();
    b.close();
  });

  test('a grant is admitted from memory, and what it did not use goes back when it ends', () => {
    const { clock, a, b } = pair();
    const limits: Limits = { requestsPerMinute: 1_000_000 };
    assert.ok(admitted(a.tryAdmit('b', ONE, limits, T0)));
    // The first grant reserves a few requests: the other process sees the reservation, this one its real use.
    const reserved = b.totals('b', T0).requests;
    assert.ok(reserved > 1, `reserved ${reserved}`);
    assert.equal(a.totals('b', T0).requests, 1);
    assert.ok(admitted(a.tryAdmit('b', ONE, limits, T0 + 1)));
    assert.equal(b.totals('b', T0 + 1).requests, reserved, 'the second send came from the grant, nothing written');
    clock.now = T0 + 2 * GRANT_MS + 1;
    a.flush();
    assert.equal(b.totals('b', clock.now).requests, 2);
    a.close();
    b.close();
  });

  test('grants grow with demand and shrink near the limit', () => {
    const { clock, a, b } = pair();
    let grants = 0;
    const limits: Limits = { requestsPerMinute: 1_000_000 };
    // 1,000 requests per second for 2 s; the other process sees the file change once per grant.
    let seen = 0;
    for (let t = 0; t < 2000; t++) {
      clock.now = T0 + t;
      assert.ok(admitted(a.tryAdmit('b', ONE, limits, clock.now)));
      const now = b.totals('b', clock.now).requests;
      if (now !== seen) grants++;
      seen = now;
    }
    a.flush(T0 + 10_000);
    assert.equal(b.totals('b', T0 + 10_000).requests, 2000);
    assert.ok(grants >= 10 && grants < 60, `${grants} grants for 2,000 requests`);
    // Near a limit a grant is a quarter of the room left at most, down to single sends.
    const c = pair();
    const tight: Limits = { requestsPerMinute: 8 };
    assert.ok(admitted(c.a.tryAdmit('b', ONE, tight, T0)));
    assert.equal(c.b.totals('b', T0).requests, 2);
    c.a.close();
    c.b.close();
    a.close();
    b.close();
  });

  test('settle and remove correct the slot a send was counted in, seen by others after a flush', () => {
    const { a, b } = pair();
    const limits: Limits = { tokensPerMinute: 1_000_000 };
    const r1 = a.tryAdmit('b', ONE, limits, T0);
    const r2 = a.tryAdmit('b', ONE, limits, T0 + 1);
    assert.ok('ref' in r1 && 'ref' in r2);
    a.settle(r1.ref, 100, 50);
    a.remove(r2.ref);
    assert.deepEqual(a.totals('b', T0 + 2), { requests: 1, input: 100, output: 50 });
    a.flush(T0 + 1000);
    assert.deepEqual(b.totals('b', T0 + 1000), { requests: 1, input: 100, output: 50 });
    a.close();
    b.close();
  });

  test('a per-second limit admits its rate and makes the next send wait about a second', () => {
    const { a } = pair();
    const limits: Limits = { requestsPerSecond: 5 };
    for (let k = 0; k < 5; k++) assert.ok(admitted(a.tryAdmit('b', ONE, limits, T0 + k)));
    const refused = a.tryAdmit('b', ONE, limits, T0 + 5);
    assert.ok('waitMs' in refused && refused.waitMs > 1000 && refused.waitMs <= 1000 + WINDOW_MARGIN_MS + 2 * GRANT_MS);
    a.close();
  });

  test('pause and learned limits: written through, read by other processes within the cache time', () => {
    const { clock, a, b } = pair();
    assert.equal(b.state('b').pausedUntil, 0);
    a.pause('b', T0 + 5000);
    assert.equal(a.state('b').pausedUntil, T0 + 5000);
    assert.equal(b.state('b').pausedUntil, 0, 'cached');
    clock.now += STATE_TTL_MS;
    assert.equal(b.state('b').pausedUntil, T0 + 5000);
    a.learn('b', { requestsPerMinute: 500 });
    assert.deepEqual(a.state('b').learned, { requestsPerMinute: 500 });
    clock.now += STATE_TTL_MS;
    const learned = b.state('b').learned;
    assert.deepEqual(learned, { requestsPerMinute: 500 });
    clock.now += STATE_TTL_MS;
    assert.equal(b.state('b').learned, learned, 'the same object while the limits do not change');
    a.close();
    b.close();
  });

  test('other processes with requests in flight on a bucket are counted from their fresh reports', () => {
    const path = dbPath();
    const clock = { now: T0 };
    const a = new SharedWindow(path, { clock: () => clock.now, processId: 1 });
    const b = new SharedWindow(path, { clock: () => clock.now, processId: 2 });
    assert.equal(a.peers('b', T0), 0);
    b.report('b', { inFlight: 3, target: 10 }, T0);
    a.report('b', { inFlight: 5, target: 10 }, T0);
    assert.equal(a.peers('b', T0 + 1), 1, 'b sends');
    assert.equal(b.peers('b', T0 + 1), 1, 'a sends; b does not count itself');
    assert.equal(a.peers('other', T0 + 1), 0, 'another bucket');
    b.report('b', { inFlight: 0, target: 10 }, T0 + 2);
    assert.equal(a.peers('b', T0 + 3), 0, 'b has nothing in flight');
    b.report('b', { inFlight: 1, target: 10 }, T0 + 4);
    assert.equal(a.peers('b', T0 + 4 + LOAD_FRESH_MS), 0, 'b stopped reporting');
    a.close();
    b.close();
  });

  test('close gives back unused grants at once', () => {
    const { a, b } = pair();
    assert.ok(admitted(a.tryAdmit('b', ONE, { requestsPerMinute: 1000 }, Date.now())));
    assert.ok(b.totals('b', Date.now()).requests > 1);
    a.close();
    assert.equal(b.totals('b', Date.now()).requests, 1);
    b.close();
  });
});

describe('RateLimiter', () => {
  const headers = (values: Record<string, string>) => ({ get: (name: string) => values[name] ?? null });

  test('with no limit known, one request goes first; its headers open the way', async () => {
    const window = new SharedWindow(dbPath());
    const limiter = new RateLimiter({ bucket: 'b', configured: {}, maxConcurrent: 8, window });
    const first = await limiter.acquire(ONE);
    let second = false;
    const pending = limiter.acquire(ONE).then((p) => {
      second = true;
      return p;
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(second, false, 'waits for the first answer');
    first.answered(
      { input: 10, output: 5 },
      headers({ 'x-ratelimit-limit-requests': '1000000', 'x-ratelimit-remaining-requests': '999999' })
    );
    (await pending).answered({ input: 10, output: 5 });
    assert.deepEqual(limiter.limits(), { requestsPerMinute: 1_000_000 });
    window.close();
  });

  test('a per-second limit holds over real time', async () => {
    const window = new SharedWindow(dbPath());
    const limiter = new RateLimiter({ bucket: 'b', configured: { requestsPerSecond: 5 }, maxConcurrent: 64, window });
    const started = Date.now();
    const times: number[] = [];
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const permit = await limiter.acquire(ONE);
        times.push(Date.now() - started);
        permit.answered({ input: 10, output: 5 });
      })
    );
    times.sort((x, y) => x - y);
    assert.ok(times[4]! < 500, `first five at once: ${times.join(', ')}`);
    assert.ok(times[5]! >= 1000, `the sixth a second later: ${times.join(', ')}`);
    window.close();
  });

  test('use of the key reported by the provider beyond our own sends is counted once', async () => {
    const window = new SharedWindow(dbPath());
    const limiter = new RateLimiter({ bucket: 'b', configured: { requestsPerMinute: 100 }, maxConcurrent: 8, window });
    const limit = { 'x-ratelimit-limit-requests': '100' };
    const p1 = await limiter.acquire(ONE);
    // The provider counts 50 of the key's requests in its window; we sent 1.
    p1.answered({ input: 10, output: 5 }, headers({ ...limit, 'x-ratelimit-remaining-requests': '50' }));
    assert.equal(window.totals('b', Date.now()).requests, 50);
    const p2 = await limiter.acquire(ONE);
    // One more, ours: nothing new from elsewhere.
    p2.answered({ input: 10, output: 5 }, headers({ ...limit, 'x-ratelimit-remaining-requests': '49' }));
    assert.equal(window.totals('b', Date.now()).requests, 51);
    window.close();
  });

  test('a 429 with budget left delays no one else; a 429 with the budget used up pauses the bucket', async () => {
    const window = new SharedWindow(dbPath());
    const limiter = new RateLimiter({ bucket: 'b', configured: { requestsPerSecond: 1000 }, maxConcurrent: 8, window });
    const limit = { 'x-ratelimit-limit-requests': '60000', 'x-ratelimit-reset-requests': '20s' };
    const left = (await limiter.acquire(ONE)).rateLimited(
      20_000,
      headers({ ...limit, 'x-ratelimit-remaining-requests': '500' })
    );
    assert.equal(window.state('b').pausedUntil, 0, 'congestion: no pause');
    assert.equal(left, 'request', 'only the refused request waits');
    assert.equal((await limiter.acquire(ONE)).congested(headers({})), 'request');
    assert.equal(window.state('b').pausedUntil, 0, '529/503: no pause');
    const before = Date.now();
    const out = (await limiter.acquire(ONE)).rateLimited(
      20_000,
      headers({ ...limit, 'x-ratelimit-remaining-requests': '0' })
    );
    assert.equal(out, 'bucket');
    assert.ok(window.state('b').pausedUntil >= before + 20_000, 'exhausted: the bucket waits for the hint');
    window.close();
  });

  test('a paced bucket refused for a budget back within a second does not pause: only that request waits', async () => {
    const window = new SharedWindow(dbPath());
    const limiter = new RateLimiter({
      bucket: 'b',
      configured: { requestsPerMinute: 60_000 },
      maxConcurrent: 8,
      window,
    });
    const exhausted = { 'x-ratelimit-limit-requests': '60000', 'x-ratelimit-remaining-requests': '0' };
    const scope = (await limiter.acquire(ONE)).rateLimited(
      120,
      headers({ ...exhausted, 'x-ratelimit-reset-requests': '120ms' })
    );
    assert.equal(window.state('b').pausedUntil, 0);
    assert.equal(scope, 'request');
    window.close();
  });

  test('slots go to waiters one each, oldest first, and a cancelled waiter gives its turn away', async () => {
    const window = new SharedWindow(dbPath());
    const limiter = new RateLimiter({ bucket: 'b', configured: {}, maxConcurrent: 8, window });
    // Nothing known: one request at a time until headers or their absence are seen.
    const first = await limiter.acquire(ONE);
    const order: number[] = [];
    const cancel = new AbortController();
    const gone = limiter.acquire(ONE, cancel.signal).catch(() => 'cancelled');
    const waiting = [1, 2, 3].map((k) => limiter.acquire(ONE).then((p) => (order.push(k), p)));
    assert.equal(limiter.load().inFlight, 1);
    cancel.abort();
    assert.equal(await gone, 'cancelled');
    first.answered({ input: 10, output: 5 }, headers({ 'x-ratelimit-limit-requests': '1000000' }));
    const permits = await Promise.all(waiting);
    assert.deepEqual(order, [1, 2, 3]);
    assert.equal(limiter.load().inFlight, 3);
    permits.forEach((p) => p.answered({ input: 10, output: 5 }));
    assert.equal(limiter.load().inFlight, 0);
    window.close();
  });

  test('a cost given as a function is estimated only when the request has its slot', async () => {
    const window = new SharedWindow(dbPath());
    const limiter = new RateLimiter({ bucket: 'b', configured: {}, maxConcurrent: 8, window });
    const asked: string[] = [];
    const first = await limiter.acquire(() => (asked.push('first'), ONE));
    const second = limiter.acquire(() => (asked.push('second'), ONE));
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(asked, ['first'], 'the second waits for a slot, not yet estimated');
    first.answered({ input: 10, output: 5 }, headers({ 'x-ratelimit-limit-requests': '1000000' }));
    (await second).answered({ input: 10, output: 5 });
    assert.deepEqual(asked, ['first', 'second']);
    window.close();
  });

  test("each job keeps its own maxConcurrentRequests; the bucket's limiter is not held to the first job's", async () => {
    const pool = new LimiterPool(dbPath());
    const curator = { name: 'c', provider: 'openai', model: 'm', prompt: () => 'x' } as unknown as Curator;
    const first = pool.get(curator, 'http://sim/v1', 2);
    const small = pool.jobSlots('job-1', 2);
    const large = pool.jobSlots('job-2', 1000);
    await small.gate.take();
    await small.gate.take();
    let third = false;
    void Promise.resolve(small.gate.take()).then(() => (third = true));
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(third, false, 'job-1 is held to 2');
    for (let k = 0; k < 10; k++) await large.gate.take();
    assert.equal(large.gate.inUse, 10, 'job-2 is not');
    // One answer opens the bucket; its ceiling is the machine's bound, not job-1's 2.
    (await first.limiter.acquire(ONE)).answered(
      { input: 10, output: 5 },
      headers({ 'x-ratelimit-limit-requests': '600000' })
    );
    const permits = await Promise.all(Array.from({ length: 10 }, () => first.limiter.acquire(ONE)));
    assert.equal(first.limiter.load().inFlight, 10);
    permits.forEach((p) => p.answered({ input: 10, output: 5 }));
    small.done();
    large.done();
    pool.close();
  });
});
