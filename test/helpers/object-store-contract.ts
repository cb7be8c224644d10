/**
 * What every ObjectStore must do, as tests run against each implementation: the local directory in the unit tests,
 * the real S3 server (versitygw) in the integration tests. `open` returns a store on a fresh, empty root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ObjectExistsError, type ObjectStore } from '../../src/storage/object-store/object-store';
import { ShardLog, type AttemptRecord } from '../../src/storage/response-log';
import {
  compactSegments,
  loadSegmentedLog,
  readSegments,
  segmentKey,
  SegmentLogWriter,
} from '../../src/storage/object-store/segmented-response-log';
import { StoreLease } from '../../src/storage/object-store/store-lease';
import type { BatchLeaseStore } from '../../src/storage/data-plane';

export interface ContractOptions {
  /** A store on a fresh root; the suite closes it. */
  open(): Promise<ObjectStore>;
  /** The size of an upload big enough for several parts of the store's multipart upload. */
  largeUploadBytes: number;
}

async function collect(it: AsyncIterable<Buffer> | undefined): Promise<Buffer> {
  assert.ok(it, 'object present');
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

async function keys(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of store.list(prefix)) out.push(e.key);
  return out;
}

/** Deterministic pseudo-random bytes, produced chunk by chunk (the whole never exists in the test either). */
async function* bytesOf(total: number, chunk = 1 << 20): AsyncGenerator<Buffer> {
  let seed = 7;
  for (let at = 0; at < total; at += chunk) {
    const buf = Buffer.alloc(Math.min(chunk, total - at));
    for (let i = 0; i < buf.length; i++) buf[i] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16;
    yield buf;
  }
}

const record = (i: number, job: string, attempt: number, ok: boolean, at: string): AttemptRecord => ({
  i,
  job,
  attempt,
  at,
  ok,
  ...(ok
    ? { value: `answer ${i}`, usage: { input: 3, output: 5 } }
    : { error: { type: 'RateLimited', message: `429 on ${i}`, status: 429, retryable: true } }),
});

