/**
 * The end-to-end slice on a real Temporal dev server, the real SDK clients and the loopback simulator over HTTP:
 * structured output through OpenAI, text and tools through Anthropic, cache hits, parse-only changes, fan-out,
 * metadata.db, continue-as-new and replay of the captured histories.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { tableFromIPC } from 'apache-arrow';
import { z } from 'zod';
import {
  createWorker,
  curate,
  curationProgress,
  curationResult,
  defineCurator,
  startCuration,
  type CurationProgress,
} from '../../src';
import { CuratorRowsDone, CuratorRunHash } from '../../src/search-attributes';
import type { Simulator } from '../../src/simulator';
import { assertHistoriesReplay } from '../helpers/replay';
import { datasetBytes, withMetadata } from '../helpers/backends';
import { startTestStack, type TestStack } from '../helpers/stack';

const Review = z.object({ title: z.string(), score: z.number().int(), tags: z.array(z.string()) });
type Item = { id: number; topic: string };

// One prompt function shared by two curators: only their parse differs, so they share a run fingerprint.
const reviewPrompt = (row: Item) => `Review item ${row.id} about ${row.topic}.`;
const reviews = defineCurator({
  name: 'reviews',
  model: 'gpt-4o-mini',
  prompt: reviewPrompt,
  responseFormat: Review,
  parse: (row: Item, r: z.infer<typeof Review>) => ({ id: row.id, title: r.title, score: r.score, tags: r.tags }),
});
const reviewsRenamed = defineCurator({
  name: 'reviews-v2',
  model: 'gpt-4o-mini',
  prompt: reviewPrompt,
  responseFormat: Review,
  parse: (row: Item, r: z.infer<typeof Review>) => ({ id: row.id, headline: r.title.toUpperCase() }),
});
const fanOut = defineCurator({
  name: 'fan-out',
  model: 'gpt-4o-mini',
  prompt: (row: Item) => `Fan out ${row.id}`,
  parse: (row: Item, text: string) =>
    Array.from({ length: row.id % 3 === 0 ? 0 : row.id % 3 === 1 ? 1 : 3 }, (_, k) => ({ id: row.id, k, text })),
});
const Haiku = z.object({ lines: z.array(z.string()), season: z.string() });
const claudeStructured = defineCurator({
  name: 'claude-structured',
  model: 'claude-3-5-haiku-latest',
  prompt: (row: Item) => `Haiku ${row.id} about ${row.topic}`,
  responseFormat: Haiku,
  parse: (row: Item, h: z.infer<typeof Haiku>) => ({ id: row.id, lines: h.lines, season: h.season }),
});
const claudeText = defineCurator({
  name: 'claude-text',
  model: 'claude-3-5-haiku-latest',
  systemPrompt: 'Answer briefly.',
  prompt: (row: Item) => `Say something about ${row.topic} (${row.id})`,
  generationParams: { max_tokens: 100 },
});

const slowly = defineCurator({
  name: 'slowly',
  model: 'gpt-4o-mini',
  prompt: (row: Item) => `Take your time with ${row.id} [[sim:slow=150]]`,
});

const items = (n: number, prefix = 'topic'): Item[] =>
  Array.from({ length: n }, (_, id) => ({ id, topic: `${prefix} ${id}` }));

describe('curation on a real Temporal dev server', () => {
  let stack: TestStack;
  let sim: Simulator;
  let client: Client;
  let cacheDir: string;
  const taskQueue = 'curate-test';
  const workflowIds: string[] = [];

  before(async () => {
    stack = await startTestStack({
      name: 'integration',
      // A low threshold makes every partition and job continue as new several times.
      serverArgs: ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=60'],
      worker: ({ env, cacheDir, providerEnv }) =>
        createWorker({
          connection: env.nativeConnection,
          taskQueue,
          cacheDir,
          curators: [reviews, reviewsRenamed, fanOut, claudeStructured, claudeText, slowly],
          env: providerEnv,
        }),
    });
    ({ sim, client, cacheDir } = stack);
  });

  after(() => stack?.close());

  const run = async (curator: string, dataset: unknown[], options: Record<string, unknown> = {}) => {
    const result = await curate(client, curator, { dataset, taskQueue, cacheDir, ...options });
    workflowIds.push(result.workflowId);
    return result;
  };

  test('1,000 rows with a response schema through the OpenAI path', async () => {
    const before = sim.stats.total;
    const result = await run('reviews', items(1000), { batchSize: 25 });
    assert.equal(sim.stats.total - before, 1000, 'one request per row');
    assert.deepEqual(
      { total: result.stats.total, succeeded: result.stats.succeeded, failed: result.stats.failed },
      { total: 1000, succeeded: 1000, failed: 0 }
    );
    assert.equal(result.fromCache, false);
    const table = tableFromIPC(readFileSync(result.datasetPath));
    assert.equal(table.numRows, 1000);
    const rows = table.toArray().map((r) => r.toJSON());
    rows.forEach((row, i) => {
      assert.equal(Number(row.id), i, 'rows are in input order');
      assert.equal(typeof row.title, 'string');
      assert.ok(Number.isInteger(Number(row.score)));
      assert.ok(Array.isArray([...row.tags]));
    });
    assert.ok(result.stats.tokens.input > 0 && result.stats.tokens.output > 0);
    assert.equal(result.table.numRows, 1000);
  });

  test('an identical rerun is a cache hit with zero API calls', async () => {
    const before = sim.stats.total;
    const result = await run('reviews', items(1000), { batchSize: 25 });
    assert.equal(sim.stats.total - before, 0);
    assert.equal(result.fromCache, true);
    assert.equal(result.table.numRows, 1000);
  });

  test('a changed parse re-parses cached responses with zero API calls', async () => {
    const before = sim.stats.total;
    const original = await run('reviews', items(1000), { batchSize: 25 });
    const result = await run('reviews-v2', items(1000), { batchSize: 25 });
    assert.equal(sim.stats.total - before, 0);
    assert.equal(result.runHash, original.runHash, 'same run fingerprint');
    assert.notEqual(result.parseHash, original.parseHash);
    assert.equal(result.stats.cached, 1000);
    const originalRows = original.table.toArray().map((r) => r.toJSON());
    const rows = result.table.toArray().map((r) => r.toJSON());
    assert.deepEqual(Object.keys(rows[0]).sort(), ['headline', 'id']);
    rows.forEach((row, i) => assert.equal(row.headline, String(originalRows[i].title).toUpperCase()));
  });

  test('fan-out parse: 0, 1 and 3 rows per input, grouped under their input in order', async () => {
    const result = await run('fan-out', items(30), { batchSize: 4 });
    const rows = result.table.toArray().map((r) => r.toJSON());
    const expected = items(30).flatMap((it) => {
      const n = it.id % 3 === 0 ? 0 : it.id % 3 === 1 ? 1 : 3;
      return Array.from({ length: n }, (_, k) => ({ id: it.id, k }));
    });
    assert.deepEqual(
      rows.map((r) => ({ id: Number(r.id), k: Number(r.k) })),
      expected
    );
    assert.equal(result.stats.succeeded, 30);
    assert.equal(result.stats.outputRows, expected.length);
  });

  test('the Anthropic path: structured output through a forced tool, and plain text', async () => {
    const before = sim.stats.total;
    const structured = await run('claude-structured', items(40, 'season'), { batchSize: 7 });
    const text = await run('claude-text', items(15, 'river'), { batchSize: 1 });
    assert.equal(sim.stats.total - before, 55);
    const rows = structured.table.toArray().map((r) => r.toJSON());
    assert.equal(rows.length, 40);
    rows.forEach((row, i) => {
      assert.equal(Number(row.id), i);
      assert.ok([...row.lines].every((l: unknown) => typeof l === 'string'));
      assert.equal(typeof row.season, 'string');
    });
    const textRows = text.table.toArray().map((r) => r.toJSON());
    assert.equal(textRows.length, 15);
    assert.ok(textRows.every((r) => typeof r.response === 'string' && r.response.length > 0));
  });

  test('metadata.db records the run, and its SHA-256 matches the dataset file', async () => {
    const result = await run('reviews', items(1000), { batchSize: 25 });
    await withMetadata(cacheDir, async (db) => {
      const record = await db.getRun(result.runHash);
      assert.ok(record, 'run recorded');
      assert.equal(record.total_requests, 1000);
      assert.equal(record.succeeded_requests, 1000);
      assert.equal(record.failed_requests, 0);
      assert.equal(record.model_name, 'gpt-4o-mini');
      assert.equal(record.provider, 'openai');
      assert.match(record.prompt_func, /Review item/);
      const actual = createHash('sha256')
        .update(await datasetBytes(record.dataset_path!))
        .digest('hex');
      assert.equal(record.dataset_sha256, actual);
      assert.ok((await db.events(result.runHash)).some((e) => e.event === 'cache-hit'));
      // gpt-4o-mini is in the price list: the cost of the recorded tokens is written down.
      const expected = (record.total_prompt_tokens * 0.15 + record.total_completion_tokens * 0.6) / 1000;
      assert.ok(
        Math.abs(record.total_cost_milli_dollars! - expected) < 1e-6,
        `${record.total_cost_milli_dollars} vs ${expected}`
      );
      assert.ok(result.costUsd! > 0);
    });
  });

  test('jobs started with search attributes can be found by them', async () => {
    const result = await curate(client, 'fan-out', { dataset: items(6), taskQueue, cacheDir, searchAttributes: true });
    let found: string[] = [];
    for (let tries = 0; tries < 50 && found.length === 0; tries++) {
      found = [];
      const query = `CuratorName = 'fan-out' AND CuratorStatus = 'completed' AND CuratorRowsTotal = 6`;
      for await (const w of client.workflow.list({ query })) found.push(w.workflowId);
      if (found.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(found, [result.workflowId]);
    const description = await client.workflow.getHandle(result.workflowId).describe();
    assert.equal(description.typedSearchAttributes.get(CuratorRunHash), result.runHash);
    assert.equal(description.typedSearchAttributes.get(CuratorRowsDone), 6);
    // The UI names each batch activity by its rows.
    const history = await client.workflow.getHandle(`${result.workflowId}/p0`).fetchHistory();
    const summaries = (history.events ?? [])
      .filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => defaultPayloadConverter.fromPayload(e.userMetadata!.summary!));
    assert.deepEqual(summaries, ['batch 0: rows 0-5']);
    workflowIds.push(result.workflowId);
  });

  test('live progress through queries while the job runs', async () => {
    const handle = await startCuration(client, 'slowly', {
      dataset: items(200),
      taskQueue,
      cacheDir,
      batchSize: 10,
      maxConcurrentRequests: 8,
    });
    let seen: CurationProgress | undefined;
    while (!seen || seen.settled === 0) {
      await new Promise((r) => setTimeout(r, 200));
      seen = await curationProgress(client, handle.workflowId).catch(() => undefined);
    }
    assert.equal(seen.curator, 'slowly');
    assert.equal(seen.totalRequests, 200);
    assert.ok(seen.settled > 0 && seen.settled < 200, `${seen.settled} settled`);
    assert.ok(seen.runningPartitions.length > 0);
    const result = await curationResult(handle);
    workflowIds.push(result.workflowId);
    assert.equal(result.stats.succeeded, 200);
  });

  test('continue-as-new happened, and the captured histories replay without determinism errors', async () => {
    const histories = [];
    let continued = 0;
    for await (const execution of client.workflow.list({ query: `TaskQueue = '${taskQueue}'` })) {
      const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
      if (history.events?.some((e) => e.workflowExecutionContinuedAsNewEventAttributes)) continued++;
      histories.push({ workflowId: execution.workflowId, history });
    }
    assert.ok(continued > 0, 'some workflow continued as new');
    assert.ok(histories.length > workflowIds.length);
    await assertHistoriesReplay(histories);
  });
});
