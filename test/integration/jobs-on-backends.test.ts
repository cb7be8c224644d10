/**
 * Real jobs end to end with the production data plane selected: run artifacts in an S3 bucket (versitygw,
 * `CURATOR_STORAGE`), run metadata and batch leases in PostgreSQL (`CURATOR_DATABASE_URL`), on a real Temporal dev
 * server and the simulator. The worker's disk is a cache only: wiping it between runs, or running on another
 * machine's empty disk, costs no call, and the dataset's recorded SHA-256 is the stored object's.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { createWorker, curate, curationResult, defineCurator, startCuration, type Curator } from '../../src';
import { startSimulator, type Simulator } from '../../src/simulator';
import { S3ObjectStore, s3ClientFromEnv } from '../../src/storage/object-store/s3-store';
import { PgMetadataStore } from '../../src/storage/metadata/pg-metadata-store';
import { infraSkipReason, startPgServer, startS3Server, type PgServer, type S3Server } from '../helpers/infra-servers';
import { startCli } from '../helpers/cli-process';
import { startTemporal, tempDir } from '../helpers/temporal';

const BUCKET = 'curator-jobs';
const PREFIX = 'runs';
type Item = { id: number };
const prompt = (row: Item) => `Backends item ${row.id}`;
const v1 = defineCurator({
  name: 'backends',
  model: 'gpt-4o-mini',
  prompt,
  parse: (row: Item, answer: string) => ({ id: row.id, answer }),
});
/** Answers that take a while, so that a worker can be stopped with requests in flight. */
const slow = defineCurator({
  name: 'backends-slow',
  model: 'gpt-4o-mini',
  prompt: (row: Item) => `Backends slow item ${row.id} [[sim:slow=250]]`,
  parse: (row: Item, answer: string) => ({ id: row.id, answer }),
});
/** Keeps every answer for later runs (`reuseAnswers`): another dataset with the same prompts pays only for new ones. */
const reusing = defineCurator({
  name: 'backends-reusing',
  model: 'gpt-4o-mini',
  prompt: (row: Item) => `Backends reused item ${row.id}`,
  parse: (row: Item, answer: string) => ({ id: row.id, answer }),
  backend: { reuseAnswers: true },
});
/** The same requests, another parse: a parse-only change. */
const v2 = defineCurator({
  name: 'backends',
  model: 'gpt-4o-mini',
  prompt,
  parse: (row: Item, answer: string) => ({ id: row.id, chars: answer.length }),
});