/** Registers the contract's tests (call inside a `describe`). */
export function objectStoreContract(opts: ContractOptions): void {
  const withStore = async (fn: (s: ObjectStore) => Promise<void>): Promise<void> => {
    const store = await opts.open();
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  };

  test('put, get, replace, delete; a missing key is undefined', () =>
    withStore(async (s) => {
      assert.equal(await s.get('a/b.txt'), undefined);
      assert.equal(await s.read('a/b.txt'), undefined);
      const v1 = await s.put('a/b.txt', 'one');
      const got = await s.get('a/b.txt');
      assert.equal(got?.body.toString(), 'one');
      assert.equal(got?.etag, v1);
      await s.put('a/b.txt', 'two');
      assert.equal((await collect(await s.read('a/b.txt'))).toString(), 'two');
      await s.delete('a/b.txt');
      await s.delete('a/b.txt');
      assert.equal(await s.get('a/b.txt'), undefined);
    }));

  test('putIfAbsent: of 20 concurrent creators exactly one wins, and its bytes are what stays', () =>
    withStore(async (s) => {
      const results = await Promise.all(Array.from({ length: 20 }, (_, n) => s.putIfAbsent('lease/0', `writer ${n}`)));
      const winners = results.flatMap((etag, n) => (etag === undefined ? [] : [n]));
      assert.equal(winners.length, 1);
      assert.equal((await s.get('lease/0'))?.body.toString(), `writer ${winners[0]}`);
      assert.equal(await s.putIfAbsent('lease/0', 'late'), undefined);
    }));

  test('putIfMatch and deleteIfMatch act only on the version read', () =>
    withStore(async (s) => {
      assert.equal(await s.putIfMatch('k', 'x', '"nothing"'), undefined, 'If-Match on a missing key writes nothing');
      assert.equal(await s.get('k'), undefined);
      const v1 = (await s.putIfAbsent('k', 'v1'))!;
      const v2 = await s.putIfMatch('k', 'v2', v1);
      assert.ok(v2 !== undefined);
      assert.equal(await s.putIfMatch('k', 'stale', v1), undefined, 'a superseded tag loses');
      assert.equal((await s.get('k'))?.body.toString(), 'v2');
      // Of concurrent swaps from one version, one wins.
      const swaps = await Promise.all(Array.from({ length: 8 }, (_, n) => s.putIfMatch('k', `swap ${n}`, v2!)));
      assert.equal(swaps.filter((e) => e !== undefined).length, 1);
      assert.equal(await s.deleteIfMatch('k', v1), false);
      assert.ok((await s.get('k')) !== undefined, 'a stale delete leaves the object');
      const current = (await s.get('k'))!.etag;
      assert.equal(await s.deleteIfMatch('k', current), true);
      assert.equal(await s.get('k'), undefined);
    }));

  test('list: every key under a prefix, in byte order, nothing else', () =>
    withStore(async (s) => {
      for (const k of ['r/b/2', 'r/b/10', 'r/a', 'r/b/1/x', 'rr/c', 'other']) await s.put(k, k);
      assert.deepEqual(await keys(s, 'r/'), ['r/a', 'r/b/1/x', 'r/b/10', 'r/b/2']);
      assert.deepEqual(await keys(s, 'r/b/1'), ['r/b/1/x', 'r/b/10']);
      assert.deepEqual(await keys(s, 'nothing/'), []);
    }));

  test('upload streams several parts, hashes on the way, and reads back the same bytes', () =>
    withStore(async (s) => {
      const n = opts.largeUploadBytes;
      const expected = createHash('sha256');
      for await (const c of bytesOf(n)) expected.update(c);
      const out = await s.upload('data/set.arrow', bytesOf(n), { ifAbsent: true });
      assert.deepEqual(out, { bytes: n, sha256: expected.digest('hex') });
      const back = createHash('sha256');
      let size = 0;
      for await (const c of (await s.read('data/set.arrow'))!) {
        back.update(c);
        size += c.length;
      }
      assert.equal(size, n);
      assert.equal(back.digest('hex'), out.sha256);
    }));

  test('upload with ifAbsent refuses an existing key, small or multipart, and the object stays', () =>
    withStore(async (s) => {
      await s.put('d/x', 'original');
      await assert.rejects(s.upload('d/x', bytesOf(1000), { ifAbsent: true }), ObjectExistsError);
      await assert.rejects(s.upload('d/x', bytesOf(opts.largeUploadBytes), { ifAbsent: true }), ObjectExistsError);
      assert.equal((await s.get('d/x'))?.body.toString(), 'original');
      const plain = await s.upload('d/y', bytesOf(0));
      assert.equal(plain.bytes, 0);
      assert.equal((await s.get('d/y'))?.body.length, 0);
    }));

  test('segmented response log: every durable record is read back, by any job, each once', () =>
    withStore(async (s) => {
      const prefix = 'run/responses/3';
      // Two writers (a job's attempt and a rerun's), flushing at different sizes.
      const a = new SegmentLogWriter(s, prefix, 'job-a.1.aaaa', { flushBytes: 200, flushDelayMs: 0 });
      const b = new SegmentLogWriter(s, prefix, 'job-b.1.bbbb', { flushDelayMs: 5 });
      const records: AttemptRecord[] = [];
      for (let i = 0; i < 30; i++) {
        records.push(record(i, 'job-a', 1, i % 3 !== 0, `2026-01-01T00:00:${String(i).padStart(2, '0')}.000Z`));
      }
      for (let i = 0; i < 30; i += 3) records.push(record(i, 'job-b', 1, true, `2026-01-01T00:01:00.000Z`));
      await Promise.all(records.map((r) => (r.job === 'job-a' ? a : b).append(r)));
      await Promise.all([a.close(), b.close()]);

      const expected = new ShardLog();
      for (const r of records) expected.apply(r, 'job-a');
      const loaded = await loadSegmentedLog(s, prefix, 'job-a');
      assert.deepEqual([...loaded.requests.entries()], [...expected.requests.entries()]);
      const read = await readSegments(s, prefix);
      assert.ok(read.keys.length > 2, `several segments (${read.keys.length})`);
      assert.equal(read.lines.length, records.length);

      // Compaction: one segment, same state; a crash before the deletes (both present) changes nothing either.
      const before = await Promise.all(read.keys.map(async (k) => ({ k, body: (await s.get(k))!.body })));
      assert.equal(await compactSegments(s, prefix), before.length);
      assert.equal((await readSegments(s, prefix)).keys.length, 1);
      for (const { k, body } of before.slice(0, 2)) await s.put(k, body);
      const again = await loadSegmentedLog(s, prefix, 'job-a');
      assert.deepEqual([...again.requests.entries()], [...expected.requests.entries()]);
    }));

  test('segmented response log: a torn or foreign object under the prefix is never read as data', () =>
    withStore(async (s) => {
      const prefix = 'run/responses/0';
      const w = new SegmentLogWriter(s, prefix, 'job.1.cccc', { flushDelayMs: 0 });
      await w.append(record(0, 'job', 1, true, '2026-01-01T00:00:00.000Z'));
      await w.close();
      const whole = Buffer.from(JSON.stringify(record(1, 'job', 1, true, '2026-01-01T00:00:01.000Z')) + '\n');
      // The name promises `whole`; the object holds its first half (a torn write), and another holds foreign bytes.
      const torn = segmentKey(prefix, 'job.2.dddd', 1, whole);
      await s.put(torn, whole.subarray(0, 40));
      await s.put(`${prefix}/notes.txt`, '{"i":2}\n');
      const read = await readSegments(s, prefix);
      assert.deepEqual(read.torn.sort(), [torn, `${prefix}/notes.txt`].sort());
      const log = await loadSegmentedLog(s, prefix, 'job');
      assert.deepEqual([...log.requests.keys()], [0]);
    }));

  test('store lease: one holder; a waiter takes over only once it is stale; the old holder learns it lost', () =>
    withStore(async (s) => {
      let now = 1_000_000;
      const clock = { now: () => now, refreshMs: 0, pollMs: 1, staleMs: 15_000 };
      const signal = new AbortController().signal;
      let lostCalls = 0;
      const first = await StoreLease.acquire(s, 'leases/7', signal, () => undefined, {
        ...clock,
        owner: 'one',
        onLost: () => lostCalls++,
      });
      // A second taker waits while the lease is fresh (and refreshed).
      let waits = 0;
      const second = StoreLease.acquire(
        s,
        'leases/7',
        signal,
        () => {
          waits++;
          if (waits === 3) {
            now += 10_000;
            void first.refresh();
          }
          if (waits === 6) now += 16_000; // the first holder stops refreshing: stale
        },
        { ...clock, owner: 'two' }
      );
      const held = await second;
      assert.ok(waits >= 6, `waited ${waits} times`);
      assert.equal(JSON.parse((await s.get('leases/7'))!.body.toString()).owner, 'two');
      assert.equal(await first.refresh(), false);
      assert.equal(first.lost, true);
      assert.equal(lostCalls, 1);
      await first.release(); // the loser's release must not delete the new holder's lease
      assert.equal(JSON.parse((await s.get('leases/7'))!.body.toString()).owner, 'two');
      assert.equal(await held.refresh(), true);
      await held.release();
      assert.equal(await s.get('leases/7'), undefined);
    }));
}

/** A data plane's batch lease holds one taker at a time, and is free again once released. */
export async function assertLeaseExclusive(leases: BatchLeaseStore, run: string, batch: number): Promise<void> {
  const lease = await leases.acquire(run, batch, new AbortController().signal, () => undefined);
  const stop = new AbortController();
  await assert.rejects(
    leases.acquire(run, batch, stop.signal, () => stop.abort()),
    { name: 'AbortError' },
    'a second taker waits'
  );
  await lease.release();
  const again = await leases.acquire(run, batch, new AbortController().signal, () => assert.fail('released'));
  await again.release();
}
