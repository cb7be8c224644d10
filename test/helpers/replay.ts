/** Replays captured histories with the curator workflows: any determinism error fails the test, naming the workflow. */
import assert from 'node:assert/strict';
import { Worker } from '@temporalio/worker';
import { curatorWorkflowBundle } from '../../src';

export async function assertHistoriesReplay(histories: Parameters<typeof Worker.runReplayHistories>[1]): Promise<void> {
  const list = [];
  for await (const h of histories) list.push(h);
  const bundle = await curatorWorkflowBundle();
  let replayed = 0;
  for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, list)) {
    assert.equal(result.error, undefined, `${result.workflowId}: ${result.error}`);
    replayed++;
  }
  assert.equal(replayed, list.length);
}
