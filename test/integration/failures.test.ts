/**
 * Failure semantics on a real dev server against the simulator's fault menu: every fault is classified and retried
 * or failed as it should be, retry hints are honoured, maxRetries is exact, a bad key stops the job at once, and a
 * job with failures saves everything it has (and, with requireAllResponses, says so in a clear error).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { z } from 'zod';
import { createWorker, curate, CurationError, defineCurator, type CurationResult, type FailedRequest } from '../../src';
import { startSimulator, type Simulator } from '../../src/simulator';
import { startTemporal, tempDir } from '../helpers/temporal';

type Item = { id: number; fault?: string };
const prompt = (row: Item) => `Failure test item ${row.id} ${row.fault ?? ''}`.trim();

const text = defineCurator({
  name: 'faults-text',
  model: 'gpt-4o-mini',
  prompt,
  parse: (row: Item, answer: string) => ({ id: row.id, answer }),
  backend: { maxRetries: 2, requestTimeoutMs: 1500 },
});
const structured = defineCurator({
  name: 'faults-structured',
  model: 'gpt-4o-mini',
  prompt,
  responseFormat: z.object({ label: z.string() }),
  parse: (row: Item, answer: { label: string }) => ({ id: row.id, label: answer.label }),
  backend: { maxRetries: 2 },
});
const lenient = defineCurator({
  name: 'faults-lenient',
  model: 'gpt-4o-mini',
  prompt,
  parse: (row: Item, answer: string) => ({ id: row.id, answer }),
  backend: { maxRetries: 1, requireAllResponses: false },
});
const claude = defineCurator({
  name: 'faults-claude',
  model: 'claude-3-5-haiku-latest',
  prompt,
  parse: (row: Item, answer: string) => ({ id: row.id, answer }),
  backend: { maxRetries: 2 },
});
const wrongKey = defineCurator({
  name: 'faults-wrong-key',
  model: 'gpt-4o-mini',
  prompt,
  backend: { maxRetries: 5 },
});

const rows = (n: number, faults: Record<number, string>): Item[] =>
  Array.from({ length: n }, (_, id) => (faults[id] ? { id, fault: faults[id] } : { id }));

const failedLines = (result: { failedRequestsPath: string }): FailedRequest[] =>
  readFileSync(result.failedRequestsPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as FailedRequest);

describe('failure semantics', () => {
  let env: TestWorkflowEnvironment;
  let sim: Simulator;
  let badKeySim: Simulator;
  let workers: Worker[];
  let running: Promise<void>[];
  let cacheDir: string;

  before(async () => {
    env = await startTemporal();
    sim = await startSimulator();
    badKeySim = await startSimulator({ validApiKeys: ['sk-the-right-key'] });
    cacheDir = tempDir('failures');
    const simEnv = {
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: sim.openaiBaseURL,
      ANTHROPIC_API_KEY: 'sk-ant-test',
      ANTHROPIC_BASE_URL: sim.anthropicBaseURL,
    };
    workers = [
      await createWorker({
        connection: env.nativeConnection,
        taskQueue: 'failures',
        cacheDir,
        curators: [text, structured, lenient, claude],
        env: simEnv,
      }),
      await createWorker({
        connection: env.nativeConnection,
        taskQueue: 'failures-bad-key',
        cacheDir,
        curators: [wrongKey],
        env: { OPENAI_API_KEY: 'sk-a-wrong-key-0123456789', OPENAI_BASE_URL: badKeySim.openaiBaseURL },
      }),
    ];
    running = workers.map((w) => w.run());
  });

  after(async () => {
    workers?.forEach((w) => w.shutdown());
    await Promise.all(running ?? []);
    await sim?.close();
    await badKeySim?.close();
    await env?.teardown();
  });

  const run = (curator: string, dataset: Item[], taskQueue = 'failures') =>
    curate(env.client, curator, { dataset, taskQueue, cacheDir, batchSize: 5 });

  const runExpectingFailure = async (curator: string, dataset: Item[], taskQueue = 'failures') => {
    try {
      await run(curator, dataset, taskQueue);
    } catch (err) {
      assert.ok(err instanceof CurationError, String(err));
      return err;
    }
    assert.fail('the job should have failed');
  };

  test('transient faults are retried until they pass: 429, 500, 503, dropped, slow, malformed', async () => {
    const faults = {
      1: '[[sim:status=429,times=1]]',
      2: '[[sim:status=500,times=2]]',
      3: '[[sim:status=503,times=1]]',
      4: '[[sim:drop,times=1]]',
      5: '[[sim:slow=4000,times=1]]',
      6: '[[sim:malformed,times=1]]',
      7: '[[sim:status=408,times=1]]',
      8: '[[sim:status=409,times=1]]',
    };
    const dataset = rows(12, faults);
    const result = await run('faults-text', dataset);
    assert.equal(result.stats.succeeded, 12);
    assert.equal(result.stats.failed, 0);
    const expectedCalls = { 1: 2, 2: 3, 3: 2, 4: 2, 5: 2, 6: 2, 7: 2, 8: 2, 0: 1 };
    for (const [id, calls] of Object.entries(expectedCalls)) {
      assert.equal(
        sim.callsFor(prompt(dataset[Number(id)])),
        calls,
        `row ${id} (${dataset[Number(id)].fault ?? 'ok'})`
      );
    }
    assert.equal(result.stats.retries, 9);
    const answers = result.table.toArray().map((r) => r.toJSON());
    assert.deepEqual(
      answers.map((r) => Number(r.id)),
      dataset.map((r) => r.id)
    );
  });

  test('Anthropic 529 overloaded and 429 are retried', async () => {
    const dataset = rows(4, { 1: '[[sim:status=529,times=1]]', 2: '[[sim:status=429,times=1]]' });
    const result = await run('faults-claude', dataset);
    assert.equal(result.stats.succeeded, 4);
    assert.equal(sim.callsFor(prompt(dataset[1])), 2);
    assert.equal(sim.callsFor(prompt(dataset[2])), 2);
  });

  test('a retry never comes before the retry-after hint', async () => {
    const dataset = rows(3, {
      1: '[[sim:status=429,retryAfter=2,times=1]]',
      2: '[[sim:status=503,retryAfterMs=1500,times=1]]',
    });
    await run('faults-text', dataset);
    for (const [id, hintMs] of [
      [1, 2000],
      [2, 1500],
    ]) {
      const times = sim.stats.requests.filter((r) => r.prompt === prompt(dataset[id])).map((r) => r.at);
      assert.equal(times.length, 2);
      assert.ok(times[1] - times[0] >= hintMs, `row ${id}: retried after ${times[1] - times[0]} ms, hint ${hintMs} ms`);
    }
  });

  test('maxRetries is exact: one first attempt plus maxRetries retries, then failed with every error', async () => {
    const dataset = rows(4, { 2: '[[sim:status=500]]' });
    const error = await runExpectingFailure('faults-text', dataset);
    assert.equal(error.type, 'IncompleteResponses');
    assert.equal(sim.callsFor(prompt(dataset[2])), 3, 'maxRetries 2 means 3 attempts');
    assert.ok(error.manifest, 'the error carries the manifest of what was saved');
    assert.equal(error.manifest.stats.succeeded, 3);
    assert.equal(error.manifest.stats.failed, 1);
    const [failed] = failedLines(error.manifest);
    assert.equal(failed.index, 2);
    assert.deepEqual(failed.row, dataset[2]);
    assert.equal(failed.attempts, 3);
    assert.deepEqual(
      failed.errors.map((e) => e.type),
      ['ServerError', 'ServerError', 'ServerError']
    );
  });

  test('final errors are not retried: 400, 404 on one row fails that row only', async () => {
    const dataset = rows(4, { 1: '[[sim:status=400]]', 3: '[[sim:status=422]]' });
    const result = await curate(env.client, 'faults-lenient', {
      dataset,
      taskQueue: 'failures',
      cacheDir,
      batchSize: 5,
    });
    assert.equal(sim.callsFor(prompt(dataset[1])), 1);
    assert.equal(sim.callsFor(prompt(dataset[3])), 1);
    assert.equal(result.stats.succeeded, 2);
    assert.deepEqual(
      failedLines(result).map((f) => [f.index, f.type]),
      [
        [1, 'BadRequest'],
        [3, 'BadRequest'],
      ]
    );
  });

  test('truncated, filtered, refused and schema-breaking answers are retried, then failed', async () => {
    const dataset = rows(6, {
      1: '[[sim:finish=length,times=1]]',
      2: '[[sim:finish=content_filter,times=1]]',
      3: '[[sim:refusal,times=1]]',
      4: '[[sim:invalid-json,times=1]]',
      5: '[[sim:invalid-json]]',
    });
    const error = await runExpectingFailure('faults-structured', dataset);
    for (const id of [1, 2, 3, 4]) assert.equal(sim.callsFor(prompt(dataset[id])), 2, `row ${id}`);
    assert.equal(sim.callsFor(prompt(dataset[5])), 3);
    assert.equal(error.manifest!.stats.succeeded, 5);
    const [failed] = failedLines(error.manifest!);
    assert.equal(failed.index, 5);
    assert.equal(failed.errors.length, 3);
    assert.ok(failed.errors.every((e) => e.type === 'InvalidJson' || e.type === 'SchemaMismatch'));
  });

  test('requireAllResponses off: the partial dataset and the failed file, and the result says how many failed', async () => {
    const dataset = rows(10, { 4: '[[sim:status=500]]', 7: '[[sim:status=400]]' });
    const result: CurationResult = await curate(env.client, 'faults-lenient', {
      dataset,
      taskQueue: 'failures',
      cacheDir,
      batchSize: 3,
    });
    assert.equal(result.stats.failed, 2);
    assert.deepEqual(
      result.table.toArray().map((r) => Number(r.toJSON().id)),
      [0, 1, 2, 3, 5, 6, 8, 9]
    );
    assert.deepEqual(
      failedLines(result).map((f) => f.index),
      [4, 7]
    );
  });

  test('a rerun requests only the failed rows again; nothing already paid for', async () => {
    const dataset = rows(6, { 2: '[[sim:status=500]]' });
    await runExpectingFailure('faults-text', dataset);
    const before = sim.stats.total;
    await runExpectingFailure('faults-text', dataset);
    assert.equal(sim.stats.total - before, 3, 'only the failed row, with its retries');
  });

  test('a wrong API key stops the job at once with one clear error that never shows the key', async () => {
    const started = Date.now();
    const error = await runExpectingFailure('faults-wrong-key', rows(200, {}), 'failures-bad-key');
    assert.equal(error.type, 'AuthenticationFailed');
    assert.match(error.message, /401/);
    assert.doesNotMatch(error.message, /sk-a-wrong-key-0123456789/);
    assert.ok(badKeySim.stats.total <= 64, `${badKeySim.stats.total} requests were sent with a bad key`);
    assert.ok(Date.now() - started < 30_000);
    assert.ok(error.manifest, 'what was saved is reported');
    assert.equal(error.manifest.stats.failed, 200);
  });
});
