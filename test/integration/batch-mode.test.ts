/**
 * Batch mode end to end on a real Temporal dev server, the simulator's batch APIs over HTTP and the real SDK clients:
 * OpenAI Batch and Anthropic Message Batches, a failed row resubmitted in a second provider batch, half the
 * synchronous cost, a cached rerun with zero calls, and a worker restart while polling that submits nothing twice.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import OpenAI from 'openai';
import {
  cancelCuration,
  costUsd,
  createWorker,
  curate,
  curationResult,
  defineCurator,
  pricesFor,
  startCuration,
  type CurationResult,
} from '../../src';
import type { Simulator } from '../../src/simulator';
import { withMetadata } from '../helpers/backends';
import { assertHistoriesReplay } from '../helpers/replay';
import { startTestStack, type TestStack } from '../helpers/stack';
import { historyToJson } from '../../bench/lib/chaos-histories';

type Item = { id: number; topic: string; extra?: string };

const prompt = (row: Item) => `Batch row ${row.id} about ${row.topic}.${row.extra ?? ''}`;
const parse = (row: Item, response: string) => ({ id: row.id, response });
const openaiBatch = defineCurator({
  name: 'openai-batch',
  model: 'gpt-4o-mini',
  prompt,
  parse,
  backend: { batch: true, batchPollIntervalSeconds: 0.25, maxRetries: 3 },
});
// The same requests one call each: for the price comparison.
const openaiSync = defineCurator({ name: 'openai-sync', model: 'gpt-4o-mini', prompt, parse });
const Haiku = z.object({ lines: z.array(z.string()), season: z.string() });
const claudeBatch = defineCurator({
  name: 'claude-batch',
  model: 'claude-3-5-haiku-latest',
  prompt: (row: Item) => `Haiku ${row.id} about ${row.topic}.${row.extra ?? ''}`,
  responseFormat: Haiku,
  parse: (row: Item, h: z.infer<typeof Haiku>) => ({ id: row.id, lines: h.lines, season: h.season }),
  backend: { batch: true, batchPollIntervalSeconds: 0.25, maxRetries: 3 },
});
const slowBatch = defineCurator({
  name: 'slow-batch',
  model: 'gpt-4o-mini',
  prompt: (row: Item) => `Slow batch row ${row.id} about ${row.topic}.`,
  parse,
  backend: { batch: true, batchPollIntervalSeconds: 0.5 },
});

// As slow-batch, under its own name: the cancelled job's histories stay apart from the restarted one's.
const cancelBatch = defineCurator({ ...slowBatch, name: 'cancel-batch' });

const items = (n: number, prefix: string, extra: Record<number, string> = {}): Item[] =>
  Array.from({ length: n }, (_, id) => ({ id, topic: `${prefix} ${id}`, ...(extra[id] ? { extra: extra[id] } : {}) }));

const rowsOf = (result: CurationResult) => result.table.toArray().map((r) => r.toJSON() as Record<string, unknown>);

/** Asserts that every row succeeded, after `retries` resubmissions, and came out in input order; returns the rows. */
function everyRowInOrder(result: CurationResult, dataset: { id: number }[], retries: number) {
  const n = dataset.length;
  assert.deepEqual(
    { total: result.stats.total, succeeded: result.stats.succeeded, failed: result.stats.failed },
    { total: n, succeeded: n, failed: 0 }
  );
  assert.equal(result.stats.retries, retries);
  const rows = rowsOf(result);
  assert.deepEqual(
    rows.map((r) => Number(r.id)),
    dataset.map((r) => r.id)
  );
  return rows;
}

