/**
 * Issue #15 parts 6 and 9 end to end on a real Temporal dev server, through the real OpenAI SDK to the simulator:
 * per-row generation params in synchronous and Batch-API mode (every row present with its own params on the wire, a
 * bad row failing alone, a rerun with zero calls, one row's params changed making exactly one call with
 * `reuseAnswers`), and a provider preset pointed at the simulator by its base URL.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createWorker, curate, CurationError, defineCurator, type CurationResult } from '../../src';
import type { Simulator } from '../../src/simulator';
import { startTestStack, type TestStack } from '../helpers/stack';

type Item = { id: number; params?: unknown };

const shared = {
  model: 'gpt-4o-mini',
  generationParams: { temperature: 0.2, max_tokens: 64 },
  rowGenerationParams: 'params',
  parse: (row: Item, response: string) => ({ id: row.id, response }),
} as const;
const syncCurator = defineCurator({
  ...shared,
  name: 'row-params-sync',
  prompt: (row: Item) => `Sync row ${row.id}.`,
  backend: { maxRetries: 1, reuseAnswers: true },
});
const batchCurator = defineCurator({
  ...shared,
  name: 'row-params-batch',
  prompt: (row: Item) => `Batch row ${row.id}.`,
  backend: { batch: true, batchPollIntervalSeconds: 0.25, maxRetries: 1, reuseAnswers: true },
});

const rowsOf = (result: CurationResult) => result.table.toArray().map((r) => r.toJSON() as Record<string, unknown>);

/** Six rows: odd rows set their own temperature, row 4 also drops max_tokens. */
const dataset = (): Item[] =>
  Array.from({ length: 6 }, (_, id) => ({
    id,
    ...(id % 2 === 1 ? { params: { temperature: id / 10 } } : {}),
    ...(id === 4 ? { params: { max_tokens: null, seed: 4 } } : {}),
  }));

function expectedParams(row: Item): Record<string, unknown> {
  if (row.id === 4) return { temperature: 0.2, seed: 4 };
  return { temperature: row.id % 2 === 1 ? row.id / 10 : 0.2, max_tokens: 64 };
}

