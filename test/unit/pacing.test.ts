import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  MIN_PACE_SHARE,
  Pacer,
  paceCeiling,
  PACE_SHARE,
  REFUSAL_WINDOW_MS,
  SHARE_RECOVERY_PER_SECOND,
  SHARE_TRIM,
} from '../../src/limits/pacing';
import { paceShare } from '../../src/limits/rate-limiter';

const ONE = { requests: 1, input: 100, output: 50 };
const T0 = 1_700_000_000_000;

/** Sends as fast as the pacer lets them, for `ms` of simulated time; the times of the sends. */
function drive(pacer: Pacer, limits: Parameters<Pacer['take']>[1], ms: number, cost = ONE): number[] {
  const sent: number[] = [];
  for (let now = T0; now < T0 + ms;) {
    const wait = pacer.take(cost, limits, now);
    if (wait === 0) sent.push(now);
    else now += wait;
  }
  return sent;
}

describe('Pacer', () => {
  test('a new limit lets out a small burst, not a minute', () => {
    const pacer = new Pacer();
    let burst = 0;
    while (pacer.take(ONE, { requestsPerMinute: 6000 }, T0) === 0) burst++;
    assert.ok(burst >= 1 && burst <= 10, `burst ${burst}`);
  });

  test('no one-second interval carries more than a second of the limit; the minute stays under the limit', () => {
    const limits = { requestsPerMinute: 6000 };
    const sent = drive(new Pacer(), limits, 60_000);
    assert.ok(sent.length <= 6000, `minute: ${sent.length}`);
    assert.ok(sent.length >= 0.95 * 6000, `paced near the limit: ${sent.length}`);
    let worst = 0;
    for (let a = 0, b = 0; b < sent.length; b++) {
      while (sent[b]! - sent[a]! >= 1000) a++;
      worst = Math.max(worst, b - a + 1);
    }
    assert.ok(worst <= 100, `busiest second: ${worst}`);
  });

  test('token limits pace by the cost of each request', () => {
    const sent = drive(new Pacer(), { tokensPerMinute: 150 * 600 }, 60_000);
    // 600 requests of 150 tokens a minute, paced a little under.
    assert.ok(sent.length <= 600 * PACE_SHARE + 1 && sent.length >= 0.95 * 600, `sent ${sent.length}`);
    const anthropic = drive(new Pacer(), { inputTokensPerMinute: 1e9, outputTokensPerMinute: 50 * 120 }, 60_000);
    assert.ok(anthropic.length <= 120 && anthropic.length >= 110, `output-bound ${anthropic.length}`);
  });

  test('a request larger than the bucket still goes, when the bucket is full, and leaves it in debt', () => {
    const pacer = new Pacer();
    const big = { requests: 1, input: 5000, output: 0 };
    assert.equal(pacer.take(big, { inputTokensPerMinute: 6000 }, T0), 0);
    const wait = pacer.take(big, { inputTokensPerMinute: 6000 }, T0);
    assert.ok(wait > 45_000, `waits about its cost: ${wait}`);
  });

  test('a refused turn is given back', () => {
    const pacer = new Pacer();
    const limits = { requestsPerMinute: 60 };
    assert.equal(pacer.take(ONE, limits, T0), 0);
    assert.ok(pacer.take(ONE, limits, T0) > 0);
    pacer.refund(ONE, limits);
    assert.equal(pacer.take(ONE, limits, T0), 0);
  });

  test("a request the provider refused gives its place back at the provider's hint, within the pace's margin", () => {
    const limits = { requestsPerMinute: 6000 };
    /** Sends for a minute, every `nth` refused and back 200 ms later (or not given back); the times of the sends. */
    const refusing = (nth: number, giveBack: boolean) => {
      const pacer = new Pacer();
      const sent: number[] = [];
      for (let now = T0; now < T0 + 60_000;) {
        const wait = pacer.take(ONE, limits, now);
        if (wait > 0) {
          now += wait;
          continue;
        }
        sent.push(now);
        if (giveBack && sent.length % nth === 0) pacer.refused(ONE, limits, now + 200);
      }
      return sent;
    };
    const counted = (sent: number[], nth: number) => sent.length - Math.floor(sent.length / nth);
    // One in fifty refused (within the 3% margin): each refusal's place is given back, so it costs no answer.
    const given = refusing(50, true);
    const plain = refusing(50, false);
    const refusals = Math.floor(given.length / 50);
    assert.ok(
      counted(given, 50) - counted(plain, 50) >= 0.9 * refusals,
      `answers ${counted(given, 50)} with, ${counted(plain, 50)} without, ${refusals} refusals`
    );
    // One in ten refused: beyond the margin nothing more is given back; no second carries more sends than the limit.
    const many = refusing(10, true);
    let worst = 0;
    for (let a = 0, b = 0; b < many.length; b++) {
      while (many[b]! - many[a]! >= 1000) a++;
      worst = Math.max(worst, b - a + 1);
    }
    assert.ok(worst <= 100, `busiest second: ${worst}`);
    assert.ok(many.length <= 6000, `minute: ${many.length}`);

    // Two pacers driven alike until the pace binds; one hears of three refusals, back in 500 ms.
    const fill = (p: Pacer) => {
      let t = T0;
      while (t < T0 + 2000) t += p.take(ONE, limits, t) || 0;
      while (p.take(ONE, limits, t) === 0);
      return t;
    };
    const held = new Pacer();
    const twin = new Pacer();
    const now = fill(held);
    assert.equal(fill(twin), now);
    for (let k = 0; k < 3; k++) held.refused(ONE, limits, now + 500);
    // Not before the hint: a full second stays full until then.
    let extra = 0;
    for (let at = now + 1; at < now + 500; at++) {
      if (held.take(ONE, limits, at) === 0) extra++;
      if (twin.take(ONE, limits, at) === 0) extra--;
    }
    assert.equal(extra, 0, 'nothing given back before the hint');
    // From the hint on, within the second the places left, they are back on top of the pace's own refill.
    for (let at = now + 500; at < now + 1000; at++) {
      if (held.take(ONE, limits, at) === 0) extra++;
      if (twin.take(ONE, limits, at) === 0) extra--;
    }
    assert.ok(extra >= 3, `places given back: ${extra}`);
  });

  test('requestsPerSecond is left to the window (already a short interval)', () => {
    const pacer = new Pacer();
    for (let k = 0; k < 50; k++) assert.equal(pacer.take(ONE, { requestsPerSecond: 5 }, T0), 0);
  });

  test('after a stall the burst makes up for it, but no sliding second ever carries more than limit / 60', () => {
    const pacer = new Pacer();
    const limits = { requestsPerMinute: 6000 };
    const sent: number[] = [];
    let now = T0;
    const run = (until: number) => {
      while (now < until) {
        const wait = pacer.take(ONE, limits, now);
        if (wait === 0) sent.push(now);
        else now += wait;
      }
    };
    // Steady sending, then the event loop stalls for 400 ms and comes back, several times.
    for (let k = 0; k < 10; k++) {
      run(now + 3000);
      now += 400;
    }
    let worst = 0;
    for (let a = 0, b = 0; b < sent.length; b++) {
      while (sent[b]! - sent[a]! >= 1000) a++;
      worst = Math.max(worst, b - a + 1);
    }
    assert.ok(worst <= 100, `busiest second: ${worst}`);
  });

  /** Refusals of a used-up second at a 100 requests/s limit: 1% of a window's 500 requests are tolerated. */
  const TOLERATED = (100 * REFUSAL_WINDOW_MS * 0.01) / 1000;
  const refuse = (pacer: Pacer, at: number, n = TOLERATED + 1) => {
    for (let k = 0; k < n; k++) pacer.bunched(at, 100);
  };

  test('a few refusals do not trim the pace, even together; more within the window do, each trim on its own', () => {
    const pacer = new Pacer();
    refuse(pacer, T0, TOLERATED);
    assert.equal(pacer.share(T0), PACE_SHARE, 'a busy moment of refusals is tolerated');
    refuse(pacer, T0 + REFUSAL_WINDOW_MS, TOLERATED);
    assert.equal(pacer.share(T0 + REFUSAL_WINDOW_MS), PACE_SHARE, 'and as many again in the next window');
    refuse(pacer, T0 + REFUSAL_WINDOW_MS + 100, 1);
    const once = PACE_SHARE * SHARE_TRIM;
    assert.equal(pacer.share(T0 + REFUSAL_WINDOW_MS + 100), once, 'one more within the window trims');
    refuse(pacer, T0 + REFUSAL_WINDOW_MS + 1500, TOLERATED);
    assert.ok(pacer.share(T0 + REFUSAL_WINDOW_MS + 1500) >= once, 'the next trim needs refusals of its own');
    for (let k = 3; k < 100; k++) refuse(pacer, T0 + k * REFUSAL_WINDOW_MS);
    assert.equal(pacer.share(T0 + 99 * REFUSAL_WINDOW_MS), MIN_PACE_SHARE);
  });

  test('a trimmed pace sends less, and is given back while no refusal comes', () => {
    const limits = { requestsPerMinute: 6000 };
    const trimmed = new Pacer();
    for (let k = 0; k < 5; k++) refuse(trimmed, T0 - 5000 + k * 1000);
    const share = trimmed.share(T0);
    assert.ok(share < PACE_SHARE && share >= MIN_PACE_SHARE, `trimmed to ${share}`);
    const sent = drive(trimmed, limits, 10_000);
    const full = drive(new Pacer(), limits, 10_000);
    assert.ok(sent.length < full.length, `trimmed ${sent.length} < untrimmed ${full.length}`);
    // The last trim was at T0 - 1000: the share comes back from a second after it, ten seconds by `later`.
    const later = T0 + 10_000;
    assert.ok(trimmed.share(later) > share, 'recovering');
    assert.ok(Math.abs(trimmed.share(later) - Math.min(PACE_SHARE, share + 10 * SHARE_RECOVERY_PER_SECOND)) < 1e-9);
    assert.equal(trimmed.share(later + 600_000), PACE_SHARE, 'never above the untrimmed share');
  });

  test("a token bucket's provider is paced at its whole rate, an interval's with a margin; both within every second", () => {
    assert.equal(paceCeiling('token-bucket'), 1);
    assert.equal(paceCeiling('per-interval'), PACE_SHARE);
    assert.equal(paceCeiling(), PACE_SHARE);
    const limits = { requestsPerMinute: 6000 };
    const bucket = drive(new Pacer(paceCeiling('token-bucket')), limits, 60_000);
    const interval = drive(new Pacer(paceCeiling('per-interval')), limits, 60_000);
    assert.ok(bucket.length > interval.length, `${bucket.length} > ${interval.length}`);
    assert.ok(bucket.length >= 0.99 * 6000 && bucket.length <= 6000, `minute: ${bucket.length}`);
    assert.ok(busiestSecond(bucket) <= 100, `busiest second: ${busiestSecond(bucket)}`);
    // A trim still works below the whole rate, to the same floor.
    const trimmed = new Pacer(1);
    for (let k = 0; k < 5; k++) refuse(trimmed, T0 - 5000 + k * 1000);
    assert.ok(trimmed.share(T0) < 1 && trimmed.share(T0) >= MIN_PACE_SHARE);
    assert.equal(trimmed.share(T0 + 3_600_000), 1);
  });

  /** Most sends in any sliding second. */
  function busiestSecond(sent: number[]): number {
    let most = 0;
    for (let i = 0, j = 0; i < sent.length; i++) {
      while (sent[i]! - sent[j]! >= 1000) j++;
      most = Math.max(most, i - j + 1);
    }
    return most;
  }

  /** Two processes' pacers sending as fast as each lets them, on one clock: the merged send times. */
  function driveTwo(limits: Parameters<Pacer['take']>[1], ms: number): number[] {
    const pacers = [new Pacer(), new Pacer()];
    const sent: number[] = [];
    for (let now = T0; now < T0 + ms; now++) {
      for (const pacer of pacers) while (pacer.take(ONE, limits, now) === 0) sent.push(now);
    }
    return sent;
  }

  test('two processes sharing a bucket each pace to their share: together they keep every second of the limit', () => {
    const limits = { requestsPerMinute: 6000 };
    // Each paced to the whole limit, two processes send twice the rate (the shared window only keeps the minute).
    assert.ok(busiestSecond(driveTwo(limits, 10_000)) > 150);
    const shared = driveTwo(paceShare(limits, 2), 10_000);
    assert.ok(busiestSecond(shared) <= 100, `busiest second ${busiestSecond(shared)}`);
    assert.ok(shared.length >= 0.95 * 1000, `${shared.length} in 10 s`);
    assert.deepEqual(paceShare(limits, 1), limits);
    assert.deepEqual(paceShare({ tokensPerMinute: 900, requestsPerSecond: 7 }, 3), {
      tokensPerMinute: 300,
      requestsPerSecond: 7,
      requestsPerMinute: undefined,
      inputTokensPerMinute: undefined,
      outputTokensPerMinute: undefined,
    });
  });
});
