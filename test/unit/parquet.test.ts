/**
 * Parquet export: every type the Arrow writer infers survives a round trip through Parquet, read back with
 * parquet-wasm's own reader and apache-arrow, and the export is atomic.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Field,
  Int64,
  makeBuilder,
  RecordBatch,
  RecordBatchReader,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  Utf8,
} from 'apache-arrow';
import * as pq from 'parquet-wasm';
import { type JsonRow, readArrowRows, writeArrowFile } from '../../src/storage/arrow';
import { writeParquetFromArrow } from '../../src/storage/parquet';
import { exportRun } from '../../src/cli/inspect';
import type { RunRecord } from '../../src/storage/metadata-db';

let dir: string;
let counter = 0;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'curator-parquet-'));
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const tmpFile = (ext: string): string => join(dir, `t${counter++}.${ext}`);

async function readAll(path: string): Promise<JsonRow[]> {
  const rows: JsonRow[] = [];
  for await (const row of readArrowRows(path)) rows.push(row);
  return rows;
}

/** The Parquet file read back the way a JS user would, as an Arrow stream file so the same decoder compares rows. */
function parquetToArrow(parquetPath: string): string {
  const arrowPath = tmpFile('arrow');
  writeFileSync(arrowPath, pq.readParquet(readFileSync(parquetPath)).intoIPCStream());
  return arrowPath;
}

async function columnTypes(arrowPath: string): Promise<Record<string, string>> {
  // A reader rather than tableFromIPC: the latter drops the schema of a stream with no record batches.
  const reader = await RecordBatchReader.from(readFileSync(arrowPath));
  await reader.open();
  return Object.fromEntries(reader.schema.fields.map((f) => [f.name, String(f.type)]));
}

async function parquetMetadata(parquetPath: string): Promise<pq.ParquetMetaData> {
  const file = await pq.ParquetFile.fromFile(new Blob([readFileSync(parquetPath)]));
  return file.metadata();
}

const mixedRows: JsonRow[] = [
  {
    id: 1,
    name: 'alpha',
    score: 0.5,
    ok: true,
    note: null,
    never: null,
    tags: ['a', 'b'],
    empty: [],
    meta: { source: 'web', votes: 3, nested: { deep: [1.5, 2] } },
    items: [{ k: 'x', v: 1 }],
    big: 2n ** 60n,
    mixed: 'text',
    unicode: 'naïve ☃ 🚀',
  },
  {
    id: -2,
    name: '',
    score: 3,
    ok: false,
    note: 'late',
    never: undefined,
    tags: null,
    empty: [],
    meta: null,
    items: [],
    mixed: 7,
  },
  {
    id: null,
    name: null,
    score: null,
    ok: null,
    tags: [],
    empty: null,
    meta: { source: null },
    items: [{ k: 'y' }, null],
    mixed: { a: 1 },
  },
];