describe('per-row generation params and presets on a real Temporal dev server', () => {
  let stack: TestStack;
  let sim: Simulator;
  const taskQueue = 'row-params-test';
  let presetCurator: { name: string };
  // A misspelt preset, and a preset in batch mode (presets have no Batch API): refused before any call.
  const misspelt = defineCurator({
    name: 'row-params-grok',
    model: 'llama-3.1-8b-instant',
    provider: 'grok',
    prompt: (row: Item) => `Grok row ${row.id}.`,
  });

  before(async () => {
    stack = await startTestStack({
      name: 'row-params',
      worker: ({ env, cacheDir, providerEnv, sim }) => {
        // The groq preset, with its base URL overridden to point at the simulator; its key from the environment.
        const groq = defineCurator({
          name: 'row-params-groq',
          model: 'llama-3.1-8b-instant',
          provider: 'groq',
          prompt: (row: Item) => `Groq row ${row.id}.`,
          parse: (row: Item, response: string) => ({ id: row.id, response }),
          backend: { baseURL: `${sim.url}/openai/v1` },
        });
        presetCurator = groq;
        const groqBatch = defineCurator({
          ...groq,
          name: 'row-params-groq-batch',
          backend: { ...groq.backend, batch: true },
        });
        return createWorker({
          connection: env.nativeConnection,
          taskQueue,
          cacheDir,
          curators: [syncCurator, batchCurator, groq, groqBatch, misspelt],
          env: { ...providerEnv, GROQ_API_KEY: 'gsk-test' },
        });
      },
    });
    sim = stack.sim;
  });

  after(() => stack?.close());
  beforeEach(() => sim.reset());

  for (const [mode, curator, prefix] of [
    ['synchronous', syncCurator, 'Sync row'],
    ['Batch-API', batchCurator, 'Batch row'],
  ] as const) {
    test(`${mode}: every row present, each sent with its own params; a rerun makes zero calls`, async () => {
      const rows = dataset();
      const options = { dataset: rows, taskQueue, cacheDir: stack.cacheDir, batchSize: 4 };
      const result = await curate(stack.client, curator.name, options);
      assert.deepEqual(
        rowsOf(result).map((r) => Number(r.id)),
        rows.map((r) => r.id)
      );
      assert.equal(result.stats.failed, 0);
      assert.equal(sim.stats.total, rows.length);
      for (const row of rows) {
        const sent = sim.stats.requests.filter((r) => r.prompt === `${prefix} ${row.id}.`);
        assert.equal(sent.length, 1, `row ${row.id} sent once`);
        assert.deepEqual(sent[0]!.params, expectedParams(row), `row ${row.id}'s params on the wire`);
        if (mode === 'Batch-API') assert.ok(sent[0]!.batchId, 'inside a provider batch');
      }

      sim.reset();
      const again = await curate(stack.client, curator.name, options);
      assert.equal(again.fromCache, true);
      assert.equal(again.table.numRows, rows.length);
      assert.equal(sim.stats.total, 0);
      assert.equal(sim.stats.batchCalls, 0);

      // One row's params change: a new dataset, so a new run, in which only that row is a new request.
      sim.reset();
      const changed = rows.map((r) => (r.id === 3 ? { ...r, params: { temperature: 0.9 } } : r));
      const third = await curate(stack.client, curator.name, { ...options, dataset: changed });
      assert.notEqual(third.runHash, result.runHash);
      assert.equal(sim.stats.total, 1, 'exactly one new call');
      assert.deepEqual(sim.stats.requests[0]!.params, { temperature: 0.9, max_tokens: 64 });
      assert.equal(sim.stats.requests[0]!.prompt, `${prefix} 3.`);
      assert.equal(third.stats.cached, rows.length - 1);
      assert.deepEqual(
        rowsOf(third).filter((r) => Number(r.id) !== 3),
        rowsOf(result).filter((r) => Number(r.id) !== 3),
        'the other rows keep their answers'
      );
    });

    test(`${mode}: a row whose params are not an object fails alone, named; no other row is lost`, async () => {
      const rows = dataset().map((r) => ({ ...r, id: r.id + 100 }));
      rows[2] = { id: 102, params: 'hot' };
      const result = await curate(stack.client, curator.name, {
        dataset: rows,
        taskQueue,
        cacheDir: stack.cacheDir,
        batchSize: 4,
        requireAllResponses: false,
      });
      assert.equal(result.stats.failed, 1);
      assert.equal(result.stats.succeeded, rows.length - 1);
      assert.deepEqual(
        rowsOf(result).map((r) => Number(r.id)),
        rows.filter((r) => r.id !== 102).map((r) => r.id)
      );
      const failure = readFileSync(result.failedRequestsPath, 'utf8');
      assert.match(failure, /row 2: generation params from the field 'params' must be an object, got a string/);
      assert.equal(sim.callsFor(`${prefix} 102.`), 0, 'never sent');
      assert.equal(sim.stats.total, rows.length - 1);
    });
  }

  test('a preset pointed at the simulator by its base URL: its path, its key, every row', async () => {
    const rows = dataset().map(({ id }) => ({ id }));
    const result = await curate(stack.client, presetCurator.name, {
      dataset: rows,
      taskQueue,
      cacheDir: stack.cacheDir,
    });
    assert.equal(result.stats.succeeded, rows.length);
    assert.equal(sim.stats.total, rows.length);
    assert.ok(sim.stats.requests.every((r) => r.path === '/openai/v1/chat/completions'));
    assert.ok(sim.stats.requests.every((r) => r.model === 'llama-3.1-8b-instant'));
  });

  test('an unknown preset, and a preset in batch mode, stop the run at once with what is known; nothing is sent', async () => {
    const failure = async (curator: string) => {
      try {
        await curate(stack.client, curator, { dataset: dataset(), taskQueue, cacheDir: stack.cacheDir });
      } catch (err) {
        assert.ok(err instanceof CurationError, String(err));
        return err.message;
      }
      return assert.fail(`${curator} should have failed`);
    };
    assert.match(await failure('row-params-grok'), /unknown provider 'grok': registered are .*'groq'/);
    assert.match(
      await failure('row-params-groq-batch'),
      /curator 'row-params-groq-batch': provider groq has no batch API/
    );
    assert.equal(sim.stats.total, 0);
  });
});
