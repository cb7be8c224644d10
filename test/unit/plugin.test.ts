/**
 * CuratorPlugin's worker configuration, without a server: what it adds to a user's worker options and what it keeps.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BundleOptions, WorkerOptions } from '@temporalio/worker';
import { defineCurator } from '../../src/curator';
import { CuratorPlugin } from '../../src/plugin';
import { workflowsPath as curatorWorkflowsPath } from '../../src/worker';

const echo = defineCurator({ name: 'echo', model: 'gpt-4o-mini', prompt: (row: { text: string }) => row.text });

// Never created: configuring a worker opens no file, the activities do on their first call.
const plugin = () => new CuratorPlugin({ curators: [echo], cacheDir: join(tmpdir(), 'curator-plugin-unit'), env: {} });

const OUR_ACTIVITIES = [
  'cancelProviderBatch',
  'curatorCancelProviderBatch',
  'curatorDownloadProviderBatch',
  'curatorFinalize',
  'curatorPlan',
  'curatorPollProviderBatches',
  'curatorProcessShard',
  'curatorSubmitProviderBatch',
  'downloadProviderBatch',
  'finalize',
  'plan',
  'pollProviderBatches',
  'processBatch',
  'submitProviderBatch',
];

describe('CuratorPlugin', () => {
  test('a bare worker gets our activities, our workflows and the 1 s heartbeat throttle', () => {
    const options = plugin().configureWorker({ taskQueue: 'q' });
    assert.deepEqual(Object.keys(options.activities ?? {}).sort(), OUR_ACTIVITIES);
    for (const fn of Object.values(options.activities ?? {})) assert.equal(typeof fn, 'function');
    assert.equal(options.workflowsPath, curatorWorkflowsPath);
    assert.equal(options.maxHeartbeatThrottleInterval, '1 second');
    assert.equal(options.taskQueue, 'q');
    assert.equal(existsSync(join(tmpdir(), 'curator-plugin-unit')), false, 'nothing written to the cache yet');
  });

  test("a user's activities, workflowsPath and heartbeat throttle are kept", () => {
    const greet = async (name: string) => `hello ${name}`;
    const options = plugin().configureWorker({
      taskQueue: 'q',
      activities: { greet },
      workflowsPath: '/app/my-workflows.ts',
      maxHeartbeatThrottleInterval: '5 seconds',
    });
    assert.deepEqual(Object.keys(options.activities ?? {}).sort(), ['greet', ...OUR_ACTIVITIES].sort());
    assert.equal((options.activities as Record<string, unknown>).greet, greet);
    assert.equal(options.workflowsPath, '/app/my-workflows.ts');
    assert.equal(options.maxHeartbeatThrottleInterval, '5 seconds');
  });

  test('the activities are those of the plugin, the same for every worker it configures', () => {
    const p = plugin();
    const first = p.configureWorker({ taskQueue: 'a' }).activities as Record<string, unknown>;
    const second = p.configureWorker({ taskQueue: 'b' }).activities as Record<string, unknown>;
    for (const name of OUR_ACTIVITIES) {
      assert.equal(first[name], (p.activities as Record<string, unknown>)[name]);
      assert.equal(second[name], first[name]);
    }
  });

  test('configuring the same options twice (plugin on the worker and its connection) is harmless', () => {
    const p = plugin();
    const options = p.configureWorker(p.configureWorker({ taskQueue: 'q' }));
    assert.deepEqual(Object.keys(options.activities ?? {}).sort(), OUR_ACTIVITIES);
  });

  test('another activity under one of our names is refused instead of silently replaced', () => {
    assert.throws(
      () => plugin().configureWorker({ taskQueue: 'q', activities: { plan: async () => 'mine' } }),
      /already has an activity named 'plan'/
    );
  });

  test('a prebuilt workflowBundle is left alone: no workflowsPath beside it', () => {
    const workflowBundle = { code: '/* bundle */' };
    const options = plugin().configureWorker({ taskQueue: 'q', workflowBundle } as WorkerOptions);
    assert.equal(options.workflowBundle, workflowBundle);
    assert.equal(options.workflowsPath, undefined);
  });

  test('the replay worker and the bundler get our workflows only when they have none of their own', () => {
    const p = plugin();
    assert.equal(p.configureReplayWorker({}).workflowsPath, curatorWorkflowsPath);
    assert.equal(p.configureReplayWorker({ workflowsPath: '/app/w.ts' }).workflowsPath, '/app/w.ts');
    const bundle: BundleOptions = { workflowsPath: '/app/w.ts' };
    assert.equal(p.configureBundler(bundle).workflowsPath, '/app/w.ts');
  });
});
