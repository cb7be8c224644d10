/**
 * The storage backends against the real servers: versitygw for the S3 object store (the contract every store keeps,
 * multipart uploads, the segmented response log across a store restart, the store lease) and PostgreSQL for the run
 * metadata (the same answers as metadata.db, and `curator runs`/`show` reading it). The servers come from the
 * machine's cached builds (test/helpers/infra-servers.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { S3ObjectStore, s3ClientFromEnv } from '../../src/storage/object-store/s3-store';
import { openDataPlane, SegmentedResponseLogs } from '../../src/storage/data-plane';
import { loadSegmentedLog, SegmentLogWriter } from '../../src/storage/object-store/segmented-response-log';
import { openObjectStore } from '../../src/storage/object-store/storage-location';
import {
  SqliteMetadataStore,
  type MetadataStore,
  type RunFinish,
  type RunStart,
} from '../../src/storage/metadata/metadata-store';
import { PgLeases } from '../../src/storage/metadata/pg-leases';
import { PgMetadataStore } from '../../src/storage/metadata/pg-metadata-store';
import type { AttemptRecord } from '../../src/storage/response-log';
import { startCli } from '../helpers/cli-process';
import { infraSkipReason, startPgServer, startS3Server, type PgServer, type S3Server } from '../helpers/infra-servers';
import { assertLeaseExclusive, objectStoreContract } from '../helpers/object-store-contract';
import { tempDir } from '../helpers/temporal';

const BUCKET = 'curator';
const PART = 5 << 20;

describe('S3 object store on versitygw', { skip: infraSkipReason('versitygw') }, () => {
  let server: S3Server;
  const stores = () => new S3ObjectStore({ bucket: BUCKET, prefix: '', client: s3ClientFromEnv(server.env) });
  const fresh = (partSize = PART) =>
    new S3ObjectStore({
      bucket: BUCKET,
      prefix: `t-${randomBytes(4).toString('hex')}/root`,
      client: s3ClientFromEnv(server.env),
      partSize,
    });

  before(async () => {
    server = await startS3Server(tempDir('versitygw'), BUCKET);
  });
  after(() => server?.stop());

  describe('the object-store contract', () => {
    objectStoreContract({ open: async () => fresh(), largeUploadBytes: 2 * PART + 12345 });
  });

  test('CURATOR_STORAGE=s3://bucket/prefix with the standard AWS variables reaches the bucket', async () => {
    const store = await openObjectStore('/nonexistent', { ...server.env, CURATOR_STORAGE: `s3://${BUCKET}/env-test/` });
    try {
      assert.equal(store.location, `s3://${BUCKET}/env-test`);
      await store.put('a.txt', 'via env');
      const root = stores();
      assert.equal((await root.get('env-test/a.txt'))?.body.toString(), 'via env');
      await root.close();
    } finally {
      await store.close();
    }
  });

  test('a failed multipart upload leaves neither the object nor its parts behind', async () => {
    const store = fresh();
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(PART + 1, 1); // one part goes up
      throw new Error('the dataset writer failed');
    }
    await assert.rejects(store.upload('out.arrow', failing()), /dataset writer failed/);
    assert.equal(await store.get('out.arrow'), undefined);
    const { ListMultipartUploadsCommand } = await import('@aws-sdk/client-s3');
    const client = s3ClientFromEnv(server.env);
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
    client.destroy();
    assert.deepEqual(
      (uploads.Uploads ?? []).filter((u) => u.Key?.endsWith('/out.arrow')),
      [],
      'the upload was aborted'
    );
    await store.close();
  });

  test('response log across a store restart: what was stored stays, what was not stored never counted', async () => {
    const store = fresh();
    const prefix = 'run/responses/0';
    const rec = (i: number, job: string): AttemptRecord => ({
      i,
      job,
      attempt: 1,
      at: new Date(1_700_000_000_000 + i).toISOString(),
      ok: true,
      value: `answer ${i}`,
    });
    const w1 = new SegmentLogWriter(store, prefix, 'job.1.aaaa', { flushDelayMs: 0 });
    for (let i = 0; i < 10; i++) await w1.append(rec(i, 'job'));
    let duringOutage: Promise<unknown> | undefined;
    await server.restart(async () => {
      // The store is down: this answer is paid for but not durable; it must not count.
      duringOutage = w1.append(rec(10, 'job')).then(
        () => 'stored',
        (err: Error) => err.message
      );
      assert.notEqual(await duringOutage, 'stored');
    });
    // The rerun (a new writer after the restart) reads every stored answer, and only those.
    const log = await loadSegmentedLog(store, prefix, 'job');
    assert.deepEqual(
      [...log.requests.keys()].sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    );
    assert.ok([...log.requests.values()].every((s) => s.success !== undefined));
    const w2 = new SegmentLogWriter(store, prefix, 'job.2.bbbb', { flushDelayMs: 0 });
    await w2.append(rec(10, 'job'));
    await w2.close();
    assert.equal((await loadSegmentedLog(store, prefix, 'job')).requests.size, 11);
    await w1.close().catch(() => undefined);
    await store.close();
  });
});

const start: RunStart = {
  run_hash: 'a'.repeat(64),
  parse_hash: 'p1',
  curator_name: 'Poems',
  dataset_hash: 'd',
  prompt_func: 'row => [{ role: "user", content: row.topic }]',
  model_name: 'gpt-4o-mini',
  provider: 'openai',
  base_url: 'http://127.0.0.1:18787/v1',
  response_format: '',
  workflow_id: 'curate-1',
  total_requests: 3_000_000_000, // beyond 32 bits: counters are bigint on PostgreSQL, numbers here
};
const finish: RunFinish = {
  status: 'succeeded',
  parse_hash: 'p1',
  workflow_id: 'curate-1',
  total_requests: 3_000_000_000,
  succeeded_requests: 2_999_999_998,
  failed_requests: 2,
  cached_requests: 0,
  total_prompt_tokens: 12,
  total_completion_tokens: 34,
  output_rows: 2_999_999_998,
  dataset_path: '/cache/x.arrow',
  dataset_sha256: 'f'.repeat(64),
  failed_requests_path: null,
  total_cost_milli_dollars: 1.5,
};

/** What a store answers after one run's life, without the clock's values. */
async function lifeOfARun(db: MetadataStore): Promise<unknown> {
  await db.startRun({ ...start, run_hash: 'b'.repeat(64), curator_name: 'Other' });
  await db.startRun(start);
  await db.event(start.run_hash, 'batch-done', 'curate-1', { batch: 0 });
  await db.startRun({ ...start, workflow_id: 'curate-2' }); // a rerun of the same run
  await db.finishRun(start.run_hash, finish);
  const untimed = <T extends object>(r: T) =>
    Object.fromEntries(Object.entries(r).filter(([k]) => !['created_time', 'last_edited_time', 'at'].includes(k)));
  return {
    run: untimed((await db.getRun(start.run_hash))!),
    missing: await db.getRun('nope'),
    list: (await db.listRuns(10)).map((r) => r.run_hash),
    limited: (await db.listRuns(1)).length,
    events: (await db.events(start.run_hash)).map(untimed),
  };
}

