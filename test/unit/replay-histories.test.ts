/**
 * Replays every captured history in test/histories/ against the current workflow code. A change to the workflows
 * that would break running jobs on deploy (a reordered command, a removed timer, a changed child id) fails here.
 * The files come from `npx tsx bench/chaos.ts --short --save-histories`: a job and a partition that lived through
 * worker kills and a server kill. Each is `{ workflowId, history }`, or a bare history as the Temporal CLI exports it
 * (`temporal workflow show --output json`), whose workflow id is then taken from the file name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { historyFromJson } from '../../bench/lib/chaos-histories';
import { installQuietRuntime } from '../../src/temporal/runtime';
import { curatorWorkflowBundle } from '../../src/worker';

const dir = join(__dirname, '..', 'histories');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();

test('captured histories exist', () => {
  assert.ok(files.length > 0, `no .json history in ${dir}`);
});

test('every captured history replays without determinism errors', async () => {
  installQuietRuntime();
  const histories = files.map((file) => {
    const json = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { workflowId?: string; history?: unknown };
    const workflowId = json.workflowId ?? basename(file, '.json');
    return { workflowId, history: historyFromJson(json.history ?? json) };
  });
  const bundle = await curatorWorkflowBundle();
  const replayed: string[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
    assert.equal(result.error, undefined, `${result.workflowId}: ${result.error?.message}`);
    replayed.push(result.workflowId);
  }
  assert.equal(replayed.length, files.length);
});
