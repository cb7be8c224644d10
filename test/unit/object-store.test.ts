import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkKey } from '../../src/storage/object-store/object-store';
import { LocalObjectStore } from '../../src/storage/object-store/local-store';
import {
  openObjectStore,
  parseStorageLocation,
  probeConditionalWrites,
} from '../../src/storage/object-store/storage-location';
import {
  newWriterId,
  parseSegmentName,
  segmentIntact,
  segmentKey,
  SegmentLogWriter,
} from '../../src/storage/object-store/segmented-response-log';
import type { AttemptRecord } from '../../src/storage/response-log';
import { openDataPlane } from '../../src/storage/data-plane';
import { SqliteMetadataStore } from '../../src/storage/metadata/metadata-store';
import { assertLeaseExclusive, objectStoreContract } from '../helpers/object-store-contract';
import { tempDir } from '../helpers/temporal';

describe('CURATOR_STORAGE', () => {
  test('s3 URLs give bucket and prefix; paths and file URLs a directory', () => {
    assert.deepEqual(parseStorageLocation('s3://curator/runs'), { kind: 's3', bucket: 'curator', prefix: 'runs' });
    assert.deepEqual(parseStorageLocation('s3://my.bucket-1/a/b/'), {
      kind: 's3',
      bucket: 'my.bucket-1',
      prefix: 'a/b',
    });
    assert.deepEqual(parseStorageLocation('s3://curator'), { kind: 's3', bucket: 'curator', prefix: '' });
    assert.deepEqual(parseStorageLocation('S3://curator/'), { kind: 's3', bucket: 'curator', prefix: '' });
    assert.deepEqual(parseStorageLocation('/var/cache/curator'), { kind: 'local', dir: '/var/cache/curator' });
    assert.deepEqual(parseStorageLocation('file:///srv/c%20d'), { kind: 'local', dir: '/srv/c d' });
  });

  test('bad values are refused with the variable named', () => {
    assert.throws(() => parseStorageLocation('gs://bucket/x'), /CURATOR_STORAGE=gs:\/\/bucket\/x: expected s3:/);
    assert.throws(() => parseStorageLocation('s3://Bad_Bucket/x'), /'Bad_Bucket' is not a valid S3 bucket name/);
    assert.throws(() => parseStorageLocation('s3:///x'), /not a valid S3 bucket name/);
    assert.throws(() => parseStorageLocation('s3://bucket/a//b'), /empty, \. or \.\. parts/);
    assert.throws(() => parseStorageLocation('s3://bucket/a/../b'), /empty, \. or \.\. parts/);
    assert.throws(() => parseStorageLocation(' '), /CURATOR_STORAGE is empty/);
  });

  test('openObjectStore: the default directory unless CURATOR_STORAGE says otherwise', async () => {
    const local = await openObjectStore('/tmp/x', {});
    assert.ok(local instanceof LocalObjectStore && local.location === '/tmp/x');
    // An S3 location is probed before use: a store that cannot be reached is an error at open, not at the first write.
    await assert.rejects(
      openObjectStore('/tmp/x', {
        CURATOR_STORAGE: 's3://curator/runs',
        AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1',
        AWS_ACCESS_KEY_ID: 'k',
        AWS_SECRET_ACCESS_KEY: 's',
      }),
      /ECONNREFUSED/
    );
  });

  test('a store that ignores If-None-Match: * is refused, and the probe leaves nothing behind', async () => {
    await probeConditionalWrites(new LocalObjectStore(tempDir('probe-ok')));
    const dir = tempDir('probe-bad');
    class Unconditional extends LocalObjectStore {
      override async putIfAbsent(key: string, body: Buffer | string): Promise<string | undefined> {
        return this.put(key, body);
      }
    }
    await assert.rejects(probeConditionalWrites(new Unconditional(dir)), /does not honour If-None-Match: \*/);
    const left: string[] = [];
    for await (const e of new LocalObjectStore(dir).list('')) left.push(e.key);
    assert.deepEqual(left, []);
  });

  test('keys that could escape the root are refused', async () => {
    for (const bad of ['', '/abs', 'a/', 'a//b', 'a/../b', './a', 'a\\b'])
      assert.throws(() => checkKey(bad), /invalid/);
    assert.equal(checkKey('run/responses/0/w.00000001.5-0123456789abcdef.jsonl').length > 0, true);
    await assert.rejects(new LocalObjectStore('/tmp').get('a.~lock'), /reserved/);
  });
});

describe('segment names', () => {
  test('carry writer, sequence, length and hash; they sort by writer, then sequence', () => {
    const body = Buffer.from('{"i":1}\n');
    const k9 = segmentKey('p', 'w-1.2.ab', 9, body);
    const k10 = segmentKey('p', 'w-1.2.ab', 10, body);
    assert.ok(k9 < k10, `${k9} sorts before ${k10}`);
    const name = parseSegmentName(k10.slice(2))!;
    assert.deepEqual({ ...name, sha256: name.sha256.length }, { writer: 'w-1.2.ab', seq: 10, bytes: 8, sha256: 16 });
    assert.ok(segmentIntact(name, body));
    assert.ok(!segmentIntact(name, body.subarray(0, 7)), 'shorter');
    assert.ok(!segmentIntact(name, Buffer.from('{"i":2}\n')), 'same length, other bytes');
    assert.equal(parseSegmentName('notes.txt'), undefined);
    assert.throws(() => segmentKey('p', 'a/b', 1, body), /invalid segment writer id/);
    assert.match(newWriterId('curate/job 1', 3), /^curate_job_1\.3\.[0-9a-f]{8}$/);
  });
});

