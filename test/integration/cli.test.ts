/**
 * The `curator` command line as a user runs it, in child processes: `run` on the embedded default (its own dev
 * server, the simulator), then `runs`, `show` and `export` over what it recorded, and exit codes scripts can trust.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { ownStore } from '../helpers/backends';
import { tempDir } from '../helpers/temporal';

const ROOT = join(__dirname, '..', '..');

describe('the curator command line', () => {
  let cacheDir: string;
  let out: string;
  let env: NodeJS.ProcessEnv;

  before(() => {
    cacheDir = tempDir('cli');
    out = tempDir('cli-out');
    // No key: the embedded default uses the simulator. A port of its own, so no other dev server is reused.
    env = { ...process.env, CURATOR_CACHE_DIR: cacheDir, OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '' };
    delete env.TEMPORAL_ADDRESS;
  });

  after(() => undefined);

  const curator = (...args: string[]) =>
    spawnSync(process.execPath, [join(ROOT, 'bin', 'curator.js'), ...args], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
      timeout: 180_000,
    });

  test('run writes the dataset and prints where it is; runs, show and export read it back', () => {
    const arrow = join(out, 'poems.arrow');
    const run = curator(
      'run',
      'examples/curators.ts',
      '--curator',
      'poems',
      '--input',
      'examples/data/topics.jsonl',
      '--output',
      arrow
    );
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /Requests\s+20 total, 20 succeeded, 0 failed/);
    assert.match(run.stderr, /simulator/);
    assert.equal(tableFromIPC(readFileSync(arrow)).numRows, 20);
    const runHash = /Run\s+([0-9a-f]{32})/.exec(run.stdout)![1];

    const runs = curator('runs');
    assert.equal(runs.status, 0, runs.stderr);
    assert.match(runs.stdout, new RegExp(`${runHash.slice(0, 12)}\\s+poems\\s+gpt-4o-mini\\s+completed\\s+20`));

    const show = curator('show', runHash.slice(0, 8));
    assert.equal(show.status, 0, show.stderr);
    assert.match(show.stdout, /succeeded_requests\s+20/);
    assert.match(show.stdout, /dataset_sha256\s+[0-9a-f]{64}/);

    const jsonl = join(out, 'poems.jsonl');
    const exported = curator('export', runHash, '--format', 'jsonl', '--output', jsonl);
    assert.equal(exported.status, 0, exported.stderr);
    const lines = readFileSync(jsonl, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { topic: string });
    assert.equal(lines.length, 20);
    assert.equal(lines[0].topic, 'the sea');
  });

  test("npm start's main job: the dataset and the UI link, then a cache hit with zero simulator calls", () => {
    // A cache of its own (a store of its own on the backends): the first run pays, whatever ran before.
    const jobEnv = { ...env, CURATOR_CACHE_DIR: tempDir('main-job'), ...ownStore('main-job') };
    const mainJob = () =>
      spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'examples', 'main-job.ts')], {
        cwd: ROOT,
        env: jobEnv,
        encoding: 'utf8',
        timeout: 180_000,
      });
    const first = mainJob();
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /Requests\s+20 total, 20 succeeded, 0 failed/);
    assert.match(first.stdout, /Simulator calls made by this run: 20/);
    assert.match(first.stdout, /Temporal UI: http:\/\/127\.0\.0\.1:\d+\/namespaces\/default\/workflows\//);
    const again = mainJob();
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /from cache/);
    assert.match(again.stdout, /Simulator calls made by this run: 0/);
  });

  test('exit codes: 1 when the job fails, 2 for bad usage', () => {
    const failed = curator(
      'run',
      'examples/curators.ts',
      '--curator',
      'no-such',
      '--input',
      'examples/data/topics.jsonl'
    );
    assert.equal(failed.status, 1, failed.stderr);
    assert.match(failed.stderr, /UnknownCurator/);
    const usage = curator('run', 'examples/curators.ts');
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /required option/);
    const unknownRun = curator('show', 'ffffffffffff');
    assert.equal(unknownRun.status, 2);
    assert.match(unknownRun.stderr, /no run/);
  });
});
