/** The cache's promise, checked the same way by every feature's integration test: a rerun is free. */
import assert from 'node:assert/strict';
import { curate, type CurationResult } from '../../src';
import type { TestStack } from './stack';

/** Runs the job again with the same options: answered from cache, with every row and not one call. */
export async function assertFreeRerun(
  stack: TestStack,
  curatorName: string,
  options: Parameters<typeof curate>[2],
  rows: number
): Promise<CurationResult> {
  stack.sim.reset();
  const again = await curate(stack.client, curatorName, options);
  assert.equal(again.fromCache, true, 'answered from cache');
  assert.equal(again.table.numRows, rows);
  assert.equal(stack.sim.stats.total, 0, 'no call');
  assert.equal(stack.sim.stats.batchCalls, 0, 'no Batch-API call');
  return again;
}
