/**
 * Stopping on purpose, bad input and secrets, on a real dev server: a cancelled or terminated job keeps what it paid
 * for and continues when started again; two starts of one job make one execution; every kind of bad input gets a
 * clear error naming its row and loses no other row; no API key reaches histories, memos or the cache directory.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import {
  cancelCuration,
  createWorker,
  curate,
  curationResult,
  CurationError,
  defineCurator,
  startCuration,
  type FailedRequest,
} from '../../src';
import { startSimulator, type Simulator } from '../../src/simulator';
import { storedObjects, withMetadata } from '../helpers/backends';
import { startTemporal, tempDir } from '../helpers/temporal';

const SECRET = 'sk-proj-THIS-KEY-MUST-NEVER-LEAK-0123456789abcdef';

type Item = { id: number; topic?: string; text?: string };

const slow = defineCurator({
  name: 'durable-slow',
  model: 'gpt-4o-mini',
  prompt: (row: Item) => `Durability item ${row.id} [[sim:slow=300]]`,
  parse: (row: Item, answer: string) => ({ id: row.id, answer }),
});
const topics = defineCurator({
  name: 'durable-topics',
  model: 'gpt-4o-mini',
  prompt: (row: Item) => {
    if (row.id === 2) throw new Error('row 2 is cursed');
    return `Write about ${row.topic}`;
  },
  parse: (row: Item, answer: string) => {
    if (row.id === 3) throw new Error('cannot parse row 3');
    if (row.id === 4) return null;
    return { id: row.id, topic: row.topic, answer };
  },
  backend: { requireAllResponses: false },
});
const big = defineCurator({
  name: 'durable-big',
  model: 'gpt-4o-mini',
  prompt: (row: Item) => `Summarise ${row.text!.length} characters: ${row.text}`,
  parse: (row: Item, answer: string) => ({ id: row.id, chars: row.text!.length, answer }),
});
/** A loopback port nobody listens on: a server is opened there and closed again. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]
  );
}

describe('durability, bad input and secrets', () => {
  let env: TestWorkflowEnvironment;
  let sim: Simulator;
  let workers: Worker[];
  let running: Promise<void>[];
  let cacheDir: string;
  const taskQueue = 'durability';
  let unreachableURL: string;

  before(async () => {
    env = await startTemporal();
    sim = await startSimulator();
    cacheDir = tempDir('durability');
    unreachableURL = `http://127.0.0.1:${await closedPort()}/v1`;
    const unreachable = defineCurator({
      name: 'durable-unreachable',
      model: 'gpt-4o-mini',
      prompt: (row: Item) => `Nobody listens ${row.id}`,
      backend: { baseURL: unreachableURL, maxRetries: 5 },
    });
    const workerEnv = { OPENAI_API_KEY: SECRET, OPENAI_BASE_URL: sim.openaiBaseURL };
    workers = [
      await createWorker({
        connection: env.nativeConnection,
        taskQueue,
        cacheDir,
        curators: [slow, topics, big, unreachable],
        env: workerEnv,
      }),
      await createWorker({
        connection: env.nativeConnection,
        taskQueue: 'durability-no-cache',
        cacheDir: '/dev/null/cannot-be-a-directory',
        curators: [topics],
        env: workerEnv,
      }),
    ];
    running = workers.map((w) => w.run());
  });

  after(async () => {
    workers?.forEach((w) => w.shutdown());
    await Promise.all(running ?? []);
    await sim?.close();
    await env?.teardown();
  });

  const items = (n: number, from = 0): Item[] => Array.from({ length: n }, (_, k) => ({ id: from + k }));
  const waitForResponses = async (atLeast: number) => {
    while (sim.stats.byStatus.get(200) === undefined || sim.stats.total < atLeast) {
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  test('cancel: a partial dataset of everything done, then a restart continues without repeating', async () => {
    sim.reset();
    const dataset = items(300);
    const handle = await startCuration(env.client, 'durable-slow', {
      dataset,
      taskQueue,
      cacheDir,
      batchSize: 20,
      maxConcurrentRequests: 8,
    });
    // The simulator counts a request when it arrives and answers it 300 ms later: with at most 8 in flight, 48
    // arrivals mean at least 40 answers sent.
    await waitForResponses(48);
    await cancelCuration(env.client, handle.workflowId);
    let cancelled: CurationError | undefined;
    try {
      await curationResult(handle);
    } catch (err) {
      cancelled = err as CurationError;
    }
    assert.ok(cancelled instanceof CurationError, String(cancelled));
    assert.equal(cancelled.type, 'Cancelled');
    const partial = cancelled.manifest!;
    assert.ok(partial.stats.succeeded >= 40 && partial.stats.succeeded < 300, `${partial.stats.succeeded} done`);
    assert.equal((await handle.describe()).status.name, 'CANCELLED');

    const callsBefore = sim.stats.total;
    const result = await curate(env.client, 'durable-slow', {
      dataset,
      taskQueue,
      cacheDir,
      batchSize: 20,
      maxConcurrentRequests: 8,
    });
    assert.equal(result.stats.succeeded, 300);
    assert.ok(result.stats.cached >= partial.stats.succeeded);
    // The requests in flight when the job was cancelled were answered and recorded, not given up: none is paid twice.
    const repeated = [...sim.stats.byPrompt].filter(([, n]) => n > 1).map(([prompt]) => prompt);
    assert.deepEqual(repeated, [], `${repeated.length} requests were paid twice`);
    assert.ok(sim.stats.total - callsBefore <= 300 - partial.stats.succeeded);
    assert.deepEqual(
      result.table.toArray().map((r) => Number(r.toJSON().id)),
      dataset.map((r) => r.id)
    );
  });

  test('terminate, then start again: it resumes from the files, paying for nothing twice', async () => {
    sim.reset();
    const dataset = items(200, 1000);
    const options = { dataset, taskQueue, cacheDir, batchSize: 20, maxConcurrentRequests: 8 };
    const handle = await startCuration(env.client, 'durable-slow', options);
    await waitForResponses(40);
    await handle.terminate('test: pull the plug');
    const result = await curate(env.client, 'durable-slow', options);
    assert.equal(result.stats.succeeded, 200);
    // Every request sent before the plug was pulled: those in flight were answered and recorded, then the old
    // activities stopped (told by their heartbeat) while the new job's waited for their leases.
    assert.ok(result.stats.cached >= 40, `${result.stats.cached} answers reused`);
    const repeated = [...sim.stats.byPrompt].filter(([, n]) => n > 1).map(([prompt]) => prompt);
    assert.deepEqual(repeated, [], `${repeated.length} requests were paid twice`);
  });

  test('the same job started twice at once runs once; both callers get its result', async () => {
    sim.reset();
    const options = { dataset: items(60, 5000), taskQueue, cacheDir, batchSize: 10 };
    const [a, b] = await Promise.all([
      curate(env.client, 'durable-slow', options),
      curate(env.client, 'durable-slow', options),
    ]);
    assert.equal(a.workflowId, b.workflowId);
    assert.equal(a.datasetSha256, b.datasetSha256);
    assert.equal(sim.stats.total, 60);
  });

  test('bad rows fail alone with errors that name them: malformed line, missing field, throwing prompt and parse', async () => {
    const dir = tempDir('bad-input');
    const file = join(dir, 'rows.jsonl');
    writeFileSync(
      file,
      [
        JSON.stringify({ id: 0, topic: 'rivers' }),
        JSON.stringify({ id: 1 }),
        JSON.stringify({ id: 2, topic: 'cursed' }),
        JSON.stringify({ id: 3, topic: 'unparseable' }),
        JSON.stringify({ id: 4, topic: 'nothing to say' }),
        '{"id": 5, "topic": "broken',
        '["not", "an", "object"]',
        JSON.stringify({ id: 7, topic: 'stars' }),
      ].join('\n') + '\n'
    );
    const result = await curate(env.client, 'durable-topics', { dataset: file, taskQueue, cacheDir, batchSize: 3 });
    assert.deepEqual(
      result.table.toArray().map((r) => Number(r.toJSON().id)),
      [0, 7]
    );
    assert.equal(result.stats.succeeded, 3, 'rows 0, 4 (an empty result) and 7');
    const failed = readFileSync(result.failedRequestsPath, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as FailedRequest);
    const byIndex = new Map(failed.map((f) => [f.index, f]));
    assert.deepEqual([...byIndex.keys()], [1, 2, 3, 5, 6]);
    assert.equal(byIndex.get(1)!.type, 'PromptError');
    assert.match(byIndex.get(1)!.errors[0].message, /no field 'topic'/);
    assert.match(byIndex.get(2)!.errors[0].message, /row 2.*cursed/);
    assert.equal(byIndex.get(3)!.type, 'ParseError');
    assert.match(byIndex.get(3)!.errors.at(-1)!.message, /cannot parse row 3/);
    assert.equal(byIndex.get(5)!.type, 'InvalidRow');
    assert.match(byIndex.get(5)!.errors[0].message, /line 6 .* not valid JSON/);
    assert.match(byIndex.get(6)!.errors[0].message, /line 7 .* not a JSON object/);

    // A parse that returns nothing is a result: a rerun does not ask again, and a failed parse is not re-requested.
    const before = sim.callsFor('Write about nothing to say') + sim.callsFor('Write about unparseable');
    await curate(env.client, 'durable-topics', { dataset: file, taskQueue, cacheDir, batchSize: 3 });
    assert.equal(sim.callsFor('Write about nothing to say') + sim.callsFor('Write about unparseable'), before);
  });

  test('a 5 MB row goes through files, never through Temporal payloads', async () => {
    const text = 'x'.repeat(5 * 1024 * 1024);
    const result = await curate(env.client, 'durable-big', {
      dataset: [
        { id: 1, text },
        { id: 2, text: 'small' },
      ],
      taskQueue,
      cacheDir,
    });
    const rows = result.table.toArray().map((r) => r.toJSON());
    assert.deepEqual(
      rows.map((r) => Number(r.chars)),
      [text.length, 5]
    );
  });

  test('an empty dataset gives an empty dataset, not a crash', async () => {
    const result = await curate(env.client, 'durable-topics', { dataset: [], taskQueue, cacheDir });
    assert.equal(result.stats.total, 0);
    assert.equal(result.table.numRows, 0);
  });

  test('an unknown curator, an unreachable endpoint and an unwritable cache directory fail fast and clearly', async () => {
    const expectError = async (run: () => Promise<unknown>, type: string, message: RegExp) => {
      const started = Date.now();
      await assert.rejects(run, (err: unknown) => {
        assert.ok(err instanceof CurationError, String(err));
        assert.equal(err.type, type, err.message);
        assert.match(err.message, message);
        return true;
      });
      assert.ok(Date.now() - started < 30_000, `${type} took ${Date.now() - started} ms`);
    };
    await expectError(
      () => curate(env.client, 'no-such-curator', { dataset: [{ id: 1 }], taskQueue, cacheDir }),
      'UnknownCurator',
      /no curator named 'no-such-curator'.*durable-slow/
    );
    await expectError(
      () => curate(env.client, 'durable-unreachable', { dataset: items(30), taskQueue, cacheDir }),
      'EndpointUnreachable',
      /cannot reach http:\/\/127\.0\.0\.1:\d+\/v1.*ECONNREFUSED/
    );
    const dir = tempDir('no-cache');
    const file = join(dir, 'rows.jsonl');
    writeFileSync(file, '{"id": 1, "topic": "x"}\n');
    await expectError(
      () => curate(env.client, 'durable-topics', { dataset: file, taskQueue: 'durability-no-cache' }),
      'CacheDirNotWritable',
      /cannot be written/
    );
  });

  test('the API key appears in no history, memo, search attribute, error or cache file', async () => {
    const needle = Buffer.from(SECRET);
    let histories = 0;
    for await (const execution of env.client.workflow.list({ query: `TaskQueue = '${taskQueue}'` })) {
      const handle = env.client.workflow.getHandle(execution.workflowId, execution.runId);
      const history = await handle.fetchHistory();
      const text = JSON.stringify(history, (_k, v: unknown) =>
        v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v
      );
      assert.ok(!text.includes(SECRET), `the key is in the history of ${execution.workflowId}`);
      assert.ok(!JSON.stringify(execution.memo ?? {}).includes(SECRET));
      assert.ok(!JSON.stringify(execution.searchAttributes ?? {}).includes(SECRET));
      histories++;
    }
    assert.ok(histories > 5);
    const files = filesUnder(cacheDir).filter((f) => statSync(f).size > 0);
    for (const file of files) {
      assert.equal(readFileSync(file).indexOf(needle), -1, `the key is in ${file}`);
    }
    // Wherever the runs are kept: the object store's objects and the metadata (metadata.db is one of the files).
    if (!process.env.CURATOR_DATABASE_URL) assert.ok(files.some((f) => f.endsWith('metadata.db')));
    let objects = 0;
    for await (const { key, body } of storedObjects()) {
      assert.equal(body.indexOf(needle), -1, `the key is in ${key}`);
      objects++;
    }
    assert.ok(objects > 0 || !process.env.CURATOR_STORAGE, 'the store holds the runs');
    const metadata = await withMetadata(cacheDir, async (db) => {
      const runs = await db.listRuns(10_000);
      return JSON.stringify([runs, await Promise.all(runs.map((r) => db.events(r.run_hash)))]);
    });
    assert.ok(metadata.includes('durable-topics'), 'the metadata holds the runs');
    assert.ok(!metadata.includes(SECRET), 'the key is in the run metadata');
  });
});
