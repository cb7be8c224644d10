import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConcurrencyController,
  HOLD_ROUNDS,
  HOLD_SHARE,
  defaultConcurrencyCeiling,
  usableMemory,
  HEADROOM,
  SPARE,
} from '../../src/limits/concurrency';

describe('ConcurrencyController', () => {
  test('the default ceiling follows memory, within its bounds', () => {
    assert.equal(defaultConcurrencyCeiling(24 * 2 ** 30), 8192);
    assert.equal(defaultConcurrencyCeiling(4 * 2 ** 30), 2048);
    assert.equal(defaultConcurrencyCeiling(2 ** 28), 256);
  });

  test("the memory is a container's limit where it is below the machine's", () => {
    const host = 64 * 2 ** 30;
    assert.equal(usableMemory(host, 2 * 2 ** 30), 2 * 2 ** 30);
    assert.equal(defaultConcurrencyCeiling(usableMemory(host, 2 * 2 ** 30)), 1024);
    // cgroup v2 without a limit reports 2^64; older Node or no cgroup: nothing, or 0.
    assert.equal(usableMemory(host, 2 ** 64), host);
    assert.equal(usableMemory(host, undefined), host);
    assert.equal(usableMemory(host, 0), host);
  });

  test("with a known limit, Little's law: rate x latency with headroom, growing with latency, under the ceiling", () => {
    const c = new ConcurrencyController(8192);
    for (let k = 0; k < 2000; k++) c.answered(3000, 500);
    const target = c.target(500);
    assert.equal(target, Math.ceil(500 * 3 * HEADROOM) + SPARE);
    for (let k = 0; k < 2000; k++) c.answered(30_000, 500);
    assert.equal(c.target(500), 8192, 'capped by the ceiling');
    const small = new ConcurrencyController(64);
    for (let k = 0; k < 100; k++) small.answered(3000, 500);
    assert.equal(small.target(500), 64, 'the user setting is an upper bound');
  });

  test('a trickle of refusals with budget left costs nothing; a flood trims the headroom, never below the need', () => {
    const c = new ConcurrencyController(8192);
    const rate = 100;
    for (let k = 0; k < 500; k++) c.answered(2000, rate);
    const full = c.target(rate);
    for (let k = 0; k < 2000; k++) {
      if (k % 20 === 0) c.congested(rate);
      else c.answered(2000, rate);
    }
    assert.equal(c.target(rate), full, '5% refusals');
    for (let k = 0; k < 2000; k++) {
      if (k % 2 === 0) c.congested(rate);
      else c.answered(2000, rate);
    }
    const trimmed = c.target(rate);
    assert.ok(trimmed < full, `trimmed ${trimmed} < ${full}`);
    assert.ok(trimmed >= rate * 2 + SPARE, `never below the need: ${trimmed}`);
  });

  /** A server that answers `capacity` requests at once in `serviceMs`, queues up to `queue` more, refuses the rest. */
  function simulateServer(capacity: number, queue: number, rounds: number) {
    const c = new ConcurrencyController(8192);
    const targets: number[] = [];
    let refused = 0;
    let served = 0;
    let probeRefused = 0;
    for (let r = 0; r < rounds; r++) {
      if (r === 20) probeRefused = refused;
      const inFlight = c.target(undefined);
      const sent = c.epoch;
      targets.push(inFlight);
      const accepted = Math.min(inFlight, capacity + queue);
      const latency = 1000 * (accepted > capacity ? accepted / capacity : 1);
      for (let k = 0; k < accepted; k++) c.answered(latency, undefined);
      for (let k = accepted; k < inFlight; k++) c.congested(undefined, sent);
      refused += inFlight - accepted;
      served += accepted;
    }
    return { targets, refused: refused - probeRefused, probeRefused, served, c };
  }

  test('without headers, probing finds the capacity of a server that queues and then refuses, and stays near it', () => {
    // Rounds sent all at once, answered before any refusal is heard of: a cruder world than the one below, where the
    // probe's growth within a round overshoots further; the steady state is what it checks.
    const { targets, refused, served } = simulateServer(256, 64, 60);
    const steady = targets.slice(20);
    const mean = steady.reduce((a, b) => a + b, 0) / steady.length;
    assert.ok(mean >= 0.9 * 256 && mean <= 320, `steady target ${mean.toFixed(0)}: ${steady.join(' ')}`);
    assert.ok(refused <= 0.01 * served, `refused in steady state ${refused} of ${served}`);
  });

  /**
   * A server of `capacity` places answering in 1-2 s (seeded, uniform), queueing `queue` more and refusing beyond at
   * once, fed by a controller without headers, in steps of 10 ms of model time: requests sent per second, refusals.
   */
  function streamToServer(capacity: number, queue: number, total: number) {
    const c = new ConcurrencyController(8192);
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    type Request = { sentAt: number; doneAt: number };
    const serving: Request[] = [];
    const waiting: Request[] = [];
    const perSecond: number[] = [];
    let sent = 0;
    let refused = 0;
    let answered = 0;
    for (let now = 0; answered < total; now += 10) {
      for (let k = serving.length - 1; k >= 0; k--) {
        if (serving[k]!.doneAt > now) continue;
        c.answered(now - serving[k]!.sentAt, undefined);
        serving.splice(k, 1);
        answered++;
      }
      while (serving.length < capacity && waiting.length > 0) {
        const r = waiting.shift()!;
        r.doneAt = now + 1000 + 1000 * random();
        serving.push(r);
      }
      while (sent < total && serving.length + waiting.length < c.target(undefined)) {
        const r = { sentAt: now, doneAt: now + 1000 + 1000 * random() };
        if (serving.length < capacity) serving.push(r);
        else if (waiting.length < queue) waiting.push(r);
        else {
          refused++;
          c.congested(undefined, c.epoch);
          continue;
        }
        sent++;
        const second = Math.floor(now / 1000);
        perSecond[second] = (perSecond[second] ?? 0) + 1;
      }
    }
    return { perSecond: Array.from(perSecond, (n) => n ?? 0), refused };
  }

  test('without headers, the probe reaches a server of 256 places within seconds, with few refusals', () => {
    for (const queue of [0, 64, 512]) {
      const { perSecond, refused } = streamToServer(256, queue, 5000);
      // The server's rate: 256 places / 1.5 s = 170.7 requests/s. One probe step a round (x1.5 per round of one
      // latency) took 11 s to get there; growing with every answer takes about half as long.
      const reached = perSecond.findIndex((n, s) => s > 0 && n + perSecond[s - 1]! >= 2 * 0.8 * 170.7);
      const what = `queue ${queue}: ${perSecond.join(',')}`;
      assert.ok(reached >= 0 && reached <= 7, `80% of capacity from second ${reached}: ${what}`);
      const later = perSecond.slice(10, -2);
      const mean = later.reduce((a, b) => a + b, 0) / later.length;
      assert.ok(mean >= 0.85 * 170.7, `then ${mean.toFixed(1)}/s: ${what}`);
      assert.ok(refused <= 0.01 * 5000, `${refused} refused: ${what}`);
    }
  });

  /** A controller without headers after five whole probing rounds (one target's worth of answers each). */
  function probed(): ConcurrencyController {
    const c = new ConcurrencyController(1000);
    for (let round = 0; round < 5; round++) {
      const n = c.target(undefined);
      for (let k = 0; k < n; k++) c.answered(100, undefined);
    }
    return c;
  }

  test('without headers, refusals shrink the target by a factor, and it grows back slowly', () => {
    const c = probed();
    const before = c.target(undefined);
    const sent = c.epoch;
    for (let k = 0; k < before; k++) c.congested(undefined, sent);
    const after = c.target(undefined);
    assert.ok(after < before && after >= Math.floor(before * 0.8) - 1, `${before} -> ${after}`);
    for (let k = 0; k < after; k++) c.answered(100, undefined);
    const grown = c.target(undefined);
    assert.ok(grown > after && grown < after * 1.5, `additive growth ${after} -> ${grown}`);
  });

  test('without headers, a refusal cuts at once, and refusals of requests sent before the cut cut nothing more', () => {
    const c = probed();
    const before = c.target(undefined);
    const sent = c.epoch;
    c.congested(undefined, sent);
    const cut = c.target(undefined);
    assert.equal(cut, Math.floor(before * 0.8), 'cut at the first refusal');
    for (let k = 0; k < 50; k++) c.congested(undefined, sent);
    assert.equal(c.target(undefined), cut, 'stale refusals cut nothing more');
    c.congested(undefined, c.epoch);
    assert.equal(c.target(undefined), Math.floor(cut * 0.8), 'a refusal sent after the cut cuts again');
  });

  test('without headers, past the first probe a cut starts from what the server held, and the target stays below it', () => {
    const c = new ConcurrencyController(8192);
    // The first probe overshoots and is cut; then rounds of 40 in flight are answered.
    for (let k = 0; k < 60; k++) c.answered(40, undefined, 16);
    c.congested(undefined, c.epoch);
    for (let k = 0; k < 200; k++) c.answered(40, undefined, Math.min(40, c.target(undefined)));
    // Answers that came together in one turn of the event loop: a round ends and the target grows past 40 at once.
    const ahead = c.target(undefined);
    assert.ok(ahead > 40, `the target grew past what was held: ${ahead}`);
    // The burst it let out is refused: the first refusal cuts below what was held (40), not 0.8 x the target.
    const sent = c.epoch;
    for (let k = 0; k < 10; k++) c.congested(undefined, sent);
    assert.equal(c.target(undefined), Math.floor(40 * 0.8));
    // It grows back to just below 40 and stays there for HOLD_ROUNDS rounds, then grows by one place a round.
    const targets: number[] = [];
    for (let round = 0; round < HOLD_ROUNDS + 6; round++) {
      const n = c.target(undefined);
      for (let k = 0; k < n; k++) c.answered(40, undefined, n);
      targets.push(c.target(undefined));
    }
    const hold = Math.floor(40 * HOLD_SHARE);
    assert.equal(Math.max(...targets.slice(0, HOLD_ROUNDS - 1)), hold, targets.join(' '));
    assert.ok(targets.at(-1)! > hold && targets.at(-1)! <= hold + 7, targets.join(' '));
  });

  test('without headers, a refused place taken again at once (refusals come back fast) keeps refusals few', () => {
    // A server of 256 places and a queue of 64; a refusal frees its place at once and the next request takes it.
    const c = new ConcurrencyController(8192);
    const capacity = 320;
    let refused = 0;
    let answered = 0;
    const inFlight: number[] = [];
    for (let step = 0; step < 20_000; step++) {
      while (inFlight.length < c.target(undefined)) {
        if (inFlight.length >= capacity) {
          refused++;
          c.congested(undefined, c.epoch);
          continue;
        }
        inFlight.push(c.epoch);
      }
      // One answer per step, oldest first.
      inFlight.shift();
      c.answered(1000, undefined);
      answered++;
    }
    assert.ok(refused <= 0.01 * answered, `${refused} refused for ${answered} answered`);
    assert.ok(c.target(undefined) >= 0.8 * 256, `target ${c.target(undefined)}`);
  });
});
