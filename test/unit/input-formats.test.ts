/**
 * Input formats besides JSON Lines, on real files written by pyarrow and `datasets` (test/fixtures/input-formats,
 * see make_fixtures.py there): detection, rows and their values, content hashes, lazy reading, and a clear
 * `DatasetError` naming the file for a corrupt, truncated or unsupported one.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parquetMetadata } from 'hyparquet';
import { resolveDataset } from '../../src/client';
import { CacheLayout } from '../../src/storage/cache-dir';
import { materializeInput } from '../../src/storage/dataset';
import { DatasetError } from '../../src/errors';
import { detectInputKind, hashInput, readColumnarRows, type InputKind } from '../../src/storage/input-sources';
import { tempDir } from '../helpers/temporal';

const FIXTURES = join(__dirname, '..', 'fixtures', 'input-formats');
const PARQUET = join(FIXTURES, 'rows.parquet');
const SAVED = join(FIXTURES, 'hf-saved');
const CACHE = join(FIXTURES, 'hf-cache');

/** The rows make_fixtures.py writes, as JSON input gets them: big integers as exact decimal strings. */
const ROWS = [
  { id: 1, text: 'alpha', score: 0.5, ok: true, big: '9007199254740993', tags: ['a', 'b'], meta: { a: 1, b: 'x' } },
  { id: 2, text: 'beta', score: 1.25, ok: false, big: '-9007199254740993', tags: [], meta: { a: 2, b: null } },
  { id: 3, text: null, score: null, ok: null, big: 0, tags: null, meta: null },
  { id: 4, text: 'delta', score: -3, ok: true, big: null, tags: ['c'], meta: { a: 4, b: 'z' } },
  {
    id: 5,
    text: 'épsilon ✓',
    score: 1e300,
    ok: false,
    big: '9223372036854775807',
    tags: ['d', 'e', 'f'],
    meta: { a: 5, b: 'w' },
  },
];
const BLOBS = ['AAE=', 'aGk=', null, '', '/w=='];

async function rows(kind: Exclude<InputKind, 'jsonl'>, path: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const row of readColumnarRows(kind, path)) out.push(row);
  return out;
}

/** The DatasetError a read fails with. */
async function readError(path: string): Promise<DatasetError> {
  const err = await (async () => {
    const kind = await detectInputKind(path);
    await rows(kind as Exclude<InputKind, 'jsonl'>, path);
  })().then(
    () => assert.fail(`${path} was read without an error`),
    (e: unknown) => e
  );
  assert.ok(err instanceof DatasetError, String(err));
  return err;
}