describe('batch mode on a real Temporal dev server', () => {
  let stack: TestStack;
  let sim: Simulator;
  let client: Client;
  let cacheDir: string;
  const taskQueue = 'batch-mode-test';

  /** Waits (up to 20 s) until the simulator has created `count` provider batches. */
  async function batchesSubmitted(count: number): Promise<void> {
    for (let waited = 0; sim.stats.batchesCreated < count; waited += 50) {
      assert.ok(waited < 20_000, `${count} batches are submitted`);
      await delay(50);
    }
  }

  before(async () => {
    stack = await startTestStack({
      name: 'batch-mode',
      simulator: { batches: { processingMs: 600 } },
      worker: ({ env, cacheDir, providerEnv }) =>
        createWorker({
          connection: env.nativeConnection,
          taskQueue,
          cacheDir,
          curators: [openaiBatch, openaiSync, claudeBatch, slowBatch, cancelBatch],
          env: providerEnv,
        }),
    });
    ({ sim, client, cacheDir } = stack);
  });

  after(() => stack?.close());

  beforeEach(() => {
    sim.reset();
    sim.setOptions({ batches: { processingMs: 600 } });
  });

  const openaiRows = items(12, 'lake', { 7: ' [[sim:status=500,times=1]]' });
  let openaiResult: CurationResult;

  test('OpenAI: every row in order, the failed row resubmitted in a second batch, at half price', async () => {
    openaiResult = await curate(client, 'openai-batch', { dataset: openaiRows, taskQueue, cacheDir, batchSize: 5 });
    const result = openaiResult;
    const rows = everyRowInOrder(result, openaiRows, 1);
    assert.ok(rows.every((r) => typeof r.response === 'string' && (r.response as string).length > 0));
    // Three batches of 5, 5 and 2 rows, then one more for the row that failed in the first.
    assert.equal(sim.stats.batchesCreated, 4);
    assert.equal(sim.callsFor('Batch row 7 '), 2);
    assert.equal(sim.stats.total, 13, 'every request answered inside a provider batch');
    assert.ok(
      sim.stats.requests.every((r) => r.batchId !== undefined),
      'no synchronous call'
    );

    // Cost: the synchronous prices of the model, halved, for the tokens used.
    const sync = costUsd(pricesFor(openaiSync), result.stats.tokens)!;
    assert.ok(result.costUsd !== undefined && sync > 0);
    assert.ok(Math.abs(result.costUsd - sync / 2) < 1e-12, `${result.costUsd} is half of ${sync}`);
    assert.equal(result.batch, true);
    const run = (await withMetadata(cacheDir, (db) => db.getRun(result.runHash)))!;
    assert.equal(run.batch_mode, 1);
    assert.ok(Math.abs((run.total_cost_milli_dollars ?? 0) - result.costUsd * 1000) < 1e-9);
  });

  test('the same requests one call each use the same tokens at twice the cost', async () => {
    const sync = await curate(client, 'openai-sync', { dataset: openaiRows, taskQueue, cacheDir, batchSize: 5 });
    assert.equal(sim.stats.batchesCreated, 0);
    assert.deepEqual(sync.stats.tokens, openaiResult.stats.tokens);
    assert.deepEqual(
      rowsOf(sync).map((r) => r.response),
      rowsOf(openaiResult).map((r) => r.response),
      'the batch API answers as the synchronous one'
    );
    assert.notEqual(sync.runHash, openaiResult.runHash, 'batch mode is part of the fingerprint');
    assert.ok(Math.abs(sync.costUsd! - 2 * openaiResult.costUsd!) < 1e-12);
  });

  test('an identical rerun is a cache hit with zero simulator calls', async () => {
    const result = await curate(client, 'openai-batch', { dataset: openaiRows, taskQueue, cacheDir, batchSize: 5 });
    assert.equal(result.fromCache, true);
    assert.equal(result.table.numRows, 12);
    assert.equal(sim.stats.total, 0);
    assert.equal(sim.stats.batchCalls, 0);
  });

  test('Anthropic: structured output, an errored and an expired row each resubmitted', async () => {
    const dataset = items(9, 'season', { 2: ' [[sim:status=529,times=1]]', 5: ' [[sim:expire,times=1]]' });
    const result = await curate(client, 'claude-batch', { dataset, taskQueue, cacheDir, batchSize: 4 });
    const rows = everyRowInOrder(result, dataset, 2);
    rows.forEach((row) => {
      assert.ok([...(row.lines as Iterable<unknown>)].every((l) => typeof l === 'string'));
      assert.equal(typeof row.season, 'string');
    });
    // Batches of 4, 4 and 1 rows, then one resubmission each for the batches of rows 2 and 5.
    assert.equal(sim.stats.batchesCreated, 5);
    assert.ok(sim.stats.requests.every((r) => r.provider === 'anthropic' && r.batchId !== undefined));
    const sync = costUsd(pricesFor({ ...claudeBatch, backend: {} }), result.stats.tokens)!;
    assert.ok(Math.abs(result.costUsd! - sync / 2) < 1e-12);
  });

  test('a worker restart while polling does not submit the batches again', async () => {
    sim.setOptions({ batches: { processingMs: 5000 } });
    const handle = await startCuration(client, 'slow-batch', {
      dataset: items(12, 'harbour'),
      taskQueue,
      cacheDir,
      batchSize: 4,
    });
    await batchesSubmitted(3);
    const callsBefore = sim.stats.batchCalls;
    // The provider batches are still processing while no worker runs.
    await stack.restartWorker(() => delay(500));
    const result = await curationResult(handle);
    assert.equal(result.stats.succeeded, 12);
    assert.deepEqual(
      rowsOf(result).map((r) => Number(r.id)),
      items(12, 'x').map((r) => r.id)
    );
    assert.equal(sim.stats.batchesCreated, 3, 'no batch created twice');
    assert.ok(sim.stats.batchCalls > callsBefore, 'the new worker polled and downloaded');
    assert.equal(sim.stats.total, 12);
  });

  test('cancelling the job cancels its provider batches', async () => {
    sim.setOptions({ batches: { processingMs: 120_000 } });
    const handle = await startCuration(client, 'cancel-batch', {
      dataset: items(6, 'canal'),
      taskQueue,
      cacheDir,
      batchSize: 3,
    });
    await batchesSubmitted(2);
    await cancelCuration(client, handle.workflowId);
    await assert.rejects(curationResult(handle), (err: Error & { type?: string }) => err.type === 'Cancelled');
    const openai = new OpenAI({ apiKey: 'sk-test', baseURL: sim.openaiBaseURL, maxRetries: 0 });
    const statuses: string[] = [];
    for await (const batch of openai.batches.list({ limit: 2 })) statuses.push(batch.status);
    assert.deepEqual(statuses.slice(0, 2), ['cancelled', 'cancelled']);
    assert.equal(sim.stats.total, 0, 'no request was processed');
  });

  test('the histories of batch-mode jobs and partitions replay without determinism errors', async () => {
    const histories = [];
    for await (const execution of client.workflow.list({ query: `TaskQueue = '${taskQueue}'` })) {
      const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
      histories.push({ workflowId: execution.workflowId, history });
    }
    // A job and a partition of each: the retry round, the worker restart and the cancel are all in there.
    assert.ok(histories.length >= 9, `${histories.length} histories`);
    // BATCH_HISTORIES_DIR=test/histories refreshes the captured ones that the unit replay test checks.
    const saveTo = process.env.BATCH_HISTORIES_DIR;
    if (saveTo) {
      for (const { workflowId, history } of histories) {
        const name = workflowId.startsWith('curate/openai-batch/')
          ? 'batch-mode-openai'
          : workflowId.startsWith('curate/slow-batch/')
            ? 'batch-mode-restart'
            : undefined;
        // The cache-hit rerun of the same job starts no partition: the first run is the one worth keeping.
        const ran = history.events?.some((e) => e.startChildWorkflowExecutionInitiatedEventAttributes);
        if (!name || (!workflowId.endsWith('/p0') && !ran)) continue;
        const file = join(saveTo, `${name}${workflowId.endsWith('/p0') ? '-partition' : '-job'}.json`);
        writeFileSync(file, `{"workflowId":${JSON.stringify(workflowId)},"history":${historyToJson(history)}}\n`);
      }
    }
    await assertHistoriesReplay(histories);
  });
});
