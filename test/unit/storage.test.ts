import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { defineCurator, type CuratorDefinition, type Row } from '../../src/curator';
import { CacheLayout } from '../../src/storage/cache-dir';
import { DatasetError } from '../../src/errors';
import {
  hashDataset,
  INVALID_ROW_KEY,
  materializeInput,
  readShardRows,
  readInputIndex,
  storeRows,
} from '../../src/storage/dataset';
import { sha256, stableStringify } from '../../src/storage/fingerprint';
import { parseFingerprint, runFingerprint } from '../../src/requests/fingerprint';
import { resolveBaseURL } from '../../src/providers';
import { readJsonLines, readRecords, repairTornTail, writeFileAtomic, type JsonLine } from '../../src/storage/jsonl';
import { MetadataDb } from '../../src/storage/metadata-db';
import { ShardLog, ResponseLogWriter, type AttemptRecord } from '../../src/storage/response-log';

let root: string;
let counter = 0;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'curator-storage-test-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh path (or folder) inside the test's temporary directory. */
function fresh(name: string): string {
  return join(root, `${++counter}-${name}`);
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('repairTornTail', () => {
  test('a missing file needs no repair', async () => {
    assert.equal(await repairTornTail(fresh('missing.jsonl')), 0);
  });

  test('an empty file is left alone', async () => {
    const path = fresh('empty.jsonl');
    await writeFile(path, '');
    assert.equal(await repairTornTail(path), 0);
    assert.equal(await readFile(path, 'utf8'), '');
  });

  test('a file ending in a newline is left alone', async () => {
    const path = fresh('whole.jsonl');
    await writeFile(path, '{"a":1}\n{"b":2}\n');
    assert.equal(await repairTornTail(path), 0);
    assert.equal(await readFile(path, 'utf8'), '{"a":1}\n{"b":2}\n');
  });

  test('a partial last line is cut off', async () => {
    const path = fresh('torn.jsonl');
    await writeFile(path, '{"a":1}\n{"b":2}\n{"c":');
    assert.equal(await repairTornTail(path), 5);
    assert.equal(await readFile(path, 'utf8'), '{"a":1}\n{"b":2}\n');
    // Idempotent.
    assert.equal(await repairTornTail(path), 0);
  });

  test('a torn multi-byte character is cut off with its line', async () => {
    const path = fresh('torn-utf8.jsonl');
    const whole = Buffer.from('{"s":"é"}\n');
    const torn = Buffer.from('{"s":"日本').subarray(0, -1);
    await writeFile(path, Buffer.concat([whole, torn]));
    assert.equal(await repairTornTail(path), torn.length);
    assert.deepEqual(await readFile(path), whole);
  });

  test('a file with no newline at all is emptied', async () => {
    const path = fresh('no-newline.jsonl');
    await writeFile(path, '{"a":1');
    assert.equal(await repairTornTail(path), 6);
    assert.equal((await stat(path)).size, 0);
  });

  test('a torn tail longer than the read chunk (1 MiB) is found', async () => {
    const path = fresh('long-tail.jsonl');
    const tail = 'x'.repeat((1 << 20) + 12_345);
    await writeFile(path, '{"a":1}\n' + tail);
    assert.equal(await repairTornTail(path), tail.length);
    assert.equal(await readFile(path, 'utf8'), '{"a":1}\n');

    const noNewline = fresh('long-no-newline.jsonl');
    await writeFile(noNewline, 'y'.repeat(2 * (1 << 20) + 7));
    assert.equal(await repairTornTail(noNewline), 2 * (1 << 20) + 7);
    assert.equal((await stat(noNewline)).size, 0);
  });
});

describe('JSON Lines', () => {
  test('readJsonLines reports invalid lines with their 1-based line numbers', async () => {
    const path = fresh('mixed.jsonl');
    const long = '{' + 'z'.repeat(500);
    await writeFile(path, ['{"ok":1}', '', 'not json', '   ', '[1,2]', long, 'null', '{"ok":2}'].join('\n') + '\n');
    const lines: JsonLine<unknown>[] = await collect(readJsonLines(path));
    assert.deepEqual(
      lines.map((l) => [l.line, l.error === undefined ? 'ok' : 'bad']),
      [
        [1, 'ok'],
        [3, 'bad'],
        [5, 'ok'],
        [6, 'bad'],
        [7, 'ok'],
        [8, 'ok'],
      ]
    );
    assert.equal(lines[1].text, 'not json');
    assert.equal(lines[1].value, undefined);
    assert.ok(lines[1].error && lines[1].error.length > 0);
    // Long invalid lines are quoted shortened.
    assert.equal(lines[3].text, long.slice(0, 200) + '…');
    assert.equal(lines[4].value, null);
    assert.deepEqual(lines[5].value, { ok: 2 });
    // Valid lines carry no text.
    assert.equal(lines[0].text, undefined);
  });

  test('readJsonLines handles CRLF, a missing final newline and a missing file', async () => {
    const path = fresh('crlf.jsonl');
    await writeFile(path, '{"a":1}\r\n{"b":2}');
    assert.deepEqual(await collect(readJsonLines(path)), [
      { line: 1, value: { a: 1 } },
      { line: 2, value: { b: 2 } },
    ]);
    assert.deepEqual(await collect(readJsonLines(fresh('nope.jsonl'))), []);
  });

  test('readJsonLines starts at a byte offset', async () => {
    const path = fresh('offset.jsonl');
    const first = '{"s":"ünïcødé"}\n';
    await writeFile(path, first + '{"n":2}\n');
    const lines = await collect(readJsonLines(path, Buffer.byteLength(first)));
    assert.deepEqual(lines, [{ line: 1, value: { n: 2 } }]);
  });

  test('readRecords skips invalid lines', async () => {
    const path = fresh('records.jsonl');
    await writeFile(path, '{"i":1}\n{"i":\n{"i":3}\n{"i":4');
    assert.deepEqual(await collect(readRecords(path)), [{ i: 1 }, { i: 3 }]);
  });

  test('writeFileAtomic creates folders and leaves no temporary file', async () => {
    const dir = fresh('atomic');
    const path = join(dir, 'sub', 'file.json');
    await writeFileAtomic(path, 'one');
    await writeFileAtomic(path, Buffer.from('two'));
    assert.equal(await readFile(path, 'utf8'), 'two');
    assert.deepEqual(await readdir(join(dir, 'sub')), ['file.json']);
  });
});

function attempt(
  overrides: Partial<AttemptRecord> & Pick<AttemptRecord, 'i' | 'job' | 'attempt' | 'ok'>
): AttemptRecord {
  return { at: '2025-01-01T00:00:00.000Z', ...overrides };
}

describe('ShardLog', () => {
  const JOB = 'wf@run-2';
  const OLD = 'wf@run-1';
  const rateLimited = { type: 'RateLimited' as const, message: '429', status: 429, retryable: true, retryAfterMs: 100 };
  const serverError = { type: 'ServerError' as const, message: '500', status: 500, retryable: true };
  const badJson = { type: 'InvalidJson' as const, message: 'not JSON', retryable: true };

  const records: AttemptRecord[] = [
    // Request 0: paid for by an earlier job.
    attempt({ i: 0, job: OLD, attempt: 1, ok: false, error: serverError }),
    attempt({ i: 0, job: OLD, attempt: 2, ok: true, value: 'cached', usage: { input: 10, output: 5 } }),
    // Request 1: this job, two errors then a success.
    attempt({ i: 1, job: JOB, attempt: 1, ok: false, error: rateLimited }),
    attempt({ i: 1, job: JOB, attempt: 2, ok: false, error: badJson, usage: { input: 7, output: 8 } }),
    attempt({ i: 1, job: JOB, attempt: 3, ok: true, value: { label: 'yes' }, usage: { input: 3, output: 4 } }),
    // Request 2: failed in the old job, failing in this one.
    attempt({ i: 2, job: OLD, attempt: 1, ok: false, error: serverError, usage: { input: 100, output: 100 } }),
    attempt({ i: 2, job: JOB, attempt: 1, ok: false, error: rateLimited }),
    // Request 3: succeeded in the old job and again in this one: the first success is kept.
    attempt({ i: 3, job: OLD, attempt: 1, ok: true, value: 'first' }),
    attempt({ i: 3, job: JOB, attempt: 1, ok: true, value: 'second', usage: { input: 1, output: 1 } }),
  ];

  function check(log: ShardLog) {
    const r0 = log.state(0);
    assert.equal(r0.success?.value, 'cached');
    assert.equal(r0.success?.job, OLD);
    assert.equal(r0.attempts, 0);
    assert.deepEqual(r0.errors, []);
    assert.deepEqual(r0.tokens, { input: 0, output: 0 });

    const r1 = log.state(1);
    assert.deepEqual(r1.success?.value, { label: 'yes' });
    assert.equal(r1.attempts, 3);
    assert.deepEqual(r1.errors, [rateLimited, badJson]);
    assert.deepEqual(r1.tokens, { input: 10, output: 12 });

    const r2 = log.state(2);
    assert.equal(r2.success, undefined);
    assert.equal(r2.attempts, 1);
    assert.deepEqual(r2.errors, [rateLimited]);
    assert.deepEqual(r2.tokens, { input: 0, output: 0 });

    const r3 = log.state(3);
    assert.equal(r3.success?.value, 'first');
    assert.equal(r3.attempts, 1);
    assert.deepEqual(r3.tokens, { input: 1, output: 1 });

    assert.deepEqual([...log.requests.keys()].sort(), [0, 1, 2, 3]);
  }

  test('apply: success from any job, attempts, errors and tokens from the current job only', () => {
    const log = new ShardLog();
    for (const r of records) log.apply(r, JOB);
    check(log);
  });

  test('apply: attempts is the highest attempt seen, whatever the order', () => {
    const log = new ShardLog();
    log.apply(attempt({ i: 5, job: JOB, attempt: 3, ok: false, error: serverError }), JOB);
    log.apply(attempt({ i: 5, job: JOB, attempt: 2, ok: false, error: rateLimited }), JOB);
    assert.equal(log.state(5).attempts, 3);
    assert.equal(log.state(5).errors.length, 2);
  });

  test('state() of an unknown request is empty', () => {
    const log = new ShardLog();
    assert.deepEqual(log.state(42), { attempts: 0, errors: [], tokens: { input: 0, output: 0 } });
  });

  test('load replays the file, skipping a torn last line', async () => {
    const path = fresh('responses.jsonl');
    await writeFile(path, records.map((r) => JSON.stringify(r)).join('\n') + '\n{"i":2,"job":"wf@run-2","attem');
    check(await ShardLog.load(path, JOB));
    // Seen from the old job, request 2 has its own attempt and tokens.
    const old = await ShardLog.load(path, OLD);
    assert.equal(old.state(2).attempts, 1);
    assert.deepEqual(old.state(2).tokens, { input: 100, output: 100 });
    assert.equal(old.state(1).attempts, 0);
    assert.deepEqual(old.state(1).success?.value, { label: 'yes' });
  });

  test('load of a missing file is an empty log', async () => {
    const log = await ShardLog.load(fresh('none.jsonl'), JOB);
    assert.equal(log.requests.size, 0);
  });
});

describe('ResponseLogWriter', () => {
  test('500 concurrent appends never interleave and keep their order', async () => {
    const path = join(fresh('writer'), 'responses', '000000.jsonl');
    const writer = await ResponseLogWriter.open(path);
    const big = 'ä'.repeat(20_000);
    await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        writer.append(attempt({ i, job: 'j', attempt: 1, ok: i % 2 === 0, value: i % 7 === 0 ? big : `v${i}` }))
      )
    );
    await writer.close();
    const lines = await collect(readJsonLines<AttemptRecord>(path));
    assert.equal(lines.length, 500);
    assert.ok(lines.every((l) => l.error === undefined));
    assert.deepEqual(
      lines.map((l) => l.value?.i),
      Array.from({ length: 500 }, (_, i) => i)
    );
    assert.equal(lines[7].value?.value, big);
    const text = await readFile(path, 'utf8');
    assert.equal(text.split('\n').length, 501);
    assert.ok(text.endsWith('\n'));
  });

  test('each append resolves only once its own line is in the file', async () => {
    const path = fresh('writer-durable.jsonl');
    const writer = await ResponseLogWriter.open(path);
    const seen: number[][] = [];
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        writer.append(attempt({ i, job: 'j', attempt: 1, ok: true })).then(() => {
          const onDisk = readFileSync(path, 'utf8')
            .trim()
            .split('\n')
            .map((l) => (JSON.parse(l) as AttemptRecord).i);
          seen.push([i, onDisk.length, onDisk.indexOf(i)]);
        })
      )
    );
    await writer.close();
    assert.equal(seen.length, 200);
    for (const [i, lines, at] of seen) assert.ok(at === i && lines > i, `record ${i} was not on disk when it resolved`);
  });

  test('the appends of one turn share one write, made at its end, and each waits for it', async () => {
    const path = fresh('writer-coalesce.jsonl');
    const writer = await ResponseLogWriter.open(path);
    const writes = spyOnWrites(writer);
    const resolved: number[] = [];
    const append = (i: number) =>
      writer.append(attempt({ i, job: 'j', attempt: 1, ok: true })).then(() => resolved.push(i));
    const turn = [0, 1, 2, 3, 4].map(append);
    await Promise.resolve();
    assert.deepEqual(writes, [], 'nothing is written before the turn ends');
    assert.deepEqual(resolved, [], 'nothing resolves before its write is done');
    await Promise.all(turn);
    const next = append(5);
    await next;
    await writer.close();
    assert.deepEqual(writes, [5, 1], 'one write for the five lines of the first turn, one for the next');
    assert.deepEqual(resolved, [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(
      (await collect(readRecords<AttemptRecord>(path))).map((r) => r.i),
      [0, 1, 2, 3, 4, 5]
    );
  });

  test('a short write is finished: every line is whole in the file', async () => {
    const path = fresh('writer-short.jsonl');
    const writer = await ResponseLogWriter.open(path);
    const inner = writerInternals(writer);
    const write = inner.write;
    // The system takes at most 7 bytes per call.
    inner.write = (bytes, at) => write(bytes.subarray(0, Math.min(bytes.length, at + 7)), at);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        writer.append(attempt({ i, job: 'j', attempt: 1, ok: true, value: 'ä'.repeat(i) }))
      )
    );
    await writer.close();
    const lines = await collect(readJsonLines<AttemptRecord>(path));
    assert.deepEqual(
      lines.map((l) => [l.value?.i, l.value?.value, l.error]),
      Array.from({ length: 20 }, (_, i) => [i, 'ä'.repeat(i), undefined])
    );
  });

  test('after a failed write every append fails, and none is left waiting', async () => {
    const path = fresh('writer-fail.jsonl');
    const writer = await ResponseLogWriter.open(path);
    writerInternals(writer).write = () => {
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    };
    const line = (i: number) => attempt({ i, job: 'j', attempt: 1, ok: true });
    const first = writer.append(line(0));
    const sameTurn = writer.append(line(1));
    await assert.rejects(first, /ENOSPC/);
    await assert.rejects(sameTurn, /ENOSPC/);
    await assert.rejects(writer.append(line(2)), /ENOSPC/);
    await writer.close();
    assert.equal(readFileSync(path, 'utf8'), '');
  });

  test('a write that takes nothing fails instead of trying forever', async () => {
    const path = fresh('writer-zero.jsonl');
    const writer = await ResponseLogWriter.open(path);
    writerInternals(writer).write = () => 0;
    await assert.rejects(writer.append(attempt({ i: 0, job: 'j', attempt: 1, ok: true })), /could not write/);
    await writer.close();
  });

  test('open repairs a torn tail before appending', async () => {
    const path = fresh('writer-torn.jsonl');
    await writeFile(path, JSON.stringify(attempt({ i: 0, job: 'j', attempt: 1, ok: true })) + '\n{"i":1,"jo');
    const writer = await ResponseLogWriter.open(path);
    await writer.append(attempt({ i: 1, job: 'j', attempt: 1, ok: true, value: 'x' }));
    await writer.close();
    const lines = await collect(readJsonLines<AttemptRecord>(path));
    assert.deepEqual(
      lines.map((l) => [l.line, l.value?.i, l.error]),
      [
        [1, 0, undefined],
        [2, 1, undefined],
      ]
    );
    const log = await ShardLog.load(path, 'j');
    assert.equal(log.state(1).success?.value, 'x');
  });

  test('a reopened writer appends after what is there', async () => {
    const path = fresh('writer-reopen.jsonl');
    for (let round = 0; round < 3; round++) {
      const writer = await ResponseLogWriter.open(path);
      await writer.append(attempt({ i: round, job: 'j', attempt: 1, ok: true }));
      await writer.close();
    }
    assert.deepEqual(
      (await collect(readRecords<AttemptRecord>(path))).map((r) => r.i),
      [0, 1, 2]
    );
  });
});

