/**
 * Issue #13, cases 4, 7, 8, 9 and 10: damaged or odd inputs and answers. Each runs `curator run` in a child process
 * against a counting OpenAI-compatible server that is not our simulator, and asserts the exit code, the one clear
 * line, that no other row is lost and how many requests were paid.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { CLI, cliEnv, ROOT, runCli, startCli, stopDevServersOf } from '../helpers/cli-process';
import { startFaultServer, type FaultServer } from '../helpers/fault-server';
import { tempDir } from '../helpers/temporal';
import { startDevServer } from '../../src/temporal/dev-server';

/** A curator that keeps the row's `id` and `big` next to the answer. */
function writeModule(dir: string): string {
  const path = join(dir, 'curator.ts');
  writeFileSync(
    path,
    `import { defineCurator } from ${JSON.stringify(join(ROOT, 'src'))};\n` +
      `export const c = defineCurator({ name: 'odd', model: 'gpt-4o-mini', ` +
      `prompt: (row: { topic: string }) => row.topic, ` +
      `parse: (row: any, response: string) => ({ id: row.id ?? null, big: row.big ?? null, response }) });\n`
  );
  return path;
}

const dataset = (stdout: string) => /Dataset\s+(\S+)/.exec(stdout)![1];

/** Whether this process may make mount namespaces (root), for tests that put a disk on a small tmpfs. */
const canMount = () => spawnSync('unshare', ['-m', 'true']).status === 0;

/**
 * Runs `script` in a mount namespace of its own, so its tmpfs mounts go with it, and returns a reader of the files it
 * wrote under `dir`. Not spawnSync: the fault server answering the runs lives in this process.
 */
async function inMountNamespace(script: string[], env: NodeJS.ProcessEnv, dir: string) {
  const shell = spawn('unshare', ['-m', 'sh', '-c', script.join('\n')], { env, cwd: ROOT, stdio: 'inherit' });
  const [status] = (await once(shell, 'exit')) as [number];
  assert.equal(status, 0);
  return (name: string) => readFileSync(join(dir, name), 'utf8');
}

