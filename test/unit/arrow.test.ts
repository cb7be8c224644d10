import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordBatchReader, tableFromIPC } from 'apache-arrow';
import { type JsonRow, readArrowRows, SchemaInferrer, sha256File, writeArrowFile } from '../../src/storage/arrow';

let dir: string;
let counter = 0;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'curator-arrow-'));
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function tmpFile(): string {
  return join(dir, `t${counter++}.arrow`);
}

async function readAll(path: string): Promise<JsonRow[]> {
  const rows: JsonRow[] = [];
  for await (const row of readArrowRows(path)) rows.push(row);
  return rows;
}

function columnTypes(path: string): Record<string, string> {
  const table = tableFromIPC(readFileSync(path));
  return Object.fromEntries(table.schema.fields.map((f) => [f.name, String(f.type)]));
}

const mixedRows: JsonRow[] = [
  {
    id: 1,
    name: 'alpha',
    score: 0.5,
    ok: true,
    note: null,
    meta: { source: 'web', depth: 2 },
    tags: ['a', 'b'],
    turns: [
      { role: 'user', text: 'hi' },
      { role: 'assistant', text: 'hello' },
    ],
  },
  { id: 2, name: 'beta', score: 1.25, ok: false, meta: { source: 'book' }, tags: [], turns: [] },
  { id: 3, name: null, score: null, ok: null, note: 'late', meta: null, tags: null, turns: [{ role: 'user' }] },
  { id: -4, extra: 'only here', tags: ['c', null] },
];

test('round-trips mixed rows; missing keys come back as null', async () => {
  const path = tmpFile();
  const result = await writeArrowFile(path, () => mixedRows);

  assert.equal(result.rows, 4);
  assert.deepEqual(result.columns, [
    { name: 'id', type: 'Int64' },
    { name: 'name', type: 'Utf8' },
    { name: 'score', type: 'Float64' },
    { name: 'ok', type: 'Bool' },
    { name: 'note', type: 'Utf8' },
    { name: 'meta', type: 'Struct<{source:Utf8, depth:Int64}>' },
    { name: 'tags', type: 'List<Utf8>' },
    { name: 'turns', type: 'List<Struct<{role:Utf8, text:Utf8}>>' },
    { name: 'extra', type: 'Utf8' },
  ]);

  const base = { id: null, name: null, score: null, ok: null, note: null, meta: null, tags: null, turns: null };
  assert.deepEqual(await readAll(path), [
    { ...base, ...mixedRows[0], extra: null },
    { ...base, ...mixedRows[1], meta: { source: 'book', depth: null }, extra: null },
    { ...base, ...mixedRows[2], turns: [{ role: 'user', text: null }], extra: null },
    { ...base, ...mixedRows[3] },
  ]);
});

test('the file is an IPC stream that tableFromIPC reads with the inferred types', async () => {
  const path = tmpFile();
  await writeArrowFile(path, () => mixedRows);
  const table = tableFromIPC(readFileSync(path));
  assert.equal(table.numRows, 4);
  assert.deepEqual(columnTypes(path), {
    id: 'Int64',
    name: 'Utf8',
    score: 'Float64',
    ok: 'Bool',
    note: 'Utf8',
    meta: 'Struct<{source:Utf8, depth:Int64}>',
    tags: 'List<Utf8>',
    turns: 'List<Struct<{role:Utf8, text:Utf8}>>',
    extra: 'Utf8',
  });
  assert.equal(table.getChild('id')!.get(3), -4n);
  assert.equal(table.getChild('name')!.get(1), 'beta');
  // Stream format starts with a continuation marker, not the file format's ARROW1 magic.
  assert.deepEqual([...readFileSync(path).subarray(0, 4)], [0xff, 0xff, 0xff, 0xff]);
});

test('integers are promoted to Float64 when any value in the column is fractional', async () => {
  const path = tmpFile();
  const rows = [
    { x: 1, nested: { y: 2 } },
    { x: 2.5, nested: { y: 3 } },
    { x: 3, nested: { y: 0.25 } },
  ];
  await writeArrowFile(path, () => rows);
  assert.deepEqual(columnTypes(path), { x: 'Float64', nested: 'Struct<{y:Float64}>' });
  assert.deepEqual(await readAll(path), rows);
});

