/**
 * A job from a Parquet file and one from a Hugging Face `save_to_disk` folder, run as a user runs them: the
 * `curator run` command line on the embedded default (its own dev server, the simulator).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { tempDir } from '../helpers/temporal';

const ROOT = join(__dirname, '..', '..');
const FIXTURES = join('test', 'fixtures', 'input-formats');

describe('curator run from Parquet and datasets inputs', () => {
  let cacheDir: string;
  let out: string;
  let env: NodeJS.ProcessEnv;

  before(() => {
    cacheDir = tempDir('input-formats-cli');
    out = tempDir('input-formats-out');
    env = { ...process.env, CURATOR_CACHE_DIR: cacheDir, OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '' };
    delete env.TEMPORAL_ADDRESS;
  });
  after(() => {
    rmSync(cacheDir, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  });

  const run = (input: string, output: string) =>
    spawnSync(
      process.execPath,
      [
        join(ROOT, 'bin', 'curator.js'),
        'run',
        join(FIXTURES, 'curators.ts'),
        '--curator',
        'describe-row',
        '--input',
        input,
        '--output',
        output,
        '--no-progress',
      ],
      { cwd: ROOT, env, encoding: 'utf8', timeout: 300_000 }
    );

  for (const [name, input] of [
    ['a Parquet file', join(FIXTURES, 'rows.parquet')],
    ['a save_to_disk folder', join(FIXTURES, 'hf-saved')],
  ] as const) {
    test(`${name}: every row answered, big integers kept exactly`, () => {
      const arrow = join(out, `${name.replace(/\W+/g, '-')}.arrow`);
      const result = run(input, arrow);
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /Requests\s+5 total, 5 succeeded, 0 failed/);
      const table = tableFromIPC(readFileSync(arrow));
      const rows = table.toArray().map((r) => r.toJSON() as { id: unknown; big: unknown; answer: string });
      assert.deepEqual(rows.map((r) => Number(r.id)).sort(), [1, 2, 3, 4, 5]);
      const bigs = new Map(rows.map((r) => [Number(r.id), r.big === null ? null : String(r.big)]));
      assert.equal(bigs.get(1), '9007199254740993');
      assert.equal(bigs.get(5), '9223372036854775807');
      for (const row of rows) assert.ok(row.answer.length > 0);
    });
  }
});