let dir: string;
before(() => {
  dir = tempDir('input-formats');
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('detection', () => {
  test('by magic bytes first, then extension, then folder layout', async () => {
    assert.equal(await detectInputKind(PARQUET), 'parquet');
    assert.equal(await detectInputKind(SAVED), 'hf-dataset');
    assert.equal(await detectInputKind(CACHE), 'hf-dataset');
    // A `datasets` .arrow file is an Arrow IPC stream.
    assert.equal(await detectInputKind(join(CACHE, 'json-train.arrow')), 'arrow');
    // The bytes decide, whatever the name says.
    const misnamed = join(dir, 'data.jsonl');
    cpSync(PARQUET, misnamed);
    assert.equal(await detectInputKind(misnamed), 'parquet');
    const text = join(dir, 'rows.txt');
    writeFileSync(text, '{"a": 1}\n');
    assert.equal(await detectInputKind(text), 'jsonl');
    await assert.rejects(detectInputKind(join(dir, 'missing.parquet')), /dataset not found: .*missing\.parquet/);
  });

  test('folders that are not one dataset are refused with what to give instead', async () => {
    const dict = join(dir, 'dict');
    mkdirSync(join(dict, 'train'), { recursive: true });
    mkdirSync(join(dict, 'test'));
    writeFileSync(join(dict, 'dataset_dict.json'), '{"splits": ["train", "test"]}');
    await assert.rejects(detectInputKind(dict), (err: Error) => {
      assert.ok(err instanceof DatasetError);
      assert.match(err.message, /is a Hugging Face DatasetDict; give one split's folder/);
      assert.ok(err.message.includes(join(dict, 'train')));
      return true;
    });
    const splits = join(dir, 'splits');
    mkdirSync(splits);
    cpSync(join(CACHE, 'dataset_info.json'), join(splits, 'dataset_info.json'));
    cpSync(join(CACHE, 'json-train.arrow'), join(splits, 'json-train.arrow'));
    cpSync(join(CACHE, 'json-train.arrow'), join(splits, 'json-test.arrow'));
    await assert.rejects(detectInputKind(splits), /holds several splits \(test, train\)/);
    const plain = join(dir, 'plain');
    mkdirSync(plain);
    writeFileSync(join(plain, 'notes.txt'), 'x');
    await assert.rejects(detectInputKind(plain), /is a folder but not a Hugging Face datasets folder/);
  });
});

describe('Parquet', () => {
  test('every row of every row group, values as JSON input has them (bytes as base64)', async () => {
    assert.equal(parquetMetadata(readFileSync(PARQUET).buffer).row_groups.length, 3);
    assert.deepEqual(
      await rows('parquet', PARQUET),
      ROWS.map((row, i) => ({ ...row, blob: BLOBS[i] }))
    );
  });

  test('row groups are read as they are consumed, not up front', async () => {
    const copy = join(dir, 'lazy.parquet');
    cpSync(PARQUET, copy);
    const bytes = readFileSync(copy);
    const last = parquetMetadata(bytes.buffer).row_groups[2]!;
    const start = Math.min(...last.columns.map((c) => Number(c.meta_data!.data_page_offset)));
    const end = Math.max(
      ...last.columns.map((c) => Number(c.meta_data!.data_page_offset) + Number(c.meta_data!.total_compressed_size))
    );
    const seen: unknown[] = [];
    await assert.rejects(
      (async () => {
        for await (const row of readColumnarRows('parquet', copy)) {
          seen.push(row);
          // Once the first row group is out, the last one's pages are overwritten: a reader that had read them
          // already would not notice.
          if (seen.length === 1)
            writeFileSync(
              copy,
              Buffer.concat([bytes.subarray(0, start), Buffer.alloc(end - start, 0x55), bytes.subarray(end)])
            );
        }
      })(),
      (err: Error) => err instanceof DatasetError && err.message.includes(copy)
    );
    assert.equal(seen.length, 4);
  });

  test('a truncated file and a corrupt file are DatasetErrors naming the file', async () => {
    const bytes = readFileSync(PARQUET);
    const truncated = join(dir, 'truncated.parquet');
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    let err = await readError(truncated);
    assert.match(err.message, new RegExp(`^${truncated} cannot be read as a Parquet file: `));
    const corrupt = join(dir, 'corrupt.parquet');
    const mangled = Buffer.from(bytes);
    mangled.fill(0x55, 200, 600);
    writeFileSync(corrupt, mangled);
    err = await readError(corrupt);
    assert.match(err.message, new RegExp(`^${corrupt} cannot be read as a Parquet file: `));
  });
});

describe('Hugging Face datasets', () => {
  test('a save_to_disk folder: its shards in state.json order', async () => {
    assert.deepEqual(await rows('hf-dataset', SAVED), ROWS);
  });

  test('a cache folder of one split, and one of its .arrow files', async () => {
    const expected = Array.from({ length: 7 }, (_, i) => ({ id: i, prompt: `row ${i}` }));
    assert.deepEqual(await rows('hf-dataset', CACHE), expected);
    assert.deepEqual(await rows('arrow', join(CACHE, 'json-train.arrow')), expected);
  });

  test("a folder's hash covers its data files' bytes, not its name or state.json", async () => {
    const copy = join(dir, 'saved-copy');
    cpSync(SAVED, copy, { recursive: true });
    const hash = await hashInput('hf-dataset', SAVED);
    assert.match(hash, /^[0-9a-f]{64}$/);
    const state = join(copy, 'state.json');
    writeFileSync(state, readFileSync(state, 'utf8').replace('"_fingerprint": "', '"_fingerprint": "x'));
    assert.equal(await hashInput('hf-dataset', copy), hash);
    const shard = join(copy, 'data-00001-of-00002.arrow');
    const bytes = readFileSync(shard);
    bytes[bytes.length - 20] ^= 1;
    writeFileSync(shard, bytes);
    assert.notEqual(await hashInput('hf-dataset', copy), hash);
  });

  test('a truncated shard and a corrupt one are DatasetErrors naming the shard', async () => {
    const truncatedDir = join(dir, 'saved-truncated');
    cpSync(SAVED, truncatedDir, { recursive: true });
    const shard = join(truncatedDir, 'data-00001-of-00002.arrow');
    const bytes = readFileSync(shard);
    // Cut exactly before the end-of-stream marker: every record batch is whole, the file is still short.
    writeFileSync(shard, bytes.subarray(0, bytes.length - 8));
    let err = await readError(truncatedDir);
    assert.match(
      err.message,
      new RegExp(`^${shard} cannot be read as a Hugging Face datasets Arrow file: .*truncated`)
    );
    const corruptDir = join(dir, 'saved-corrupt');
    cpSync(SAVED, corruptDir, { recursive: true });
    const first = join(corruptDir, 'data-00000-of-00002.arrow');
    const mangled = readFileSync(first);
    mangled.fill(0x33, 8, 120); // the schema message
    writeFileSync(first, mangled);
    err = await readError(corruptDir);
    assert.match(err.message, new RegExp(`^${first} cannot be read as a Hugging Face datasets Arrow file: `));
    const badState = join(dir, 'saved-bad-state');
    cpSync(SAVED, badState, { recursive: true });
    writeFileSync(join(badState, 'state.json'), '{"_data_files": 3}');
    await assert.rejects(detectInputKind(badState), /state\.json does not list the dataset's files/);
  });
});

describe('into a run', () => {
  test('resolveDataset and materializeInput take a Parquet file and a datasets folder like a JSONL file', async () => {
    for (const [path, kind] of [
      [PARQUET, 'parquet'],
      [SAVED, 'hf-dataset'],
    ] as const) {
      const { ref, hash } = await resolveDataset(path);
      assert.deepEqual(ref, { kind, path });
      assert.equal(hash, await hashInput(kind, path));
      const cache = new CacheLayout(join(dir, `cache-${kind}`));
      const run = cache.run(`run-${kind}`);
      const index = await materializeInput(ref, cache, run, hash, 2);
      assert.equal(index.rows, 5);
      assert.deepEqual(index.offsets.length, 3);
      assert.deepEqual(index.source, ref);
      const lines = (await readFile(run.input, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { big: unknown });
      // The big integers went through as their exact decimal strings.
      assert.deepEqual(
        lines.map((l) => l.big),
        ROWS.map((r) => r.big)
      );
    }
  });
});
