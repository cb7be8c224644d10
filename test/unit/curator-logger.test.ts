/**
 * What a worker prints when an activity fails for good with one of the library's own errors: one line (a superseded
 * job's batches reaching a worker with the edited curator printed a 25-line stack and task dump each).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import type { LogEntry } from '@temporalio/worker';
import { CuratorLogger } from '../../src/temporal/runtime';

const task = { activityType: 'processBatch', workflowId: 'curate/poems/abc/p0', attempt: 2, taskToken: 'xyz' };

test("a non-retryable failure of the library's own is one line naming the activity, the job and the error", () => {
  const entries: LogEntry[] = [];
  const logger = new CuratorLogger('WARN', (e) => entries.push(e));
  const error = ApplicationFailure.create({ type: 'CuratorChanged', message: 'curator changed', nonRetryable: true });
  logger.warn('Activity failed', { ...task, error });
  assert.equal(entries.length, 1);
  assert.equal(
    entries[0].message,
    'Activity processBatch of curate/poems/abc/p0 failed (CuratorChanged): curator changed'
  );
  assert.equal(entries[0].meta, undefined, 'no stack, no task token');
});

test('a workflow failed by such an activity is one line too', () => {
  const entries: LogEntry[] = [];
  const logger = new CuratorLogger('WARN', (e) => entries.push(e));
  const cause = ApplicationFailure.create({ type: 'CuratorChanged', message: 'curator changed', nonRetryable: true });
  const error = new Error('Activity task failed', { cause });
  logger.warn('Workflow failed', { workflowType: 'partitionWorkflow', workflowId: 'curate/poems/abc/p0', error });
  assert.deepEqual(
    entries.map((e) => [e.message, e.meta]),
    [['Workflow partitionWorkflow of curate/poems/abc/p0 failed (CuratorChanged): curator changed', undefined]]
  );
});

test('other failures and messages keep everything the SDK logs', () => {
  const entries: LogEntry[] = [];
  const logger = new CuratorLogger('WARN', (e) => entries.push(e));
  const retryable = ApplicationFailure.create({ type: 'Transient', message: 'try again' });
  logger.warn('Activity failed', { ...task, error: retryable });
  logger.warn('Activity failed', { ...task, error: new TypeError('a bug') });
  logger.info('Worker state changed', { state: 'RUNNING' });
  assert.deepEqual(
    entries.map((e) => [e.message, (e.meta?.error as Error | undefined)?.message]),
    [
      ['Activity failed', 'try again'],
      ['Activity failed', 'a bug'],
    ]
  );
});
