/**
 * Python users can read what we write: a real job (dev server, worker, simulator) produces a dataset with strings,
 * integers, floats, booleans, nulls, lists and a struct; it is exported as Parquet through `exportRun` (what
 * `curator export --format parquet` calls); then pyarrow (`ipc.open_stream`, `parquet.read_table`) and Hugging Face
 * `datasets` (`Dataset.from_file`, `load_dataset('parquet')`) read both files in the pinned venv of
 * scripts/setup-python.sh, and must see the rows and types that TypeScript sees.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { createWorker, curate, defineCurator } from '../../src';
import { exportRun, findRun, openMetadata } from '../../src/cli/inspect';
import { type JsonRow, readArrowRows } from '../../src/storage/arrow';
import { runSetupScript } from '../helpers/setup-script';
import { startTestStack, type TestStack } from '../helpers/stack';
import { tempDir } from '../helpers/temporal';

const ROOT = join(__dirname, '..', '..');

const Review = z.object({
  label: z.enum(['positive', 'negative', 'neutral']),
  stars: z.number().int().min(1).max(5),
  confidence: z.number().min(0).max(1),
  flagged: z.boolean(),
  keywords: z.array(z.string()),
  comment: z.string().nullable(),
});
type Item = { id: number; text: string };

const reviews = defineCurator({
  name: 'python-read-reviews',
  model: 'gpt-4o-mini',
  prompt: (row: Item) => `Review ${row.id}: ${row.text}`,
  responseFormat: Review,
  parse: (row: Item, r: z.infer<typeof Review>) => ({
    id: row.id,
    text: row.text,
    label: r.label,
    stars: r.stars,
    confidence: r.confidence,
    flagged: r.flagged,
    keywords: r.keywords,
    // The simulator always fills nullable fields, so the nulls come from here: some rows, and one column always.
    comment: row.id % 3 === 0 ? null : r.comment,
    reviewer: null,
    meta: { length: row.text.length, ratio: row.id / 4, lang: row.id % 2 === 0 ? 'en' : null },
  }),
});

type Reading = { schema: Record<string, string>; features?: Record<string, string>; rows: JsonRow[] };
type PythonOutput = {
  versions: { pyarrow: string; datasets: string };
  pyarrow_ipc: Reading;
  pyarrow_parquet: Reading;
  datasets_from_file: Reading;
  datasets_load_parquet: Reading | null;
};

// pyarrow's names for the Arrow types that arrow-schema.ts infers for the rows above.
const EXPECTED_TYPES = {
  id: 'int64',
  text: 'string',
  label: 'string',
  stars: 'int64',
  confidence: 'double',
  flagged: 'bool',
  keywords: 'list<item: string>',
  comment: 'string',
  reviewer: 'null',
  meta: 'struct<length: int64, ratio: double, lang: string>',
};

describe('Python reads our Arrow and Parquet output', () => {
  let python: string;
  let stack: TestStack;
  let cacheDir: string;
  let out: string;
  const taskQueue = 'python-read-test';

  before(async () => {
    // First run: creates the venv and pip-installs (about a minute); afterwards a stamp check of a few ms.
    python = runSetupScript('setup-python.sh');
    stack = await startTestStack({
      name: 'python-read',
      worker: ({ env, cacheDir, providerEnv }) =>
        createWorker({ connection: env.nativeConnection, taskQueue, cacheDir, curators: [reviews], env: providerEnv }),
    });
    ({ cacheDir } = stack);
    out = tempDir('python-read-out');
  });

  after(async () => {
    await stack?.close();
    for (const dir of [cacheDir, out]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs a job, exports its dataset as Parquet as `curator export --format parquet` does, and reads it back in TS. */
  const curateAndExport = async (items: Item[], name: string) => {
    const result = await curate(stack.client, 'python-read-reviews', {
      dataset: items,
      taskQueue,
      cacheDir,
      batchSize: 5,
    });
    assert.equal(result.stats.succeeded, items.length);
    const parquetPath = join(out, `${name}.parquet`);
    const db = await openMetadata(cacheDir);
    try {
      assert.equal(await exportRun(await findRun(db, result.runHash), 'parquet', parquetPath), result.stats.outputRows);
    } finally {
      await db.close();
    }
    const rows: JsonRow[] = [];
    for await (const row of readArrowRows(result.datasetPath)) rows.push(row);
    return { arrowPath: result.datasetPath, parquetPath, rows };
  };

  const readInPython = (arrowPath: string, parquetPath: string, ...flags: string[]): PythonOutput => {
    const started = Date.now();
    const hfHome = tempDir('python-read-hf');
    try {
      const read = spawnSync(
        python,
        [join(ROOT, 'test', 'python', 'read_dataset.py'), arrowPath, parquetPath, ...flags],
        {
          encoding: 'utf8',
          timeout: 120_000,
          maxBuffer: 64 << 20,
          env: {
            ...process.env,
            HF_HOME: hfHome,
            HF_DATASETS_OFFLINE: '1',
            HF_HUB_OFFLINE: '1',
            PYTHONNOUSERSITE: '1',
          },
        }
      );
      assert.equal(read.status, 0, `read_dataset.py failed (${read.error?.message ?? ''}):\n${read.stderr}`);
      const seen = JSON.parse(read.stdout) as PythonOutput;
      console.log(
        `python read ${parquetPath} in ${Date.now() - started} ms ` +
          `(pyarrow ${seen.versions.pyarrow}, datasets ${seen.versions.datasets})`
      );
      return seen;
    } finally {
      rmSync(hfHome, { recursive: true, force: true });
    }
  };

  test('pyarrow and datasets see the rows and types TypeScript sees', async () => {
    const items: Item[] = Array.from({ length: 12 }, (_, id) => ({ id, text: `item ${id} ${'é'.repeat(id)}` }));
    const { arrowPath, parquetPath, rows } = await curateAndExport(items, 'reviews');
    assert.equal(rows.length, 12);

    const seen = readInPython(arrowPath, parquetPath);
    for (const reader of ['pyarrow_ipc', 'pyarrow_parquet', 'datasets_from_file', 'datasets_load_parquet'] as const) {
      assert.deepEqual(seen[reader]!.schema, EXPECTED_TYPES, `${reader}: column types`);
      assert.deepEqual(seen[reader]!.rows, rows, `${reader}: rows`);
    }
    // A Null column is where readers are likeliest to disagree; datasets must keep it as a null feature.
    assert.match(seen.datasets_load_parquet!.features!.reviewer, /null/);
  });

  test('an empty dataset reads as empty', async () => {
    const { arrowPath, parquetPath, rows } = await curateAndExport([], 'empty');
    assert.deepEqual(rows, []);
    // load_dataset('parquet') rejects any Parquet file without columns, pyarrow's own included; see read_dataset.py.
    const seen = readInPython(arrowPath, parquetPath, '--no-load-dataset');
    for (const reader of ['pyarrow_ipc', 'pyarrow_parquet', 'datasets_from_file'] as const) {
      assert.deepEqual({ schema: seen[reader]!.schema, rows: seen[reader]!.rows }, { schema: {}, rows: [] }, reader);
    }
    assert.equal(seen.datasets_load_parquet, null);
  });
});
