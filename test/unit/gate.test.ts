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
});
