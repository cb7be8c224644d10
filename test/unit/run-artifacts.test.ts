/**
 * The run artifacts between a worker's cache directory and its data plane's store, with a directory as the store
 * (`CURATOR_STORAGE=/some/dir` behaves as a bucket would: the cache directory is then only a cache). The same calls
 * on versitygw run in test/integration/jobs-on-backends.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CacheLayout } from '../../src/storage/cache-dir';
import { materializeInput, readInputIndex, readShardRows } from '../../src/storage/dataset';
import { LocalObjectStore } from '../../src/storage/object-store/local-store';
import { RunArtifacts } from '../../src/storage/run-artifacts';
import { tempDir } from '../helpers/temporal';

function setUp() {
  const storeDir = tempDir('artifacts-store');
  const machine = (name: string) => {
    const cache = new CacheLayout(tempDir(`artifacts-${name}`));
    return { cache, artifacts: new RunArtifacts(cache, new LocalObjectStore(storeDir), true) };
  };
  return { storeDir, machine };
}

describe('run artifacts with the store elsewhere', () => {
  test("one machine's copy of the dataset is another's, and a wiped or torn copy is fetched again", async () => {
    const { machine } = setUp();
    const a = machine('a');
    const b = machine('b');
    const source = join(tempDir('artifacts-src'), 'rows.jsonl');
    writeFileSync(source, Array.from({ length: 7 }, (_, id) => JSON.stringify({ id }) + '\n').join(''));
    const runA = a.cache.run('r1');
    assert.equal(await a.artifacts.pullInput(runA), false, 'nothing planned yet');
    await materializeInput({ kind: 'jsonl', path: source }, a.cache, runA, 'h', 3);
    await a.artifacts.pushInput(runA);

    const runB = b.cache.run('r1');
    assert.equal(await b.artifacts.pullInput(runB), true);
    const index = await readInputIndex(runB);
    assert.deepEqual(await readShardRows(runB, index, 2), [{ id: 6 }]);

    // Torn on B's disk: the store's copy replaces it.
    writeFileSync(runB.input, '{"id":0}\n{"id"');
    assert.equal(await b.artifacts.pullInput(runB), true);
    assert.deepEqual(await readShardRows(runB, index, 1), [{ id: 3 }, { id: 4 }, { id: 5 }]);
    rmSync(b.cache.root, { recursive: true, force: true });
    assert.equal(await b.artifacts.pullInput(runB), true);
    assert.deepEqual(await readShardRows(runB, await readInputIndex(runB), 0), [{ id: 0 }, { id: 1 }, { id: 2 }]);
  });

  test('publish, fetch (fresh takes the store over the disk), has, and small texts', async () => {
    const { storeDir, machine } = setUp();
    const a = machine('a');
    const b = machine('b');
    const path = (m: typeof a) => m.cache.run('r2').parsed('p', 0);
    await a.artifacts.writeText(path(a), 'first\n');
    assert.equal(await b.artifacts.has(path(b)), true);
    assert.equal(a.artifacts.key(path(a)), 'r2/parsed/p/000000.jsonl');
    assert.equal(a.artifacts.uri(path(a)), `${storeDir}/r2/parsed/p/000000.jsonl`);
    assert.equal(await b.artifacts.fetch(path(b)), true);
    assert.equal(readFileSync(path(b), 'utf8'), 'first\n');

    await a.artifacts.writeText(path(a), 'second\n');
    assert.equal(await b.artifacts.fetch(path(b)), true);
    assert.equal(readFileSync(path(b), 'utf8'), 'first\n', 'a present file is kept unless fresh');
    await b.artifacts.fetch(path(b), { fresh: true });
    assert.equal(readFileSync(path(b), 'utf8'), 'second\n');
    assert.equal(await b.artifacts.readText(path(b)), 'second\n');

    // Published with ifAbsent: the first copy stays.
    const req = (m: typeof a) => m.cache.run('r2').requests(0);
    mkdirSync(dirname(req(a)), { recursive: true });
    mkdirSync(dirname(req(b)), { recursive: true });
    writeFileSync(req(a), 'A\n');
    writeFileSync(req(b), 'B\n');
    assert.match((await a.artifacts.publish(req(a), { ifAbsent: true }))!, /^[0-9a-f]{64}$/);
    assert.equal(await b.artifacts.publish(req(b), { ifAbsent: true }), undefined);
    assert.equal(await b.artifacts.readText(req(b)), 'A\n');
    const missing = b.cache.run('r2').result('none');
    assert.equal(await b.artifacts.has(missing), false);
    assert.equal(await b.artifacts.fetch(missing), false);
    assert.equal(existsSync(missing), false);
  });

  test('with the embedded default every call leaves the files as they are', async () => {
    const cache = new CacheLayout(tempDir('artifacts-local'));
    const artifacts = new RunArtifacts(cache, new LocalObjectStore(cache.root), false);
    const path = cache.run('r3').parsed('p', 1);
    assert.equal(await artifacts.publish(path), undefined);
    assert.equal(await artifacts.has(path), false);
    await artifacts.writeText(path, 'x\n');
    assert.equal(await artifacts.has(path), true);
    assert.equal(artifacts.uri(path), path);
    assert.equal(await artifacts.readText(path), 'x\n');
  });
});
