/**
 * The last step of pacing (`src/limits/wire-gate.ts`): writes go in tasks of their own, spread at the rate, and no
 * sliding second of writes carries more than the limit. Real timers, small limits: a test takes about a second.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { BURST_SECONDS, FREE_SHARE, WireGate } from '../../src/limits/wire-gate';

/** Sends `n` requests through `gate` at once; resolves with the time each was written, in order. */
async function sendAll(gate: WireGate, n: number): Promise<number[]> {
  const at: number[] = [];
  await Promise.all(Array.from({ length: n }, () => gate.send(async () => at.push(performance.now()))));
  return at;
}

/** The most writes in any sliding `windowMs`. */
function mostIn(at: number[], windowMs: number): number {
  let most = 0;
  for (let i = 0, j = 0; i < at.length; i++) {
    while (at[j]! <= at[i]! - windowMs) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

describe('WireGate', () => {
  test('without a known limit, a write goes at once, in the caller’s task', () => {
    const gate = new WireGate(() => undefined);
    let written = false;
    void gate.send(async () => (written = true));
    assert.equal(written, true);
  });

  test('far from the limit a write goes at once; near it, never in the caller’s task but in a turn of its own', async () => {
    const gate = new WireGate(() => 4);
    let written = 0;
    const sends = Array.from({ length: 4 * FREE_SHARE }, () => gate.send(async () => written++));
    assert.equal(written, 4 * FREE_SHARE, 'the first half of the second goes at once');
    sends.push(gate.send(async () => written++));
    // Still the caller's task, however long it runs: its promise jobs included.
    await Promise.resolve();
    assert.equal(written, 4 * FREE_SHARE);
    await nextTurn();
    assert.equal(written, 4 * FREE_SHARE + 1);
    await Promise.all(sends);
  });

  test('a backlog is spread at the rate: a short burst first, never more than the limit in any second', async () => {
    const perSecond = 40;
    const all = await sendAll(new WireGate(() => perSecond), 80);
    assert.ok(mostIn(all, 1000) <= perSecond, `most in a second: ${mostIn(all, 1000)}`);
    // Past the free half of the second, the first turn lets out a burst, not the backlog...
    const at = all.slice(perSecond * FREE_SHARE);
    const first = at.filter((t) => t - at[0]! < 5).length;
    assert.ok(first <= Math.ceil(perSecond * BURST_SECONDS) + 1, `first turn wrote ${first}`);
    // ...and the rest is spread, not let out a second's worth at once: the burst and what 100 ms of the rate adds.
    const spread = Math.ceil(perSecond * (BURST_SECONDS + 0.1)) + 1;
    assert.ok(mostIn(at, 100) <= spread, `most in 100 ms: ${mostIn(at, 100)}`);
  });

  test("a refused write stops counting at the provider's hint, not before: the next goes then, not a second later", async () => {
    const perSecond = 10;
    const gate = new WireGate(() => perSecond);
    // Ten writes spread over most of a second fill it; the first leaves it a second after it went.
    const first = await sendAll(gate, perSecond);
    const full = performance.now();
    gate.refused(Date.now() + 60);
    const [next] = await sendAll(gate, 1);
    assert.ok(next! - full >= 55, `written ${(next! - full).toFixed(0)} ms after the second filled, before the hint`);
    const sinceFirst = next! - first[0]!;
    assert.ok(
      sinceFirst < 960,
      `written ${sinceFirst.toFixed(0)} ms after the first: the refused place was not given back`
    );
  });

  test('a write that left late (its connection was still opening) counts in the second from when it left', async () => {
    const gate = new WireGate(() => 4);
    const t0 = performance.now();
    // The first write's connection opened 600 ms after the gate let it out.
    await gate.send(async (late) => late(Date.now() + 600));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const at = await sendAll(gate, 4);
    // The second fills with the fourth; the fifth write waits for the oldest to leave it: the one written at 300 ms,
    // not the first, counted from 600 ms (without the move it would go about a second after the first).
    assert.ok(at[3]! - t0 >= 1250, `the fifth went ${(at[3]! - t0).toFixed(0)} ms after the first`);
  });

  test('a request aborted while it waits is never written, and the others still go', async () => {
    const gate = new WireGate(() => 10);
    const abort = new AbortController();
    let written = 0;
    // The free half of the second goes at once, and one more waits its turn.
    const first = Array.from({ length: 10 * FREE_SHARE + 1 }, () => gate.send(async () => written++));
    const gone = gate.send(async () => written++, abort.signal).catch((err: unknown) => err);
    const last = gate.send(async () => written++);
    abort.abort(new Error('stopped'));
    assert.equal(((await gone) as Error).message, 'stopped');
    await Promise.all([...first, last]);
    assert.equal(written, 10 * FREE_SHARE + 2);
    assert.equal(gate.waiting, 0);
  });
});