/** The writer's system write, which a test may replace. */
function writerInternals(writer: ResponseLogWriter): { write: (bytes: Buffer, at: number) => number } {
  return writer as unknown as { write: (bytes: Buffer, at: number) => number };
}

/** Counts the lines of each write the writer makes (the writes still reach the file). */
function spyOnWrites(writer: ResponseLogWriter): number[] {
  const inner = writerInternals(writer);
  const write = inner.write;
  const writes: number[] = [];
  inner.write = (bytes, at) => {
    writes.push(bytes.subarray(at).toString('utf8').split('\n').length - 1);
    return write(bytes, at);
  };
  return writes;
}

function curator(overrides: Partial<CuratorDefinition<any, any, any>> = {}) {
  return defineCurator<any, any, any>({
    name: 'fp',
    model: 'gpt-4o-mini',
    prompt: (row: Row) => `Label ${String(row.text)}`,
    ...overrides,
  });
}

describe('fingerprints', () => {
  const env = {};
  const DATASET = 'a'.repeat(64);

  test('sha256 is hex SHA-256', () => {
    assert.equal(sha256('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(sha256(Buffer.from('abc')), sha256('abc'));
  });

  test('stableStringify ignores key order at every depth, keeps array order', () => {
    const a = { b: 1, a: { y: [{ q: 1, p: 2 }, 3], x: null }, c: 'z' };
    const b = { c: 'z', a: { x: null, y: [{ p: 2, q: 1 }, 3] }, b: 1 };
    assert.equal(stableStringify(a), stableStringify(b));
    assert.equal(stableStringify(a), '{"a":{"x":null,"y":[{"p":2,"q":1},3]},"b":1,"c":"z"}');
    assert.notEqual(stableStringify([1, 2]), stableStringify([2, 1]));
    assert.notEqual(stableStringify({ a: 1 }), stableStringify({ a: '1' }));
    assert.equal(stableStringify('s'), '"s"');
    assert.equal(stableStringify(null), 'null');
  });

  test('resolveBaseURL: setting, then environment, then the public API; trailing slashes dropped', () => {
    assert.equal(resolveBaseURL(curator(), {}), 'https://api.openai.com/v1');
    assert.equal(resolveBaseURL(curator({ model: 'claude-sonnet-4' }), {}), 'https://api.anthropic.com');
    assert.equal(resolveBaseURL(curator(), { OPENAI_BASE_URL: 'http://127.0.0.1:9/v1/' }), 'http://127.0.0.1:9/v1');
    assert.equal(resolveBaseURL(curator(), { ANTHROPIC_BASE_URL: 'http://x' }), 'https://api.openai.com/v1');
    assert.equal(
      resolveBaseURL(curator({ model: 'claude-x' }), { ANTHROPIC_BASE_URL: 'http://a//', OPENAI_BASE_URL: 'http://o' }),
      'http://a'
    );
    assert.equal(
      resolveBaseURL(curator({ backend: { baseURL: 'http://local:1/v1/' } }), { OPENAI_BASE_URL: 'http://env' }),
      'http://local:1/v1'
    );
  });

  test('runFingerprint is stable and 32 hex characters', () => {
    const fp = runFingerprint(curator(), DATASET, env);
    assert.match(fp, /^[0-9a-f]{32}$/);
    assert.equal(runFingerprint(curator(), DATASET, env), fp);
  });

  test('runFingerprint changes with what is sent', () => {
    const base = runFingerprint(curator(), DATASET, env);
    const variants: [string, string][] = [
      ['dataset', runFingerprint(curator(), 'b'.repeat(64), env)],
      ['prompt source', runFingerprint(curator({ prompt: (row: Row) => `Label: ${String(row.text)}` }), DATASET, env)],
      ['model', runFingerprint(curator({ model: 'gpt-4o' }), DATASET, env)],
      ['provider', runFingerprint(curator({ provider: 'anthropic' }), DATASET, env)],
      ['zod schema', runFingerprint(curator({ responseFormat: z.object({ label: z.string() }) }), DATASET, env)],
      ['JSON schema', runFingerprint(curator({ responseFormat: { type: 'object' } }), DATASET, env)],
      ['generation params', runFingerprint(curator({ generationParams: { temperature: 0.2 } }), DATASET, env)],
      ['backend baseURL', runFingerprint(curator({ backend: { baseURL: 'http://127.0.0.1:8080/v1' } }), DATASET, env)],
      ['env baseURL', runFingerprint(curator(), DATASET, { OPENAI_BASE_URL: 'http://127.0.0.1:9090/v1' })],
      ['systemPrompt', runFingerprint(curator({ systemPrompt: 'Be brief.' }), DATASET, env)],
    ];
    for (const [what, fp] of variants) assert.notEqual(fp, base, what);
    assert.equal(new Set(variants.map(([, fp]) => fp)).size, variants.length, 'all variants differ from each other');

    const schemaA = runFingerprint(curator({ responseFormat: z.object({ label: z.string() }) }), DATASET, env);
    const schemaB = runFingerprint(curator({ responseFormat: z.object({ label: z.number() }) }), DATASET, env);
    assert.notEqual(schemaA, schemaB);
    // The same base URL from the setting or the environment is the same endpoint.
    assert.equal(
      runFingerprint(curator({ backend: { baseURL: 'http://127.0.0.1:8080/v1' } }), DATASET, env),
      runFingerprint(curator(), DATASET, { OPENAI_BASE_URL: 'http://127.0.0.1:8080/v1' })
    );
    const t1 = runFingerprint(curator({ generationParams: { temperature: 0.2 } }), DATASET, env);
    const t2 = runFingerprint(curator({ generationParams: { temperature: 0.3 } }), DATASET, env);
    assert.notEqual(t1, t2);
  });

  test('runFingerprint ignores parse, the curator name, engine settings and param key order', () => {
    const base = runFingerprint(curator({ generationParams: { temperature: 0, max_tokens: 50 } }), DATASET, env);
    const same = [
      curator({ generationParams: { max_tokens: 50, temperature: 0 } }),
      curator({ generationParams: { temperature: 0, max_tokens: 50 }, name: 'other-name' }),
      curator({ generationParams: { temperature: 0, max_tokens: 50 }, parse: (_row, r: string) => ({ r }) }),
      curator({
        generationParams: { temperature: 0, max_tokens: 50 },
        backend: { maxRetries: 1, batchSize: 3, maxConcurrentRequests: 2, requestTimeoutMs: 5 },
      }),
      curator({ generationParams: { temperature: 0, max_tokens: 50, top_p: undefined } }),
    ];
    for (const c of same) assert.equal(runFingerprint(c, DATASET, env), base, c.name);
    // A trailing slash on the base URL is the same endpoint.
    assert.equal(
      runFingerprint(curator(), DATASET, { OPENAI_BASE_URL: 'https://api.openai.com/v1/' }),
      runFingerprint(curator(), DATASET, env)
    );
  });

  test('a null generation param (dropped from the request) does not change the fingerprint', () => {
    assert.equal(
      runFingerprint(curator({ generationParams: { temperature: 0, top_p: null } }), DATASET, env),
      runFingerprint(curator({ generationParams: { temperature: 0 } }), DATASET, env)
    );
  });

  test('parseFingerprint changes with parse only', () => {
    const none = parseFingerprint(curator());
    assert.match(none, /^[0-9a-f]{16}$/);
    assert.equal(parseFingerprint(curator({ name: 'x', model: 'y', systemPrompt: 'z' })), none);
    const p1 = parseFingerprint(curator({ parse: (row: Row, r: string) => ({ ...row, r }) }));
    const p2 = parseFingerprint(curator({ parse: (row: Row, r: string) => ({ ...row, answer: r }) }));
    assert.notEqual(p1, none);
    assert.notEqual(p2, none);
    assert.notEqual(p1, p2);
    assert.equal(parseFingerprint(curator({ parse: (row: Row, r: string) => ({ ...row, r }) })), p1);
  });
});

describe('datasets', () => {
  async function setup(lines: string[] | string) {
    const cacheRoot = fresh('cache');
    const cache = new CacheLayout(cacheRoot);
    const source = join(cacheRoot, 'source.jsonl');
    await writeFileAtomic(source, typeof lines === 'string' ? lines : lines.join('\n') + '\n');
    const datasetHash = await hashDataset({ kind: 'jsonl', path: source }, cache);
    return { cache, source, datasetHash, run: cache.run('run' + counter) };
  }

  const sourceLines = [
    '{"id":0,"text":"zero"}',
    '{"id":1,"text":"ünïcødé ✓ 日本"}',
    '{"id":2,"text":"two"',
    '',
    '[1,2,3]',
    '{"id":5,"nested":{"a":[1,{"b":null}]}}',
    'null',
    '"just a string"',
    '{"id":8}',
    '{"id":9,"text":"emoji 🎉"}',
    '{"id":10}',
  ];

  function expectedRows(path: string): Row[] {
    return [
      { id: 0, text: 'zero' },
      { id: 1, text: 'ünïcødé ✓ 日本' },
      { [INVALID_ROW_KEY]: 'line 3' },
      { [INVALID_ROW_KEY]: 'line 5' },
      { id: 5, nested: { a: [1, { b: null }] } },
      { [INVALID_ROW_KEY]: 'line 7' },
      { [INVALID_ROW_KEY]: 'line 8' },
      { id: 8 },
      { id: 9, text: 'emoji 🎉' },
      { id: 10 },
    ].map((row) => {
      const marker = row[INVALID_ROW_KEY];
      return typeof marker === 'string' ? { [INVALID_ROW_KEY]: `${marker} of ${path}` } : row;
    });
  }

  function assertRows(actual: Row[], expected: Row[]) {
    assert.equal(actual.length, expected.length);
    actual.forEach((row, i) => {
      const marker = expected[i][INVALID_ROW_KEY];
      if (typeof marker === 'string') {
        assert.deepEqual(Object.keys(row), [INVALID_ROW_KEY], `row ${i}`);
        assert.ok(String(row[INVALID_ROW_KEY]).startsWith(marker + ' '), `row ${i}: ${String(row[INVALID_ROW_KEY])}`);
      } else {
        assert.deepEqual(row, expected[i], `row ${i}`);
      }
    });
  }

  test('hashDataset hashes the file bytes; a missing file is a DatasetError', async () => {
    const { cache, source, datasetHash } = await setup(['{"a":1}']);
    assert.equal(
      datasetHash,
      createHash('sha256')
        .update(await readFile(source))
        .digest('hex')
    );
    await assert.rejects(hashDataset({ kind: 'jsonl', path: join(root, 'missing.jsonl') }, cache), DatasetError);
    await assert.rejects(hashDataset({ kind: 'run', runHash: 'nope', parseHash: 'nope' }, cache), DatasetError);
  });

  test('materializeInput keeps every line as a row; bad lines become invalid rows naming the line', async () => {
    const { cache, source, datasetHash, run } = await setup(sourceLines);
    const index = await materializeInput({ kind: 'jsonl', path: source }, cache, run, datasetHash, 3);
    assert.deepEqual(
      { ...index, inputSha256: undefined, source: undefined, sourceStat: undefined },
      {
        rows: 10,
        batchSize: 3,
        offsets: index.offsets,
        datasetHash,
        inputSha256: undefined,
        source: undefined,
        sourceStat: undefined,
      }
    );
    assert.equal(index.offsets.length, 4);
    assert.equal(index.offsets[0], 0);
    assert.deepEqual(await readInputIndex(run), index);

    const expected = expectedRows(source);
    const all: Row[] = [];
    for (let b = 0; b < index.offsets.length; b++) {
      const rows = await readShardRows(run, index, b);
      assertRows(rows, expected.slice(b * 3, b * 3 + 3));
      all.push(...rows);
    }
    assertRows(all, expected);
    // The last batch is partial.
    assert.equal((await readShardRows(run, index, 3)).length, 1);
    // Past the end: nothing.
    assert.deepEqual(await readShardRows(run, index, 4), []);
    // Invalid rows say why.
    assert.match(String(all[2][INVALID_ROW_KEY]), /not valid JSON/);
    assert.match(String(all[3][INVALID_ROW_KEY]), /not a JSON object: \[1,2,3\]/);
    assert.match(String(all[5][INVALID_ROW_KEY]), /not a JSON object: null/);
    assert.match(String(all[6][INVALID_ROW_KEY]), /not a JSON object: "just a string"/);
  });

  test('batch offsets are byte offsets of each batch first line, for every batch size', async () => {
    const { cache, source, datasetHash } = await setup(sourceLines);
    const expected = expectedRows(source);
    for (const batchSize of [1, 2, 3, 4, 7, 9, 10, 11, 1000]) {
      const run = cache.run(`bs-${batchSize}`);
      const index = await materializeInput({ kind: 'jsonl', path: source }, cache, run, datasetHash, batchSize);
      assert.equal(index.rows, 10);
      assert.equal(index.offsets.length, Math.ceil(10 / batchSize), `batchSize=${batchSize}`);
      const bytes = await readFile(run.input);
      const lines = bytes.toString('utf8').split('\n');
      for (let b = 0; b < index.offsets.length; b++) {
        // The offset points at the start of the line of the batch's first row.
        const lineStart = Buffer.byteLength(lines.slice(0, b * batchSize).join('\n') + (b === 0 ? '' : '\n'));
        assert.equal(index.offsets[b], lineStart, `batchSize=${batchSize} batch=${b}`);
        const rows = await readShardRows(run, index, b);
        assertRows(rows, expected.slice(b * batchSize, (b + 1) * batchSize));
      }
    }
  });

  test('an empty file gives 0 rows and 0 batches', async () => {
    for (const content of ['', '\n\n']) {
      const { cache, source, datasetHash, run } = await setup(content);
      const index = await materializeInput({ kind: 'jsonl', path: source }, cache, run, datasetHash, 5);
      assert.deepEqual(
        { rows: index.rows, batchSize: index.batchSize, offsets: index.offsets, datasetHash: index.datasetHash },
        { rows: 0, batchSize: 5, offsets: [], datasetHash }
      );
      assert.deepEqual(await readShardRows(run, index, 0), []);
      assert.equal(await readFile(run.input, 'utf8'), '');
    }
  });

  test('an existing index is reused, with its batch size, without copying again', async () => {
    const { cache, source, datasetHash, run } = await setup(sourceLines);
    const first = await materializeInput({ kind: 'jsonl', path: source }, cache, run, datasetHash, 4);
    const inputBefore = await stat(run.input);
    // Even if the source changed meanwhile, the run folder's copy is what the run uses.
    await writeFile(source, '{"other":1}\n');
    const second = await materializeInput({ kind: 'jsonl', path: source }, cache, run, 'ignored', 2);
    assert.deepEqual(second, first);
    assert.equal(second.batchSize, 4);
    assert.equal((await stat(run.input)).mtimeMs, inputBefore.mtimeMs);
    assert.equal((await readShardRows(run, second, 0)).length, 4);
    // No temporary file is left behind.
    assert.deepEqual((await readdir(run.dir)).sort(), ['input.index.json', 'input.jsonl']);
  });

  test('storeRows is content-addressed', async () => {
    const cache = new CacheLayout(fresh('store'));
    const rows = [{ a: 1 }, 'a prompt', { b: [1, 2] }];
    const path1 = await storeRows(rows, cache);
    const path2 = await storeRows([{ a: 1 }, 'a prompt', { b: [1, 2] }], cache);
    assert.equal(path1, path2);
    const text = await readFile(path1, 'utf8');
    assert.equal(text, '{"a":1}\n{"prompt":"a prompt"}\n{"b":[1,2]}\n');
    assert.equal(path1, cache.inputDataset(sha256(text)));
    // A string row is the same as { prompt }.
    assert.equal(await storeRows([{ a: 1 }, { prompt: 'a prompt' }, { b: [1, 2] }], cache), path1);
    // Different rows, different file.
    const other = await storeRows([{ a: 2 }], cache);
    assert.notEqual(other, path1);
    assert.equal(await readFile(other, 'utf8'), '{"a":2}\n');
    assert.deepEqual((await readdir(join(cache.root, 'datasets'))).length, 2);
  });

  test('storeRows of no rows is an empty file', async () => {
    const cache = new CacheLayout(fresh('store-empty'));
    const path = await storeRows([], cache);
    assert.equal(await readFile(path, 'utf8'), '');
    assert.equal(path, cache.inputDataset(sha256('')));
  });

  test('storeRows rejects rows that are neither objects nor strings, naming the row', async () => {
    const cache = new CacheLayout(fresh('store-bad'));
    for (const [bad, index] of [
      [[{ a: 1 }, 5], 1],
      [[null], 0],
      [[{ a: 1 }, { b: 2 }, [1, 2]], 2],
      [[undefined], 0],
    ] as [unknown[], number][]) {
      await assert.rejects(storeRows(bad, cache), (err: unknown) => {
        assert.ok(err instanceof DatasetError);
        assert.match(err.message, new RegExp(`row ${index} `));
        return true;
      });
    }
  });

  test('stored rows materialize back to the same rows', async () => {
    const cache = new CacheLayout(fresh('store-roundtrip'));
    const rows = Array.from({ length: 23 }, (_, i) => (i % 5 === 0 ? `prompt ${i}` : { i, s: 'é'.repeat(i) }));
    const path = await storeRows(rows, cache);
    const ref = { kind: 'jsonl' as const, path };
    const datasetHash = await hashDataset(ref, cache);
    const run = cache.run('roundtrip');
    const index = await materializeInput(ref, cache, run, datasetHash, 5);
    const back: Row[] = [];
    for (let b = 0; b < index.offsets.length; b++) back.push(...(await readShardRows(run, index, b)));
    assert.deepEqual(
      back,
      rows.map((r) => (typeof r === 'string' ? { prompt: r } : r))
    );
  });
});

describe('MetadataDb', () => {
  const identity = {
    run_hash: 'run-a',
    parse_hash: 'parse-1',
    curator_name: 'labels',
    dataset_hash: 'd'.repeat(64),
    prompt_func: '(row) => row.text',
    model_name: 'gpt-4o-mini',
    provider: 'openai',
    base_url: 'https://api.openai.com/v1',
    response_format: 'text',
    workflow_id: 'wf-1',
    total_requests: 10,
  };

  test('startRun / finishRun / getRun / listRuns / events round trip', async () => {
    const path = join(fresh('meta'), 'sub', 'metadata.db');
    const db = new MetadataDb(path);
    try {
      assert.equal(db.getRun('run-a'), undefined);
      assert.deepEqual(db.events('run-a'), []);

      db.startRun(identity);
      const started = db.getRun('run-a');
      assert.ok(started);
      assert.equal(started.status, 'running');
      assert.equal(started.curator_name, 'labels');
      assert.equal(started.dataset_hash, 'd'.repeat(64));
      assert.equal(started.prompt_func, '(row) => row.text');
      assert.equal(started.model_name, 'gpt-4o-mini');
      assert.equal(started.provider, 'openai');
      assert.equal(started.base_url, 'https://api.openai.com/v1');
      assert.equal(started.response_format, 'text');
      assert.equal(started.workflow_id, 'wf-1');
      assert.equal(started.total_requests, 10);
      assert.equal(started.succeeded_requests, 0);
      assert.equal(started.batch_mode, 0);
      assert.equal(started.total_cost_milli_dollars, null);
      assert.equal(started.dataset_path, null);
      assert.equal(started.created_time, started.last_edited_time);
      assert.ok(!Number.isNaN(Date.parse(started.created_time)));

      await sleep(5);
      db.startRun({ ...identity, parse_hash: 'parse-2', workflow_id: 'wf-2', total_requests: 12 });
      const restarted = db.getRun('run-a');
      assert.ok(restarted);
      assert.equal(restarted.created_time, started.created_time, 'created_time is kept');
      assert.ok(restarted.last_edited_time > started.last_edited_time);
      assert.equal(restarted.parse_hash, 'parse-2');
      assert.equal(restarted.workflow_id, 'wf-2');
      assert.equal(restarted.total_requests, 12);
      assert.equal(restarted.status, 'running');

      await sleep(5);
      db.finishRun('run-a', {
        status: 'succeeded',
        parse_hash: 'parse-2',
        workflow_id: 'wf-2',
        total_requests: 12,
        succeeded_requests: 11,
        failed_requests: 1,
        cached_requests: 4,
        total_prompt_tokens: 1234,
        total_completion_tokens: 567,
        output_rows: 20,
        dataset_path: '/cache/run-a/parse-2.arrow',
        dataset_sha256: 'f'.repeat(64),
        failed_requests_path: '/cache/run-a/parse-2.failed_requests.jsonl',
      });
      const finished = db.getRun('run-a');
      assert.ok(finished);
      assert.equal(finished.status, 'succeeded');
      assert.equal(finished.succeeded_requests, 11);
      assert.equal(finished.failed_requests, 1);
      assert.equal(finished.cached_requests, 4);
      assert.equal(finished.total_prompt_tokens, 1234);
      assert.equal(finished.total_completion_tokens, 567);
      assert.equal(finished.output_rows, 20);
      assert.equal(finished.dataset_path, '/cache/run-a/parse-2.arrow');
      assert.equal(finished.dataset_sha256, 'f'.repeat(64));
      assert.equal(finished.failed_requests_path, '/cache/run-a/parse-2.failed_requests.jsonl');
      assert.equal(finished.created_time, started.created_time);
      assert.ok(finished.last_edited_time > restarted.last_edited_time);
      // finishRun does not touch the identity columns.
      assert.equal(finished.curator_name, 'labels');

      db.event('run-a', 'cache-hit', null);
      const events = db.events('run-a');
      assert.deepEqual(
        events.map((e) => [e.event, e.workflow_id, e.detail === null ? null : JSON.parse(e.detail)]),
        [
          ['started', 'wf-1', { parse_hash: 'parse-1' }],
          ['started', 'wf-2', { parse_hash: 'parse-2' }],
          ['succeeded', 'wf-2', { dataset_sha256: 'f'.repeat(64) }],
          ['cache-hit', null, null],
        ]
      );
      for (let i = 1; i < events.length; i++) assert.ok(events[i].at >= events[i - 1].at);

      await sleep(5);
      db.startRun({ ...identity, run_hash: 'run-b', parse_hash: null, workflow_id: null });
      assert.equal(db.getRun('run-b')?.parse_hash, null);
      assert.deepEqual(
        db.listRuns().map((r) => r.run_hash),
        ['run-b', 'run-a']
      );
      assert.deepEqual(
        db.listRuns(1).map((r) => r.run_hash),
        ['run-b']
      );
      assert.deepEqual(db.events('run-b').length, 1);
    } finally {
      db.close();
    }

    // Everything is on disk: a second connection sees it.
    const again = new MetadataDb(path);
    try {
      assert.equal(again.getRun('run-a')?.status, 'succeeded');
      assert.equal(again.events('run-a').length, 4);
      assert.equal(again.listRuns().length, 2);
    } finally {
      again.close();
    }
  });

  test('finishRun of an unknown run records the event only', () => {
    const db = new MetadataDb(join(fresh('meta-unknown'), 'metadata.db'));
    try {
      db.finishRun('ghost', {
        status: 'failed',
        parse_hash: 'p',
        workflow_id: 'wf',
        total_requests: 0,
        succeeded_requests: 0,
        failed_requests: 0,
        cached_requests: 0,
        total_prompt_tokens: 0,
        total_completion_tokens: 0,
        output_rows: 0,
        dataset_path: null,
        dataset_sha256: null,
        failed_requests_path: null,
      });
      assert.equal(db.getRun('ghost'), undefined);
      assert.deepEqual(
        db.events('ghost').map((e) => e.event),
        ['failed']
      );
    } finally {
      db.close();
    }
  });
});