/** A real directory store whose segment PUTs wait for the test to open a gate, or fail. */
class GatedStore extends LocalObjectStore {
  gate?: Promise<void>;
  fail?: Error;
  override async putIfAbsent(key: string, body: Buffer | string): Promise<string | undefined> {
    await this.gate;
    if (this.fail) throw this.fail;
    return super.putIfAbsent(key, body);
  }
}

const rec = (i: number): AttemptRecord => ({
  i,
  job: 'j',
  attempt: 1,
  at: new Date(i).toISOString(),
  ok: true,
  value: i,
});

describe('SegmentLogWriter', () => {
  test('an append resolves only once its segment is stored', async () => {
    const store = new GatedStore(tempDir('seg-gate'));
    let open!: () => void;
    store.gate = new Promise((r) => (open = r));
    const w = new SegmentLogWriter(store, 'b', 'w.1.x', { flushDelayMs: 0 });
    let settled = false;
    const done = w.append(rec(1)).then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(settled, false, 'not durable yet: not counted');
    assert.deepEqual(await readdir(store.root).catch(() => []), []);
    open();
    await done;
    assert.equal((await readdir(join(store.root, 'b'))).length, 1);
    await w.close();
  });

  test('records queued together share one segment; the size bound starts a new one', async () => {
    const store = new LocalObjectStore(tempDir('seg-batch'));
    const w = new SegmentLogWriter(store, 'b', 'w.1.x', { flushDelayMs: 10_000, flushBytes: 300 });
    const line = JSON.stringify(rec(1)).length + 1;
    const n = Math.ceil(300 / line); // exactly enough to pass the bound once
    await Promise.all(Array.from({ length: n }, (_, i) => w.append(rec(i))));
    const tail = w.append(rec(99));
    await w.close(); // close stores what waits for the timer
    await tail;
    assert.equal((await readdir(join(store.root, 'b'))).length, 2);
  });

  test('after a failed store, that append and every later one fail: nothing counts that is not stored', async () => {
    const store = new GatedStore(tempDir('seg-fail'));
    store.fail = new Error('store unreachable');
    const w = new SegmentLogWriter(store, 'b', 'w.1.x', { flushDelayMs: 0 });
    await assert.rejects(w.append(rec(1)), /store unreachable/);
    store.fail = undefined;
    await assert.rejects(w.append(rec(2)), /store unreachable/);
    await w.close();
    assert.deepEqual(await readdir(store.root).catch(() => []), []);
  });

  test('a PUT whose answer was lost and is retried finds its own bytes and succeeds', async () => {
    const dir = tempDir('seg-retry');
    const store = new LocalObjectStore(dir);
    const body = Buffer.from(JSON.stringify(rec(1)) + '\n');
    await store.put(segmentKey('b', 'w.1.x', 1, body), body); // the first PUT landed; its answer never came
    const w = new SegmentLogWriter(store, 'b', 'w.1.x', { flushDelayMs: 0 });
    await w.append(rec(1));
    await w.close();
    await rm(dir, { recursive: true });
  });
});

describe('LocalObjectStore', () => {
  objectStoreContract({
    open: async () => new LocalObjectStore(tempDir('objects')),
    largeUploadBytes: 3 << 20,
  });

  test('scratch files and a stale CAS lock are invisible and harmless', async () => {
    const dir = tempDir('objects-scratch');
    const store = new LocalObjectStore(dir);
    const etag = await store.put('k', 'v');
    // A process died holding the lock long ago.
    await writeFile(join(dir, 'k.~lock'), '');
    const { utimes } = await import('node:fs/promises');
    await utimes(join(dir, 'k.~lock'), new Date(0), new Date(0));
    assert.ok((await store.putIfMatch('k', 'v2', etag)) !== undefined);
    const listed: string[] = [];
    for await (const e of store.list('')) listed.push(e.key);
    assert.deepEqual(listed, ['k']);
  });
});

describe('openDataPlane', () => {
  test('with neither variable set: the cache directory, as today', async () => {
    const dir = tempDir('plane-local');
    const plane = await openDataPlane(dir, {});
    try {
      assert.ok(plane.objects instanceof LocalObjectStore);
      assert.ok(plane.metadata instanceof SqliteMetadataStore);
      const w = await plane.responses.open('r1', 3, 'job', 1);
      await w.append(rec(1));
      await w.close();
      assert.deepEqual(await readdir(join(dir, 'r1', 'responses')), ['000003.jsonl']);
      assert.equal((await plane.responses.load('r1', 3, 'j')).requests.get(1)?.success?.value, 1);
      await assertLeaseExclusive(plane.leases, 'r1', 3);
    } finally {
      await plane.close();
    }
  });
});
