import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Gate } from '../../src/limits/gate';

describe('Gate', () => {
  test('places go to waiters oldest first, one per release; a cancelled waiter leaves the queue', async () => {
    let capacity = 2;
    const gate = new Gate(() => capacity);
    await gate.take();
    await gate.take();
    const order: string[] = [];
    const cancel = new AbortController();
    const a = Promise.resolve(gate.take()).then(() => order.push('a'));
    const gone = Promise.resolve(gate.take(cancel.signal)).catch(() => order.push('cancelled'));
    const b = Promise.resolve(gate.take()).then(() => order.push('b'));
    assert.equal(gate.waiting, 3);
    cancel.abort();
    await gone;
    gate.release();
    await a;
    assert.deepEqual(order, ['cancelled', 'a']);
    assert.equal(gate.inUse, 2);
    // A capacity that grows lets the next waiter in at once when pumped.
    capacity = 3;
    gate.pump();
    await b;
    assert.deepEqual(order, ['cancelled', 'a', 'b']);
    assert.equal(gate.inUse, 3);
    assert.equal(gate.waiting, 0);
  });

  test('a thousand waiters are let in one per release, in order', async () => {
    const gate = new Gate(() => 1);
    await gate.take();
    const order: number[] = [];
    const all = Array.from({ length: 1000 }, (_, k) => Promise.resolve(gate.take()).then(() => order.push(k)));
    for (let k = 0; k < 1000; k++) {
      gate.release();
      await all[k];
      assert.equal(gate.inUse, 1);
    }
    assert.deepEqual(
      order,
      Array.from({ length: 1000 }, (_, k) => k)
    );
  });

  test('takeEach queues once for many places: given in order with the others, declined or aborted ends it', async () => {
    const gate = new Gate(() => 2);
    await gate.take();
    await gate.take();
    const order: string[] = [];
    const a = Promise.resolve(gate.take()).then(() => order.push('a'));
    let wanted = 3;
    const many = gate.takeEach(5, () => {
      if (wanted === 0) return false;
      wanted--;
      order.push('m');
      return true;
    });
    const b = Promise.resolve(gate.take()).then(() => order.push('b'));
    assert.equal(gate.waiting, 3);
    // Three releases: one to `a`, then two to the many-place waiter, which stays ahead of `b`.
    gate.release();
    gate.release();
    gate.release();
    await a;
    // (`a` is recorded a microtask after it got its place, the others as they get theirs.)
    assert.deepEqual([...order].sort(), ['a', 'm', 'm']);
    assert.equal(gate.inUse, 2);
    // Its third place, then it declines the fourth: that place goes on to `b`, and the wait ends.
    gate.release();
    gate.release();
    await many;
    await b;
    assert.deepEqual(order.slice(3), ['m', 'b']);
    assert.equal(gate.inUse, 2);
    assert.equal(gate.waiting, 0);

    // An aborted wait leaves the queue without taking anything.
    const stop = new AbortController();
    let given = 0;
    const aborted = gate.takeEach(3, () => (given++, true), stop.signal);
    assert.equal(gate.waiting, 1);
    stop.abort();
    await aborted;
    gate.release();
    assert.equal(given, 0);
    assert.equal(gate.inUse, 1);
    assert.equal(gate.waiting, 0);
  });

  test('a place given by takeEach may be released from its callback without being given twice', async () => {
    const gate = new Gate(() => 1);
    const got: number[] = [];
    await gate.takeEach(4, () => {
      got.push(gate.inUse);
      // Work that ends at once gives its place back before the next is handed out.
      gate.release();
      return true;
    });
    assert.deepEqual(got, [1, 1, 1, 1]);
    assert.equal(gate.inUse, 0);
  });
});
