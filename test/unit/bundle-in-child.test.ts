import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bundleWorkflowCode } from '@temporalio/worker';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { bundleInChildProcess } from '../../src/temporal/bundle-in-child';
import { workflowsPath } from '../../src/worker';

test('the workflows bundled in a child process are the bundle the SDK builds in-process', async () => {
  const [child, inProcess] = [
    await bundleInChildProcess(workflowsPath),
    await bundleWorkflowCode({
      workflowsPath,
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    }),
  ];
  assert.match(child.code, /partitionWorkflow/);
  assert.equal(child.code, inProcess.code);
});

test('a child that cannot bundle rejects, naming the workflows module', async () => {
  const missing = join(tmpdir(), 'no-such-dir', 'workflows.ts');
  await assert.rejects(bundleInChildProcess(missing), (err: Error) => err.message.includes(missing));
});