describe(
  'jobs with CURATOR_STORAGE=s3://… and CURATOR_DATABASE_URL=postgres://…',
  { skip: infraSkipReason('versitygw') ?? infraSkipReason('postgres') },
  () => {
    let env: TestWorkflowEnvironment;
    let sim: Simulator;
    let s3: S3Server;
    let pg: PgServer;
    let workerEnv: NodeJS.ProcessEnv;
    let store: S3ObjectStore;
    const datasetFile = join(tempDir('backends-data'), 'items.jsonl');
    const rows = 45;
    let running: { worker: Worker; done: Promise<void> } | undefined;

    /** Stops the running worker, if any, and starts one for `curator` on the cache directory `cacheDir`. */
    async function worker(curator: Curator<any, any, any>, cacheDir: string): Promise<void> {
      await stopWorker();
      const w = await createWorker({
        connection: env.nativeConnection,
        taskQueue: 'backends',
        cacheDir,
        curators: [curator, slow, reusing],
        env: workerEnv,
      });
      running = { worker: w, done: w.run() };
    }
    async function stopWorker(): Promise<void> {
      if (!running) return;
      running.worker.shutdown();
      await running.done;
      running = undefined;
    }
    const run = () => curate(env.client, 'backends', { dataset: datasetFile, taskQueue: 'backends', batchSize: 10 });
    async function objectSha256(key: string): Promise<string> {
      const hash = createHash('sha256');
      for await (const chunk of (await store.read(key))!) hash.update(chunk);
      return hash.digest('hex');
    }
    async function keys(prefix: string): Promise<string[]> {
      const out: string[] = [];
      for await (const e of store.list(prefix)) out.push(e.key);
      return out;
    }

    before(async () => {
      [env, sim, s3, pg] = await Promise.all([
        startTemporal(),
        startSimulator(),
        startS3Server(tempDir('backends-s3'), BUCKET),
        startPgServer(tempDir('backends-pg')),
      ]);
      workerEnv = {
        ...s3.env,
        OPENAI_API_KEY: 'sk-test-backends',
        OPENAI_BASE_URL: sim.openaiBaseURL,
        CURATOR_STORAGE: `s3://${BUCKET}/${PREFIX}`,
        CURATOR_DATABASE_URL: await pg.database('jobs'),
      };
      store = new S3ObjectStore({ bucket: BUCKET, prefix: PREFIX, client: s3ClientFromEnv(s3.env) });
      writeFileSync(datasetFile, Array.from({ length: rows }, (_, id) => JSON.stringify({ id }) + '\n').join(''));
    });

    after(async () => {
      await stopWorker();
      await store?.close();
      await Promise.allSettled([sim?.close(), env?.teardown(), s3?.stop(), pg?.stop()]);
    });

    test('rows out = rows in; rerun, parse-only change and a wiped disk cost no call; sha256 = the object', async () => {
      const diskA = tempDir('backends-disk-a');
      await worker(v1, diskA);
      sim.reset();
      const first = await run();
      assert.equal(sim.stats.total, rows, 'one call per row');
      assert.equal(first.stats.outputRows, rows);
      assert.deepEqual(
        first.table.toArray().map((r) => Number(r.id)),
        Array.from({ length: rows }, (_, i) => i)
      );
      // The record is in the store: segments of every batch, the copy of the input, the dataset, the manifest.
      const runKeys = await keys(`${first.runHash}/`);
      for (let b = 0; b < 5; b++) {
        assert.ok(runKeys.some((k) => k.startsWith(`${first.runHash}/responses/00000${b}/`)));
      }
      const datasetKey = `${first.runHash}/${first.parseHash}.arrow`;
      for (const k of ['input.jsonl', 'input.index.json', `${first.parseHash}.result.json`]) {
        assert.ok(runKeys.includes(`${first.runHash}/${k}`), k);
      }
      assert.equal(first.datasetUri, `s3://${BUCKET}/${PREFIX}/${datasetKey}`);
      assert.equal(await objectSha256(datasetKey), first.datasetSha256);
      const answers = new Map(first.table.toArray().map((r) => [Number(r.id), r.answer as string]));
      // Metadata went to PostgreSQL.
      const meta = await PgMetadataStore.open(workerEnv.CURATOR_DATABASE_URL!);
      try {
        const recorded = await meta.getRun(first.runHash);
        assert.equal(recorded?.status, 'completed');
        assert.equal(recorded?.dataset_sha256, first.datasetSha256);
      } finally {
        await meta.close();
      }

      // `curator export` on another machine: the run from PostgreSQL, its dataset from the bucket.
      const out = join(tempDir('backends-export'), 'out.jsonl');
      const cli = startCli(['export', first.runHash.slice(0, 12), '-o', out], {
        ...process.env,
        ...workerEnv,
        CURATOR_CACHE_DIR: tempDir('backends-cli-cache'),
      });
      assert.equal(await cli.exited, 0, cli.stderr());
      const exported = readFileSync(out, 'utf8').trim().split('\n');
      assert.equal(exported.length, rows);
      assert.equal(JSON.parse(exported[7]).answer, answers.get(7));

      sim.reset();
      const again = await run();
      assert.equal(sim.stats.total, 0, 'a rerun makes no call');
      assert.equal(again.datasetSha256, first.datasetSha256);

      // The disk is wiped and the parse changes: every answer is read back from the store's segments.
      await stopWorker();
      rmSync(diskA, { recursive: true, force: true });
      await worker(v2, diskA);
      sim.reset();
      const reparsed = await run();
      assert.equal(sim.stats.total, 0, 'a parse-only change on a wiped disk makes no call');
      assert.equal(reparsed.runHash, first.runHash);
      assert.notEqual(reparsed.parseHash, first.parseHash);
      assert.equal(reparsed.stats.outputRows, rows);
      for (const r of reparsed.table.toArray()) assert.equal(Number(r.chars), answers.get(Number(r.id))!.length);
      assert.equal(await objectSha256(`${reparsed.runHash}/${reparsed.parseHash}.arrow`), reparsed.datasetSha256);

      // Another machine (an empty disk) answers the first job from the store, its local copy the object's bytes.
      const diskB = tempDir('backends-disk-b');
      await worker(v1, diskB);
      sim.reset();
      const elsewhere = await run();
      assert.equal(sim.stats.total, 0, 'another machine makes no call');
      assert.equal(elsewhere.datasetSha256, first.datasetSha256);
      assert.ok(elsewhere.datasetPath.startsWith(diskB));
      assert.equal(createHash('sha256').update(readFileSync(elsewhere.datasetPath)).digest('hex'), first.datasetSha256);

      // No object in the bucket holds the API key.
      for (const key of await keys('')) {
        assert.ok(!(await store.get(key))!.body.includes(workerEnv.OPENAI_API_KEY!), `${key} holds the API key`);
      }
    });

    test('answers kept for reuse are in the store: another machine, another dataset, pays only for new prompts', async () => {
      const dir = tempDir('backends-reuse-data');
      const first = join(dir, 'first.jsonl');
      const second = join(dir, 'second.jsonl');
      writeFileSync(first, Array.from({ length: 10 }, (_, id) => JSON.stringify({ id }) + '\n').join(''));
      writeFileSync(second, Array.from({ length: 15 }, (_, id) => JSON.stringify({ id }) + '\n').join(''));
      const diskA = tempDir('backends-reuse-a');
      await worker(v1, diskA);
      sim.reset();
      const one = await curate(env.client, 'backends-reusing', { dataset: first, taskQueue: 'backends', batchSize: 5 });
      assert.equal(sim.stats.total, 10);
      // Machine A is gone with its disk; machine B's disk is empty.
      await stopWorker();
      rmSync(diskA, { recursive: true, force: true });
      await worker(v1, tempDir('backends-reuse-b'));
      sim.reset();
      const two = await curate(env.client, 'backends-reusing', {
        dataset: second,
        taskQueue: 'backends',
        batchSize: 5,
      });
      assert.notEqual(two.runHash, one.runHash, 'another dataset is another run');
      assert.equal(two.stats.outputRows, 15);
      assert.deepEqual(
        sim.stats.requests.map((r) => r.prompt).sort(),
        [10, 11, 12, 13, 14].map((id) => `Backends reused item ${id}`),
        'only the five new prompts are sent'
      );
      assert.equal(two.stats.reused, 10);
    });

    test('a worker stopped mid-job with its disk wiped: another machine finishes, paying again at most what was in flight', async () => {
      const file = join(tempDir('backends-slow-data'), 'slow.jsonl');
      const n = 40;
      const concurrency = 4;
      writeFileSync(file, Array.from({ length: n }, (_, id) => JSON.stringify({ id }) + '\n').join(''));
      const diskA = tempDir('backends-slow-a');
      await worker(v1, diskA);
      sim.reset();
      const handle = await startCuration(env.client, 'backends-slow', {
        dataset: file,
        taskQueue: 'backends',
        batchSize: 10,
        maxConcurrentRequests: concurrency,
      });
      while (sim.stats.total < 12) await new Promise((r) => setTimeout(r, 50));
      await stopWorker();
      const paidOnA = sim.stats.total;
      rmSync(diskA, { recursive: true, force: true });
      await worker(v1, tempDir('backends-slow-b'));
      const result = await curationResult(handle);
      assert.equal(result.stats.outputRows, n);
      assert.ok(paidOnA < n, `stopped mid-job (${paidOnA} calls before the stop)`);
      const calls = new Map<string, number>();
      for (const r of sim.stats.requests) calls.set(r.prompt, (calls.get(r.prompt) ?? 0) + 1);
      const twice = [...calls].filter(([, c]) => c > 1).map(([prompt, c]) => `${prompt} ×${c}`);
      assert.ok(
        sim.stats.total <= n + concurrency,
        `${sim.stats.total} calls for ${n} rows: more paid twice than were in flight (${concurrency}): ${twice.join(', ')}`
      );
    });
  }
);