describe('writeParquetFromArrow', () => {
  test('keeps every column type and every value, nulls, nested lists and structs included', async () => {
    const arrowPath = tmpFile('arrow');
    const parquetPath = tmpFile('parquet');
    const written = await writeArrowFile(arrowPath, () => mixedRows);

    const result = await writeParquetFromArrow(arrowPath, parquetPath);
    assert.deepEqual({ path: result.path, rows: result.rows }, { path: parquetPath, rows: 3 });
    assert.equal(result.bytes, readFileSync(parquetPath).byteLength);

    const back = parquetToArrow(parquetPath);
    const expectedTypes = Object.fromEntries(written.columns.map((c) => [c.name, c.type]));
    assert.deepEqual(await columnTypes(back), expectedTypes);
    // Pin the mapping too, so a change in arrow-schema.ts that Parquet cannot carry shows up here.
    assert.deepEqual(expectedTypes, {
      id: 'Int64',
      name: 'Utf8',
      score: 'Float64',
      ok: 'Bool',
      note: 'Utf8',
      never: 'Null',
      tags: 'List<Utf8>',
      empty: 'List<Null>',
      meta: 'Struct<{source:Utf8, votes:Int64, nested:Struct<{deep:List<Float64>}>}>',
      items: 'List<Struct<{k:Utf8, v:Int64}>>',
      big: 'Int64',
      mixed: 'Utf8',
      unicode: 'Utf8',
    });
    assert.deepEqual(await readAll(back), await readAll(arrowPath));
    const rows = await readAll(back);
    assert.equal(rows[0].big, 2n ** 60n, 'int64 beyond 2^53 is exact');
    assert.deepEqual(rows[2].items, [{ k: 'y', v: null }, null]);
    assert.equal(rows[1].mixed, '7');
  });

  test('streams several batches into row groups of the configured size, in order', async () => {
    const arrowPath = tmpFile('arrow');
    const parquetPath = tmpFile('parquet');
    const source = Array.from({ length: 25 }, (_, i) => ({ i, text: `row ${i}`, even: i % 2 === 0 }));
    await writeArrowFile(arrowPath, () => source, { batchRows: 7 });

    const result = await writeParquetFromArrow(arrowPath, parquetPath, { rowGroupRows: 10 });
    assert.equal(result.rows, 25);
    const metadata = await parquetMetadata(parquetPath);
    assert.deepEqual(
      metadata.rowGroups().map((g) => g.numRows()),
      [10, 10, 5]
    );
    assert.equal(metadata.rowGroup(0).column(0).compression(), pq.Compression.ZSTD);
    assert.deepEqual(await readAll(parquetToArrow(parquetPath)), source);
  });

  test('snappy on request', async () => {
    const arrowPath = tmpFile('arrow');
    const parquetPath = tmpFile('parquet');
    await writeArrowFile(arrowPath, () => [{ a: 1 }]);
    await writeParquetFromArrow(arrowPath, parquetPath, { compression: 'snappy' });
    assert.equal((await parquetMetadata(parquetPath)).rowGroup(0).column(0).compression(), pq.Compression.SNAPPY);
  });

  test('an empty dataset gives a valid Parquet file with no rows', async () => {
    const arrowPath = tmpFile('arrow');
    const parquetPath = tmpFile('parquet');
    await writeArrowFile(arrowPath, () => []);
    const result = await writeParquetFromArrow(arrowPath, parquetPath);
    assert.equal(result.rows, 0);
    assert.equal(pq.readParquet(readFileSync(parquetPath)).numBatches, 0);
    assert.deepEqual(await readAll(parquetToArrow(parquetPath)), []);
    assert.equal((await parquetMetadata(parquetPath)).fileMetadata().numRows(), 0);
  });

  test('zero rows with columns (a foreign Arrow file) keeps the schema', async () => {
    const arrowPath = tmpFile('arrow');
    const parquetPath = tmpFile('parquet');
    const schema = new Schema([new Field('id', new Int64(), true), new Field('text', new Utf8(), true)]);
    const empty = new RecordBatch(
      schema,
      makeBuilder({ type: new Struct(schema.fields), nullValues: [null, undefined] }).flush()
    );
    writeFileSync(arrowPath, RecordBatchStreamWriter.writeAll([empty]).toUint8Array(true));
    assert.equal((await writeParquetFromArrow(arrowPath, parquetPath)).rows, 0);
    assert.deepEqual(await columnTypes(parquetToArrow(parquetPath)), { id: 'Int64', text: 'Utf8' });
  });

  test('a broken Arrow file fails with its reason and leaves neither a temporary file nor a changed output', async () => {
    const arrowPath = tmpFile('arrow');
    const parquetPath = tmpFile('parquet');
    await writeArrowFile(arrowPath, () => Array.from({ length: 100 }, (_, i) => ({ i })), { batchRows: 10 });
    const bytes = readFileSync(arrowPath);
    writeFileSync(arrowPath, bytes.subarray(0, Math.floor(bytes.length / 2)));
    writeFileSync(parquetPath, 'previous export');

    await assert.rejects(
      writeParquetFromArrow(arrowPath, parquetPath),
      /Parquet export of .* failed: Expected to read/
    );
    assert.equal(readFileSync(parquetPath, 'utf8'), 'previous export');
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.endsWith('.tmp')),
      []
    );

    await assert.rejects(writeParquetFromArrow(join(dir, 'missing.arrow'), tmpFile('parquet')), /ENOENT/);
  });

  test('bad options are rejected before anything is written', async () => {
    const arrowPath = tmpFile('arrow');
    await writeArrowFile(arrowPath, () => [{ a: 1 }]);
    const before = readdirSync(dir).length;
    await assert.rejects(writeParquetFromArrow(arrowPath, tmpFile('parquet'), { rowGroupRows: 0 }), /rowGroupRows/);
    await assert.rejects(
      writeParquetFromArrow(arrowPath, tmpFile('parquet'), { compression: 'gzip' as 'zstd' }),
      /compression/
    );
    assert.equal(readdirSync(dir).length, before);
  });
});

describe('exportRun', () => {
  const run = (datasetPath: string, outputRows: number): RunRecord =>
    ({ run_hash: 'abc', status: 'completed', dataset_path: datasetPath, output_rows: outputRows }) as RunRecord;

  test("format 'parquet' writes Parquet and returns the row count", async () => {
    const arrowPath = tmpFile('arrow');
    const parquetPath = tmpFile('parquet');
    await writeArrowFile(arrowPath, () => mixedRows);
    assert.equal(await exportRun(run(arrowPath, 3), 'parquet', parquetPath), 3);
    assert.deepEqual(await readAll(parquetToArrow(parquetPath)), await readAll(arrowPath));
  });

  test('an unknown format names the three that exist', async () => {
    await assert.rejects(exportRun(run(tmpFile('arrow'), 0), 'csv', tmpFile('csv')), /use jsonl, parquet or arrow/);
  });
});