describe('damaged or odd inputs', () => {
  let server: FaultServer;
  const dirs: string[] = [];
  before(async () => (server = await startFaultServer()));
  after(async () => {
    for (const dir of dirs) stopDevServersOf(dir);
    await server.close();
  });

  function project(name: string) {
    const dir = tempDir(name);
    dirs.push(dir);
    const env = cliEnv(dir, { OPENAI_API_KEY: 'sk-b', OPENAI_BASE_URL: server.baseURL });
    return { dir, env, module: writeModule(dir) };
  }
  const paid = (prefix: string) => [...server.counts].filter(([p]) => p.startsWith(prefix));

  test('#4 #9: integers beyond 2^53 and 1e400 keep every digit; a BOM is not part of the first row', async () => {
    const { dir, env, module } = project('numbers');
    const input = join(dir, 'rows.jsonl');
    writeFileSync(
      input,
      '\uFEFF{"id": 9007199254740993, "big": 1e400, "topic": "num a"}\n' +
        '{"id": -123456789012345678901234567890, "big": 2.5, "topic": "num b"}\n{"id": 7, "topic": "num c"}\n'
    );
    const run = await runCli(['run', module, '-c', 'odd', '-i', input, '--no-progress'], env);
    assert.equal(run.code, 0, run.stderr);
    const rows = tableFromIPC(readFileSync(dataset(run.stdout))).toArray() as { id: unknown; big: unknown }[];
    assert.deepEqual(
      rows.map((r) => [String(r.id), r.big === null ? null : String(r.big)]),
      [
        ['9007199254740993', '1e400'],
        ['-123456789012345678901234567890', '2.5'],
        ['7', null],
      ]
    );
    assert.deepEqual(
      paid('num').map(([p, n]) => [p, n]),
      [
        ['num a', 1],
        ['num b', 1],
        ['num c', 1],
      ]
    );
  });

  test('#9: nesting beyond 100 levels fails that row alone, naming the file and line', async () => {
    const { dir, env, module } = project('deep');
    const input = join(dir, 'rows.jsonl');
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    writeFileSync(input, `{"topic": "deep a"}\n{"topic": "deep b", "x": ${deep}}\n{"topic": "deep c"}\n`);
    const run = await runCli(['run', module, '-c', 'odd', '-i', input, '--no-progress'], env);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /IncompleteResponses/);
    const failed = /failed requests (\S+?)\.?\s/.exec(run.stderr)![1];
    assert.match(readFileSync(failed, 'utf8'), /line 2 of \S+rows\.jsonl .*nesting deeper than 100 levels/);
    assert.deepEqual(
      paid('deep').map(([p]) => p),
      ['deep a', 'deep c']
    );
  });

  test('#9: a .arrow file that is not Arrow: one clear non-retryable error naming the file', async () => {
    const { dir, env, module } = project('not-arrow');
    const input = join(dir, 'rows.arrow');
    writeFileSync(input, '{"topic": "this is JSON, not Arrow"}\n');
    const run = await runCli(['run', module, '-c', 'odd', '-i', input, '--no-progress'], env);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, new RegExp(`curation failed \\(DatasetError\\): ${input} cannot be read as an Arrow`));
  });

  test('#7: a torn or edited run copy of the dataset is rebuilt from the source on resume', async () => {
    const { dir, env, module } = project('torn');
    const input = join(dir, 'rows.jsonl');
    writeFileSync(
      input,
      Array.from({ length: 12 }, (_, i) => JSON.stringify({ topic: `torn ${i} [[slow=400]]` })).join('\n') + '\n'
    );
    const args = ['run', module, '-c', 'odd', '-i', input, '--batch-size', '3', '--max-concurrent', '3'];
    const first = startCli(args, env);
    await first.waitFor(/Job: /);
    while (paid('torn').length < 4) await new Promise((r) => setTimeout(r, 50));
    first.child.kill('SIGINT');
    assert.equal(await first.exited, 130, first.stderr());
    const runDir = readdirSync(dir)
      .map((d) => join(dir, d))
      .find((d) => statSync(d).isDirectory() && readdirSync(d).includes('input.jsonl'))!;
    const copy = join(runDir, 'input.jsonl');
    writeFileSync(copy, readFileSync(copy, 'utf8').replace('torn 10', 'edit 10'));
    truncateSync(copy, statSync(copy).size - 7);

    const rerun = await runCli([...args, '--no-progress'], env);
    assert.equal(rerun.code, 0, rerun.stderr);
    const rows = tableFromIPC(readFileSync(dataset(rerun.stdout))).toArray() as { response: string }[];
    assert.equal(rows.length, 12);
    assert.equal(rows[10].response, 'fault-server: torn 10 [[slow=400]]');
    for (const [prompt, n] of paid('torn')) assert.equal(n, 1, `${prompt} paid ${n} times`);
    assert.equal(paid('edit').length, 0);
  });

  test('#10: an empty 200 body is retried, not failed for good', async () => {
    const { dir, env, module } = project('empty');
    const input = join(dir, 'rows.jsonl');
    writeFileSync(
      input,
      Array.from({ length: 5 }, (_, i) => JSON.stringify({ topic: `empty ${i} [[empty-first]]` })).join('\n') + '\n'
    );
    const run = await runCli(['run', module, '-c', 'odd', '-i', input, '--no-progress'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(tableFromIPC(readFileSync(dataset(run.stdout))).numRows, 5);
    assert.deepEqual(
      paid('empty').map(([, n]) => n),
      [2, 2, 2, 2, 2]
    );
  });

  test('#8: a full disk under the cache: one clear error naming it; after freeing space the rerun finishes', async (t) => {
    // The cache on a 4 MB tmpfs in a mount namespace of its own (root only); the dev server's database elsewhere.
    if (!canMount()) return t.skip('needs unshare -m (root)');
    const { dir, module } = project('disk-full');
    const server7233 = await startDevServer({ dbFilename: join(dir, 'temporal', 'dev-server.db') });
    try {
      const cache = join(dir, 'cache');
      const input = join(dir, 'rows.jsonl');
      const pad = 'x'.repeat(2000);
      writeFileSync(
        input,
        Array.from({ length: 40 }, (_, i) => JSON.stringify({ topic: `full ${i} ${pad}` })).join('\n') + '\n'
      );
      const run = (out: string) =>
        `node ${CLI} run ${module} -c odd -i ${input} --batch-size 5 --no-progress > ${out}.out 2> ${out}.err; echo $? > ${out}.code`;
      const script = [
        `mkdir -p ${cache} && mount -t tmpfs -o size=4m tmpfs ${cache}`,
        // Leaves about 150 KB: the run's copy of the dataset fits, its request and response files do not.
        `head -c $((4*1024*1024 - 150*1024)) /dev/zero > ${cache}/filler 2>/dev/null; true`,
        run(join(dir, 'first')),
        `rm ${cache}/filler`,
        run(join(dir, 'second')),
      ];
      const env = cliEnv(cache, { OPENAI_API_KEY: 'sk-b', OPENAI_BASE_URL: server.baseURL });
      const read = await inMountNamespace(script, env, dir);
      assert.equal(read('first.code').trim(), '1', read('first.err'));
      assert.match(read('first.err'), new RegExp(`DiskFull.*the disk holding the cache directory ${cache} is full`));
      assert.equal(read('second.code').trim(), '0', read('second.err'));
      assert.match(read('second.out'), /Requests\s+40 total, 40 succeeded/);
      for (const [prompt, n] of paid('full')) assert.ok(n <= 2, `${prompt.slice(0, 8)} paid ${n} times`);
    } finally {
      await server7233.stop();
    }
  });

  test('#8: limits.db or metadata.db full on a disk of its own: the error names that file; the rerun finishes', async (t) => {
    if (!canMount()) return t.skip('needs unshare -m (root)');
    if (process.env.CURATOR_DATABASE_URL) {
      return t.skip('local default only: with CURATOR_DATABASE_URL set both are in PostgreSQL, no file to fill');
    }
    const { dir, module } = project('db-full');
    const server7233 = await startDevServer({ dbFilename: join(dir, 'temporal', 'dev-server.db') });
    try {
      for (const [db, name, tag] of [
        ['limits', "the rate limiter's window", 'lim'],
        ['metadata', 'the job index', 'meta'],
      ] as const) {
        const cache = join(dir, `cache-${db}`);
        const small = join(dir, `small-${db}`);
        const input = join(dir, `${db}.jsonl`);
        writeFileSync(input, Array.from({ length: 12 }, (_, i) => JSON.stringify({ topic: `${tag} ${i}` })).join('\n'));
        const run = (out: string) =>
          `node ${CLI} run ${module} -c odd -i ${input} --batch-size 3 --no-progress > ${out}.out 2> ${out}.err; echo $? > ${out}.code`;
        // Only the database lies on the small disk (a symlink: SQLite keeps its WAL beside the real file).
        const script = [
          `mkdir -p ${cache} ${small} && mount -t tmpfs -o size=256k tmpfs ${small}`,
          `ln -s ${small}/${db}.db ${cache}/${db}.db`,
          `head -c 250k /dev/zero > ${small}/filler 2>/dev/null; true`,
          run(join(dir, `${db}-first`)),
          `rm ${small}/filler`,
          run(join(dir, `${db}-second`)),
        ];
        const env = cliEnv(cache, { OPENAI_API_KEY: 'sk-b', OPENAI_BASE_URL: server.baseURL });
        const files = await inMountNamespace(script, env, dir);
        const read = (name: string) => files(`${db}-${name}`);
        assert.equal(read('first.code').trim(), '1', read('first.err'));
        assert.match(read('first.err'), new RegExp(`DiskFull.*the disk holding ${name} ${cache}/${db}.db is full`));
        assert.equal(read('second.code').trim(), '0', read('second.err'));
        assert.match(read('second.out'), /Requests\s+12 total, 12 succeeded/);
        assert.deepEqual(
          paid(`${tag} `).map(([, n]) => n),
          Array(12).fill(1),
          'every row paid once across both runs'
        );
      }
    } finally {
      await server7233.stop();
    }
  });

  test("#8: the dev server's database disk full: one line naming it, exit 3; after freeing space the rerun finishes", async (t) => {
    if (!canMount()) return t.skip('needs unshare -m (root)');
    const { dir, module } = project('dev-full');
    const cache = join(dir, 'cache');
    const input = join(dir, 'rows.jsonl');
    writeFileSync(
      input,
      Array.from({ length: 60 }, (_, i) => JSON.stringify({ topic: `dev ${i} [[slow=200]]` })).join('\n') + '\n'
    );
    const run = `node ${CLI} run ${module} -c odd -i ${input} --batch-size 2 --max-concurrent 4 --no-progress`;
    const first = join(dir, 'first');
    const script = [
      `mkdir -p ${cache}/temporal && mount -t tmpfs -o size=32m tmpfs ${cache}/temporal`,
      `${run} > ${first}.out 2> ${first}.err & pid=$!`,
      // Fill the server's disk once answers come in. Not earlier: a run that dies during `plan` leaves its attempt
      // to the plan activity's start-to-close timeout (an hour), and the rerun waits for it. With CURATOR_STORAGE set
      // the response logs are in the store; the parsed shards of answered batches are still written here first.
      `while ! ls ${cache}/*/responses/*.jsonl ${cache}/*/parsed/*/*.jsonl 2>/dev/null | grep -q .; do sleep 0.1; done`,
      `head -c 64m /dev/zero > ${cache}/temporal/filler 2>/dev/null`,
      `wait $pid; echo $? > ${first}.code`,
      `rm ${cache}/temporal/filler`,
      `${run} > ${dir}/second.out 2> ${dir}/second.err; echo $? > ${dir}/second.code`,
    ];
    const env = cliEnv(cache, { OPENAI_API_KEY: 'sk-b', OPENAI_BASE_URL: server.baseURL });
    const read = await inMountNamespace(script, env, dir);
    assert.equal(read('first.code').trim(), '3', read('first.err'));
    assert.match(
      read('first.err'),
      new RegExp(`The disk holding the Temporal dev server's database ${cache}/temporal/dev-server.db is full`)
    );
    assert.equal(read('second.code').trim(), '0', read('second.err'));
    assert.match(read('second.out'), /Requests\s+60 total, 60 succeeded/);
    // Only the requests in flight when the run stopped can be paid twice.
    for (const [prompt, n] of paid('dev ')) assert.ok(n <= 2, `${prompt} paid ${n} times`);
    assert.equal(paid('dev ').length, 60);
  });
});