test('conflicting kinds become Utf8 with non-strings JSON-encoded', async () => {
  const path = tmpFile();
  const rows: JsonRow[] = [
    { v: 'plain', s: { k: 1 }, l: [1, 'two'] },
    { v: { b: 1 }, s: { k: 'x' }, l: [true] },
    { v: [1, 2], s: null, l: [{ z: 1 }] },
    { v: 3 },
    { v: true },
    { v: null },
  ];
  await writeArrowFile(path, () => rows);
  assert.deepEqual(columnTypes(path), { v: 'Utf8', s: 'Struct<{k:Utf8}>', l: 'List<Utf8>' });
  assert.deepEqual(await readAll(path), [
    { v: 'plain', s: { k: '1' }, l: ['1', 'two'] },
    { v: '{"b":1}', s: { k: 'x' }, l: ['true'] },
    { v: '[1,2]', s: null, l: ['{"z":1}'] },
    { v: '3', s: null, l: null },
    { v: 'true', s: null, l: null },
    { v: null, s: null, l: null },
  ]);
});

test('all-null columns and empty-only lists use the Null type', async () => {
  const path = tmpFile();
  const rows: JsonRow[] = [
    { a: null, e: [], o: {}, n: { z: null } },
    { e: [], o: {}, n: { z: null } },
  ];
  await writeArrowFile(path, () => rows);
  assert.deepEqual(columnTypes(path), { a: 'Null', e: 'List<Null>', o: 'Struct<{}>', n: 'Struct<{z:Null}>' });
  assert.deepEqual(await readAll(path), [
    { a: null, e: [], o: {}, n: { z: null } },
    { a: null, e: [], o: {}, n: { z: null } },
  ]);
});

test('Int64 values read back as numbers when safe and as bigint otherwise', async () => {
  const path = tmpFile();
  const rows: JsonRow[] = [{ n: 2 ** 60 }, { n: 9007199254740991 }, { n: 12345678901234567n }, { n: -1 }];
  await writeArrowFile(path, () => rows);
  assert.deepEqual(columnTypes(path), { n: 'Int64' });
  assert.deepEqual(await readAll(path), [
    { n: 2n ** 60n },
    { n: 9007199254740991 },
    { n: 12345678901234567n },
    { n: -1 },
  ]);
});

test('integers beyond int64 range fall back to Float64', async () => {
  const path = tmpFile();
  await writeArrowFile(path, () => [{ n: 1 }, { n: 1e20 }]);
  assert.deepEqual(columnTypes(path), { n: 'Float64' });
  assert.deepEqual(await readAll(path), [{ n: 1 }, { n: 1e20 }]);
});

test('zero rows still produce a valid stream with an empty schema', async () => {
  const path = tmpFile();
  const result = await writeArrowFile(path, () => []);
  assert.equal(result.rows, 0);
  assert.deepEqual(result.columns, []);
  assert.equal(result.bytes, statSync(path).size);
  const table = tableFromIPC(readFileSync(path));
  assert.equal(table.numRows, 0);
  assert.equal(table.schema.fields.length, 0);
  assert.deepEqual(await readAll(path), []);
});

test('rows without keys keep their count', async () => {
  const path = tmpFile();
  const result = await writeArrowFile(path, () => [{}, {}, {}]);
  assert.equal(result.rows, 3);
  assert.equal(tableFromIPC(readFileSync(path)).numRows, 3);
  assert.deepEqual(await readAll(path), [{}, {}, {}]);
});

test('writes one record batch per batchRows rows and keeps row order', async () => {
  const path = tmpFile();
  const rows = Array.from({ length: 10 }, (_, i) => ({ i, s: `row ${i}`, l: [i, i + 1] }));
  const result = await writeArrowFile(path, () => rows, { batchRows: 3 });
  assert.equal(result.rows, 10);

  const reader = RecordBatchReader.from(readFileSync(path));
  assert.deepEqual(
    [...reader].map((b) => b.numRows),
    [3, 3, 3, 1]
  );
  assert.equal(tableFromIPC(readFileSync(path)).numRows, 10);
  assert.deepEqual(await readAll(path), rows);
});

test('accepts an async rows factory and calls it once per pass', async () => {
  const path = tmpFile();
  let calls = 0;
  async function* generate(): AsyncGenerator<JsonRow> {
    calls++;
    for (let i = 0; i < 25; i++) yield { i, even: i % 2 === 0 };
  }
  const result = await writeArrowFile(path, generate, { batchRows: 7 });
  assert.equal(calls, 2);
  assert.equal(result.rows, 25);
  assert.deepEqual((await readAll(path))[24], { i: 24, even: true });
});

