/**
 * The error family: the type strings Temporal records (recorded histories and users' code match on them), which of
 * them Temporal may retry, and how a job's failure is read back on the client.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, RetryState } from '@temporalio/common';
import {
  CuratorChangedError,
  CuratorError,
  DamagedRunFileError,
  DatasetError,
  DiskFullError,
  MissingApiKeyError,
  NON_RETRYABLE_TYPES,
  ProviderFailureError,
  readJobFailure,
  rootCause,
  toApplicationFailure,
  UnknownCuratorError,
  WorkerStoppingError,
  withApplicationFailures,
} from '../../src/errors';

test('every type that no retry could fix before the family is still never retried', () => {
  const before = [
    'UnknownCurator',
    'CacheDirNotWritable',
    'EndpointUnreachable',
    'DatasetError',
    'InvalidOptions',
    'MissingApiKey',
    'AuthenticationFailed',
    'PermissionDenied',
    'NotFound',
    'InsufficientQuota',
    'WrongWorker',
    'CuratorChanged',
    'DamagedRunFile',
    'DiskFull',
  ];
  for (const type of before) assert.ok(NON_RETRYABLE_TYPES.includes(type as never), type);
  assert.ok(!NON_RETRYABLE_TYPES.includes('WorkerStopping'), 'a stopping worker hands its requests to the next');
});

test('each error keeps the type and name it had as a hand-made failure or a plain Error', () => {
  assert.deepEqual(
    [
      new UnknownCuratorError('x'),
      new DatasetError('x'),
      new DamagedRunFileError('x'),
      new MissingApiKeyError('x'),
      new CuratorChangedError('x'),
      new DiskFullError('x'),
    ].map((e) => [e.type, e.name]),
    [
      ['UnknownCurator', 'UnknownCurator'],
      ['DatasetError', 'DatasetError'],
      ['DamagedRunFile', 'DamagedRunFile'],
      ['MissingApiKey', 'MissingApiKeyError'],
      ['CuratorChanged', 'CuratorChanged'],
      ['DiskFull', 'DiskFull'],
    ]
  );
});

test('a member of the family becomes a failure of its type; other errors pass unchanged', () => {
  const failure = toApplicationFailure(new ProviderFailureError('NotFound', 'no such model'), [{ a: 1 }]);
  assert.ok(failure instanceof ApplicationFailure);
  assert.deepEqual(
    [failure.type, failure.message, failure.nonRetryable, failure.details],
    ['NotFound', 'no such model', true, [{ a: 1 }]]
  );
  const stopping = toApplicationFailure(new WorkerStoppingError('stopping'));
  assert.ok(stopping instanceof ApplicationFailure);
  assert.equal(stopping.nonRetryable, false);
  assert.equal(stopping.category, 'BENIGN');
  const bug = new TypeError('a bug');
  assert.equal(toApplicationFailure(bug), bug);
});

test('a wrapped activity keeps its name and fails with the converted failure', async () => {
  async function plan(): Promise<number> {
    throw new DatasetError('rows.jsonl cannot be read');
  }
  const wrapped = withApplicationFailures(plan);
  assert.equal(wrapped.name, 'plan');
  await assert.rejects(wrapped(), (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure && !(err instanceof CuratorError));
    assert.equal(err.type, 'DatasetError');
    assert.equal(err.nonRetryable, true);
    return true;
  });
});

test("a job's failure reads as its type, with the manifest, through the wrappers Temporal puts around it", () => {
  const inner = ApplicationFailure.create({ type: 'WrongApiKey', message: 'other key', nonRetryable: true });
  const activity = new ActivityFailure(
    'activity failed',
    'processBatch',
    '1',
    RetryState.NON_RETRYABLE_FAILURE,
    undefined,
    inner
  );
  const child = new ChildWorkflowFailure(
    'default',
    { workflowId: 'p0', runId: 'r' },
    'partitionWorkflow',
    RetryState.NON_RETRYABLE_FAILURE,
    activity
  );
  assert.equal(rootCause(child), inner);

  const manifest = { runHash: 'abc' };
  const jobFailure = ApplicationFailure.create({
    type: 'IncompleteResponses',
    message: 'some failed',
    details: [manifest],
  });
  assert.deepEqual(readJobFailure(jobFailure, 'workflow failed'), {
    type: 'IncompleteResponses',
    message: 'some failed',
    details: [manifest],
    failure: jobFailure,
  });
  const foreign = ApplicationFailure.create({ type: 'SqliteError', message: 'disk I/O error' });
  assert.equal(readJobFailure(foreign, 'workflow failed').type, 'JobFailed');
  assert.deepEqual(readJobFailure(undefined, 'workflow failed'), {
    type: 'JobFailed',
    message: 'workflow failed',
    details: [],
  });
});
