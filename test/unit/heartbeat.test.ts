import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { MockActivityEnvironment } from '@temporalio/testing';
import { HEARTBEAT_EVERY_MS, withHeartbeat } from '../../src/activities/heartbeat';
import { planActivityOptions } from '../../src/workflows/activity-options';

test('a long activity heartbeats while it works and stops when it settles; plan and finalize have a heartbeat timeout', async () => {
  const env = new MockActivityEnvironment();
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(d));
  // The work lasts until it has been seen to beat twice.
  const result = await env.run(() =>
    withHeartbeat({ planning: 'x' }, async () => {
      while (beats.length < 2) await once(env, 'heartbeat');
      return 7;
    })
  );
  assert.equal(result, 7);
  assert.deepEqual(beats[0], { planning: 'x' });
  const settled = beats.length;
  await sleep(HEARTBEAT_EVERY_MS * 2);
  assert.equal(beats.length, settled, 'no heartbeat after the work settled');
  assert.ok(planActivityOptions.heartbeatTimeout, 'plan and finalize are noticed lost by their heartbeat');
});