describe('run metadata on PostgreSQL', { skip: infraSkipReason('postgres') }, () => {
  let pg: PgServer;
  before(async () => {
    pg = await startPgServer(tempDir('postgres'));
  });
  after(() => pg?.stop());

  test('answers exactly as metadata.db does', async () => {
    const sqlite = new SqliteMetadataStore(join(tempDir('meta-sqlite'), 'metadata.db'));
    const postgres = await PgMetadataStore.open(await pg.database('same_answers'));
    try {
      const expected = await lifeOfARun(sqlite);
      assert.deepEqual(await lifeOfARun(postgres), expected);
      assert.equal((expected as { run: { total_requests: number } }).run.total_requests, 3_000_000_000);
    } finally {
      await sqlite.close();
      await postgres.close();
    }
  });

  test('workers starting together create the schema once, without a catalog collision', async () => {
    const url = await pg.database('many_workers');
    const stores = await Promise.all(Array.from({ length: 6 }, () => PgMetadataStore.open(url)));
    await Promise.all(stores.map((s, n) => s.event('r', `worker ${n}`, null)));
    assert.equal((await stores[0].events('r')).length, 6);
    await Promise.all(stores.map((s) => s.close()));
  });

  test('a wrong URL is one clear error naming the database without its password', async () => {
    await assert.rejects(
      PgMetadataStore.open('postgres://curator:hunter2@127.0.0.1:1/curator'),
      (err: Error) =>
        /cannot open run metadata at postgres:\/\/curator:\*\*\*@127\.0\.0\.1:1\/curator/.test(err.message) &&
        !err.message.includes('hunter2')
    );
  });

  test('curator runs and show read PostgreSQL when CURATOR_DATABASE_URL is set', async () => {
    const url = await pg.database('cli');
    const db = await PgMetadataStore.open(url);
    await db.startRun(start);
    await db.finishRun(start.run_hash, finish);
    await db.close();
    const env = { ...process.env, CURATOR_DATABASE_URL: url, CURATOR_CACHE_DIR: tempDir('cli-empty-cache') };
    const runs = startCli(['runs'], env);
    assert.equal(await runs.exited, 0, runs.stderr());
    assert.match(runs.stdout(), /aaaaaaaaaaaa\s+Poems\s+gpt-4o-mini\s+succeeded\s+3000000000/);
    const show = startCli(['show', 'aaaa'], env);
    assert.equal(await show.exited, 0, show.stderr());
    assert.match(show.stdout(), /dataset_sha256\s+f{64}/);
    assert.match(show.stdout(), /history:\n.*started\s+curate-1\n.*succeeded\s+curate-1/);
  });

  test('row leases: of 10 takers at once one holds; a waiter takes over once the holder stops refreshing', async () => {
    const leases = await PgLeases.open(await pg.database('leases'));
    try {
      let lostCalls = 0;
      const takers = await Promise.allSettled(
        Array.from({ length: 10 }, () => {
          const stop = new AbortController();
          return leases.acquire('run/batch-0', stop.signal, () => stop.abort(), {
            refreshMs: 0,
            staleMs: 1500,
            onLost: () => lostCalls++,
          });
        })
      );
      const held = takers.flatMap((t) => (t.status === 'fulfilled' ? [t.value] : []));
      assert.equal(held.length, 1);
      const holder = held[0];
      let waits = 0;
      const next = await leases.acquire(
        'run/batch-0',
        new AbortController().signal,
        () => {
          // The holder refreshes for a while, then dies without releasing.
          if (++waits <= 3) void holder.refresh();
        },
        { staleMs: 1500, pollMs: 100, refreshMs: 0 }
      );
      assert.ok(waits > 3, `waited ${waits} times`);
      assert.equal(await holder.refresh(), false);
      assert.equal(holder.lost, true);
      assert.equal(lostCalls, 1);
      await holder.release(); // must not free the new holder's lease
      const stop = new AbortController();
      await assert.rejects(
        leases.acquire('run/batch-0', stop.signal, () => stop.abort()),
        { name: 'AbortError' }
      );
      assert.equal(await next.refresh(), true);
      await next.release();
      const free = await leases.acquire('run/batch-0', new AbortController().signal, () => assert.fail('released'));
      await free.release();
    } finally {
      await leases.close();
    }
  });
});