test('sha256 and bytes describe the final file, and the .tmp file is gone', async () => {
  const path = tmpFile();
  const result = await writeArrowFile(path, () => mixedRows, { batchRows: 2 });
  const bytes = readFileSync(path);
  assert.equal(result.path, path);
  assert.equal(result.bytes, bytes.byteLength);
  assert.equal(result.sha256, createHash('sha256').update(bytes).digest('hex'));
  assert.equal(await sha256File(path), result.sha256);
  assert.equal(existsSync(`${path}.tmp`), false);
});

test('replaces an existing file at the destination', async () => {
  const path = tmpFile();
  await writeArrowFile(path, () => [{ a: 1 }]);
  await writeArrowFile(path, () => [{ b: 'x' }, { b: 'y' }]);
  assert.deepEqual(await readAll(path), [{ b: 'x' }, { b: 'y' }]);
});

test('fails without leaving files when the second pass differs from the first', async () => {
  const path = tmpFile();
  let pass = 0;
  const shifting = () => (++pass === 1 ? [{ a: 1 }, { a: 2 }] : [{ a: 1 }, { a: 'two' }]);
  await assert.rejects(writeArrowFile(path, shifting), /Row 1 .*a is string.*Int64/);

  let call = 0;
  const shrinking = () => (++call === 1 ? [{ a: 1 }, { a: 2 }] : [{ a: 1 }]);
  await assert.rejects(writeArrowFile(path, shrinking), /2 rows on the first pass and 1 on the second/);

  let n = 0;
  const growing = () => (++n === 1 ? [{ a: 1 }] : [{ a: 1, b: 2 }]);
  await assert.rejects(writeArrowFile(path, growing), /Key b was not seen/);

  assert.equal(existsSync(path), false);
  assert.equal(existsSync(`${path}.tmp`), false);
});

test('rejects rows that are not plain objects and invalid batchRows', async () => {
  await assert.rejects(
    writeArrowFile(tmpFile(), () => [[1, 2] as unknown as JsonRow]),
    TypeError
  );
  await assert.rejects(
    writeArrowFile(tmpFile(), () => [{ a: 1 }], { batchRows: 0 }),
    RangeError
  );
});

test('keys that collide with Object.prototype names survive the round trip', async () => {
  const path = tmpFile();
  const rows = [JSON.parse('{"__proto__": {"x": 1}, "constructor": true, "toString": "s"}') as JsonRow, { id: 1 }];
  await writeArrowFile(path, () => rows);
  const [first, second] = await readAll(path);
  assert.equal(Object.getPrototypeOf(first), Object.prototype);
  assert.deepEqual(Object.getOwnPropertyDescriptor(first, '__proto__')?.value, { x: 1 });
  assert.equal(first.constructor, true);
  assert.equal(first.toString, 's');
  assert.equal(Object.getOwnPropertyDescriptor(second, '__proto__')?.value, null);
  assert.equal(second.constructor, null);
  assert.equal(second.id, 1);
});

test('stopping a read early does not hang', async () => {
  const path = tmpFile();
  await writeArrowFile(path, () => Array.from({ length: 100 }, (_, i) => ({ i })), { batchRows: 10 });
  const seen: unknown[] = [];
  for await (const row of readArrowRows(path)) {
    seen.push(row.i);
    if (seen.length === 15) break;
  }
  assert.equal(seen.length, 15);
});

test('reading a missing or empty file fails instead of yielding zero rows', async () => {
  await assert.rejects(readAll(join(dir, 'missing.arrow')), { code: 'ENOENT' });
  const empty = tmpFile();
  writeFileSync(empty, '');
  await assert.rejects(readAll(empty), /not an Arrow IPC stream/);
});

test('SchemaInferrer orders columns by first appearance and counts rows', () => {
  const inferrer = new SchemaInferrer();
  inferrer.observe({ b: 1 });
  inferrer.observe({ a: 'x', b: 2, c: { y: [1.5] } });
  inferrer.observe({ c: { x: true } });
  assert.equal(inferrer.rows, 3);
  assert.deepEqual(
    inferrer.schema().fields.map((f) => `${f.name}:${f.type}:${f.nullable}`),
    ['b:Int64:true', 'a:Utf8:true', 'c:Struct<{y:List<Float64>, x:Bool}>:true']
  );
});