describe(
  'the data plane with CURATOR_STORAGE and CURATOR_DATABASE_URL set',
  {
    skip: infraSkipReason('versitygw') ?? infraSkipReason('postgres'),
  },
  () => {
    test('response logs go to the bucket as segments, leases and metadata to PostgreSQL', async () => {
      const s3 = await startS3Server(tempDir('plane-s3'), BUCKET);
      const pg = await startPgServer(tempDir('plane-pg'));
      const env = {
        ...s3.env,
        CURATOR_STORAGE: `s3://${BUCKET}/runs`,
        CURATOR_DATABASE_URL: await pg.database('plane'),
      };
      const plane = await openDataPlane(tempDir('plane-cache'), env);
      try {
        assert.ok(plane.objects instanceof S3ObjectStore && plane.metadata instanceof PgMetadataStore);
        assert.ok(plane.responses instanceof SegmentedResponseLogs);
        const w = await plane.responses.open('r1', 3, 'curate-1', 2);
        await w.append({ i: 7, job: 'curate-1', attempt: 1, at: new Date().toISOString(), ok: true, value: 'x' });
        await w.close();
        const keys: string[] = [];
        for await (const e of plane.objects.list('r1/responses/000003/')) keys.push(e.key);
        assert.equal(keys.length, 1);
        assert.match(keys[0], /^r1\/responses\/000003\/curate-1\.2\.[0-9a-f]{8}\.00000001\.\d+-[0-9a-f]{16}\.jsonl$/);
        assert.equal((await plane.responses.load('r1', 3, 'curate-1')).requests.get(7)?.success?.value, 'x');
        await assertLeaseExclusive(plane.leases, 'r1', 3);
      } finally {
        await plane.close();
        await Promise.all([s3.stop(), pg.stop()]);
      }
    });
  }
);
