/**
 * Issue #13, cases 2, 3, 5, 13 and 14: a job is what it was planned as, and projects do not share workers by
 * accident. Each case runs `curator run` in child processes against a counting OpenAI-compatible server that is not
 * our simulator (test/helpers/fault-server.ts), and asserts what the user sees, that no row is lost and how many
 * requests were paid.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Connection, Client } from '@temporalio/client';
import { tableFromIPC } from 'apache-arrow';
import { cliEnv, ROOT, runCli, startCli, stopDevServersOf } from '../helpers/cli-process';
import { ownStore } from '../helpers/backends';
import { startFaultServer, type FaultServer } from '../helpers/fault-server';
import { startTemporal, tempDir } from '../helpers/temporal';
import { createWorker, curate, CurationError, defineCurator } from '../../src';

/** A module with one text curator whose prompt starts with `tag` (and whose `parse` is the source given, if any). */
function writeModule(dir: string, name: string, tag: string, parse?: string): string {
  const path = join(dir, `${name}.ts`);
  writeFileSync(
    path,
    `import { defineCurator } from ${JSON.stringify(join(ROOT, 'src'))};\n` +
      `export const c = defineCurator({ name: ${JSON.stringify(name)}, model: 'gpt-4o-mini', ` +
      `prompt: (row: { topic: string }) => \`${tag} \${row.topic}\`${parse ? `, parse: ${parse}` : ''} });\n`
  );
  return path;
}

function writeRows(path: string, from: number, to: number, marker = '', append = false): void {
  const text = Array.from({ length: to - from }, (_, k) => JSON.stringify({ topic: `t${from + k}${marker}` }));
  (append ? appendFileSync : writeFileSync)(path, text.join('\n') + '\n');
}

const answers = (datasetLine: string) => {
  const path = /Dataset\s+(\S+)/.exec(datasetLine)![1];
  return { path, rows: tableFromIPC(readFileSync(path)).toArray() as { response: string }[] };
};

/** Waits until the job is no longer running and returns its status. */
async function settledStatus(workflowId: string): Promise<string> {
  const connection = await Connection.connect({ address: '127.0.0.1:7233' });
  try {
    const handle = new Client({ connection }).workflow.getHandle(workflowId);
    for (;;) {
      const { status } = await handle.describe();
      if (status.name !== 'RUNNING') return status.name;
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await connection.close();
  }
}

describe('a job is what it was planned as', () => {
  const servers: FaultServer[] = [];
  const caches: string[] = [];
  after(async () => {
    for (const dir of caches) stopDevServersOf(dir);
    for (const s of servers) await s.close();
  });

  /** Crashes a run (SIGKILL) once `paid` requests reached the server; its dev server stays up. */
  async function crashMidJob(args: string[], env: NodeJS.ProcessEnv, server: FaultServer, paid: number) {
    const first = startCli(args, env);
    const started = await first.waitFor(/Job: (\S+)/);
    while (server.total() < paid) await new Promise((r) => setTimeout(r, 50));
    first.child.kill('SIGKILL');
    await first.exited;
    return /Job: (\S+)/.exec(started)![1];
  }

  /** A project whose run of curator `name` (prompts starting with `tag`) over `rows` slow rows was killed mid-job. */
  async function crashedProject(name: string, tag: string, rows: number, paidAtCrash = 3) {
    const server = await startFaultServer();
    servers.push(server);
    const dir = tempDir(`identity-${name}`);
    caches.push(dir);
    const env = cliEnv(dir, { OPENAI_API_KEY: `sk-${name}`, OPENAI_BASE_URL: server.baseURL });
    const module = writeModule(dir, name, tag);
    const input = join(dir, 'rows.jsonl');
    writeRows(input, 0, rows, ' [[slow=300]]');
    const args = ['run', module, '-c', name, '-i', input, '--batch-size', '2', '--max-concurrent', '2'];
    const oldJob = await crashMidJob(args, env, server, paidAtCrash);
    return { server, dir, env, input, args, oldJob };
  }

  test('#2 #14: the prompt edited between a crash and the rerun starts a new job; the old one is stopped', async () => {
    const { server, dir, env, args, oldJob } = await crashedProject('ident', 'OLD', 12);

    writeModule(dir, 'ident', 'NEW');
    const rerun = await runCli([...args, '--no-progress'], env);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stderr, /reusing the dev server already running .*left by one that was killed/);
    const newJob = /Job: (\S+)/.exec(rerun.stderr)![1];
    assert.notEqual(newJob, oldJob);
    assert.match(rerun.stderr, new RegExp(`Stopped ${oldJob.replace(/\//g, '\\/')}: an earlier job of 'ident'`));
    const { rows } = answers(rerun.stdout);
    assert.equal(rows.length, 12);
    for (const row of rows) assert.match(row.response, /^fault-server: NEW t\d+ \[\[slow=300\]\]$/);
    // Every new prompt paid once; the old job stops (its worker's curator no longer matches it, or it is cancelled).
    const newPrompts = [...server.counts].filter(([p]) => p.startsWith('NEW'));
    assert.deepEqual(
      newPrompts.map(([, n]) => n),
      Array(12).fill(1)
    );
    assert.notEqual(await settledStatus(oldJob), 'RUNNING');
    const oldPaid = server.total() - 12;
    assert.ok(oldPaid <= 12, `old prompts paid ${oldPaid}`);
    for (const [prompt, n] of server.counts) assert.equal(n, 1, `${prompt} paid ${n} times`);
  });

  test('only parse edited between a crash and the rerun: the new job re-parses the answers paid, never pays them again', async () => {
    const { server, dir, env, args, oldJob } = await crashedProject('reparse', 'R', 12, 6);

    writeModule(
      dir,
      'reparse',
      'R',
      '(row: { topic: string }, r: string) => ({ topic: row.topic, shout: r.toUpperCase() })'
    );
    const rerun = await runCli([...args, '--no-progress'], env);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.notEqual(/Job: (\S+)/.exec(rerun.stderr)![1], oldJob, 'an edited parse is a new job');
    assert.match(rerun.stderr, new RegExp(`Stopped ${oldJob.replace(/\//g, '\\/')}`));
    assert.doesNotMatch(rerun.stderr, /failed \{/, 'no stack dump of the superseded job on screen');
    const path = /Dataset\s+(\S+)/.exec(rerun.stdout)![1];
    const rows = tableFromIPC(readFileSync(path)).toArray() as { topic: string; shout: string }[];
    assert.equal(rows.length, 12);
    for (const row of rows) assert.equal(row.shout, `FAULT-SERVER: R ${row.topic}`.toUpperCase());
    // The answers logged before the crash are re-parsed: only requests in flight at the kill (2 at most) are paid
    // twice. A new job that did not find them would pay the 6 or more paid before the crash again.
    const twice = [...server.counts].filter(([, n]) => n > 1);
    assert.ok(twice.length <= 2, `paid twice: ${twice.map(([p]) => p).join(', ')}`);
    for (const [prompt, n] of server.counts) assert.ok(n <= 2, `${prompt} paid ${n} times`);
    assert.ok(server.total() <= 12 + 2, `paid ${server.total()}`);
  });

  test('#5: rows appended between a crash and the rerun: the superseded job is stopped, never left paying', async () => {
    const { server, env, input, args, oldJob } = await crashedProject('grow', 'G', 10);

    writeRows(input, 10, 11, ' [[slow=300]]', true);
    const rerun = await runCli([...args, '--no-progress'], env);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stderr, new RegExp(`Stopped ${oldJob.replace(/\//g, '\\/')}`));
    assert.equal(answers(rerun.stdout).rows.length, 11);
    assert.notEqual(await settledStatus(oldJob), 'RUNNING');
    const settled = server.total();
    // The new job pays each of the 11 rows once; the old one paid only what it had before it was stopped.
    for (const [prompt, n] of server.counts) assert.ok(n <= 2, `${prompt} paid ${n} times`);
    assert.ok(settled <= 11 + 10, `paid ${settled}`);
  });
});

describe('projects do not share workers by accident', () => {
  test('#3 #13: two projects (modules, caches, keys, endpoints) run at once, each on its own worker', async () => {
    const [a, b] = [await startFaultServer(), await startFaultServer()];
    const [dirA, dirB] = [tempDir('project-a'), tempDir('project-b')];
    try {
      const envA = cliEnv(dirA, { OPENAI_API_KEY: 'sk-project-a', OPENAI_BASE_URL: a.baseURL });
      const envB = cliEnv(dirB, { OPENAI_API_KEY: 'sk-project-b', OPENAI_BASE_URL: b.baseURL });
      const [inputA, inputB] = [join(dirA, 'rows.jsonl'), join(dirB, 'rows.jsonl')];
      writeRows(inputA, 0, 6, ' [[slow=200]]');
      writeRows(inputB, 0, 12, ' [[slow=200]]');
      const runA = startCli(
        ['run', writeModule(dirA, 'alpha', 'A'), '-c', 'alpha', '-i', inputA, '--max-concurrent', '1', '--no-progress'],
        envA
      );
      await runA.waitFor(/Job:/);
      const runB = startCli(
        ['run', writeModule(dirB, 'beta', 'B'), '-c', 'beta', '-i', inputB, '--max-concurrent', '1', '--no-progress'],
        envB
      );
      const [codeA, codeB] = await Promise.all([runA.exited, runB.exited]);
      assert.equal(codeA, 0, runA.stderr());
      assert.equal(codeB, 0, runB.stderr());
      assert.deepEqual([...a.keys], ['sk-project-a']);
      assert.deepEqual([...b.keys], ['sk-project-b']);
      assert.equal(a.total(), 6);
      assert.equal(b.total(), 12);
      for (const p of a.counts.keys()) assert.match(p, /^A /);
      for (const p of b.counts.keys()) assert.match(p, /^B /);
      assert.ok(answers(runA.stdout()).path.startsWith(dirA));
      assert.ok(answers(runB.stdout()).path.startsWith(dirB));
      assert.equal(answers(runB.stdout()).rows.length, 12);
    } finally {
      stopDevServersOf(dirA);
      stopDevServersOf(dirB);
      await a.close();
      await b.close();
    }
  });

  test('two projects running the same curator over the same file at one endpoint: two jobs, each on its own key', async () => {
    const server = await startFaultServer();
    const [dirA, dirB, shared] = [tempDir('same-a'), tempDir('same-b'), tempDir('same-data')];
    try {
      const input = join(shared, 'rows.jsonl');
      writeRows(input, 0, 6, ' [[slow=200]]');
      const module = writeModule(shared, 'same', 'S');
      const args = ['run', module, '-c', 'same', '-i', input, '--max-concurrent', '1', '--no-progress'];
      const project = (dir: string, key: string) =>
        cliEnv(dir, { OPENAI_API_KEY: key, OPENAI_BASE_URL: server.baseURL, ...ownStore(key) });
      const runA = startCli(args, project(dirA, 'sk-same-a'));
      await runA.waitFor(/Job:/);
      const runB = startCli(args, project(dirB, 'sk-same-b'));
      const [codeA, codeB] = await Promise.all([runA.exited, runB.exited]);
      assert.equal(codeA, 0, runA.stderr());
      assert.equal(codeB, 0, runB.stderr());
      assert.notEqual(/Job: (\S+)/.exec(runA.stderr())![1], /Job: (\S+)/.exec(runB.stderr())![1]);
      assert.doesNotMatch(runB.stderr(), /Stopped /, "the other project's job is not superseded");
      assert.deepEqual([...server.keys].sort(), ['sk-same-a', 'sk-same-b']);
      assert.ok(answers(runA.stdout()).path.startsWith(dirA));
      assert.ok(answers(runB.stdout()).path.startsWith(dirB), runB.stdout());
      assert.equal(answers(runB.stdout()).rows.length, 6);
    } finally {
      stopDevServersOf(dirA);
      stopDevServersOf(dirB);
      await server.close();
    }
  });

  test('#13: the same command started twice at the same instant attaches to one job, paid once', async () => {
    const server = await startFaultServer();
    const dir = tempDir('twins');
    try {
      const env = cliEnv(dir, { OPENAI_API_KEY: 'sk-t', OPENAI_BASE_URL: server.baseURL });
      const input = join(dir, 'rows.jsonl');
      writeRows(input, 0, 8, ' [[slow=100]]');
      const args = ['run', writeModule(dir, 'twin', 'T'), '-c', 'twin', '-i', input, '--no-progress'];
      const [one, two] = [startCli(args, env), startCli(args, env)];
      const [c1, c2] = await Promise.all([one.exited, two.exited]);
      assert.equal(c1, 0, one.stderr());
      assert.equal(c2, 0, two.stderr());
      assert.equal(/Job: (\S+)/.exec(one.stderr())![1], /Job: (\S+)/.exec(two.stderr())![1]);
      assert.equal(server.total(), 8);
    } finally {
      stopDevServersOf(dir);
      await server.close();
    }
  });
});

describe('a worker never pays with a key its job was not started with', () => {
  test('#3: a client holding another OPENAI_API_KEY than the worker (same cache, same queue): refused, nothing paid', async () => {
    const server = await startFaultServer();
    const env = await startTemporal();
    const cacheDir = tempDir('keys');
    const keyed = defineCurator({ name: 'keyed', model: 'gpt-4o-mini', prompt: (row: { topic: string }) => row.topic });
    const worker = await createWorker({
      connection: env.nativeConnection,
      taskQueue: 'keys',
      cacheDir,
      curators: [keyed],
      env: { OPENAI_API_KEY: 'sk-worker-a', OPENAI_BASE_URL: server.baseURL },
    });
    const running = worker.run();
    const job = (workerEnv: NodeJS.ProcessEnv) =>
      curate(env.client, keyed, {
        dataset: [{ topic: 'k1' }, { topic: 'k2' }],
        taskQueue: 'keys',
        cacheDir,
        workerEnv: { OPENAI_BASE_URL: server.baseURL, ...workerEnv },
      });
    try {
      const refused = await job({ OPENAI_API_KEY: 'sk-client-b' }).then(
        () => assert.fail('a job started with another key ran'),
        (err: unknown) => err as CurationError
      );
      assert.ok(refused instanceof CurationError);
      assert.equal(refused.type, 'WrongApiKey');
      assert.match(refused.message, /started with another OPENAI_API_KEY \(key id [0-9a-f]{8}\) than this worker's/);
      assert.doesNotMatch(refused.message, /sk-client-b|sk-worker-a/);
      assert.equal(server.total(), 0, 'nothing paid');
      // Only the key's short salted name travels: neither key is anywhere in the job's history.
      const jobs = env.client.workflow.list({ query: `WorkflowType = 'curateWorkflow'` });
      for await (const j of jobs) {
        const history = JSON.stringify(await env.client.workflow.getHandle(j.workflowId).fetchHistory());
        assert.doesNotMatch(history, /sk-client-b|sk-worker-a/);
      }

      // The same key runs; a client that holds no key (it cannot tell) is not checked.
      assert.equal((await job({ OPENAI_API_KEY: 'sk-worker-a' })).stats.succeeded, 2);
      assert.equal((await job({})).stats.total, 2);
      assert.deepEqual([...server.keys], ['sk-worker-a']);
      assert.equal(server.total(), 2);
    } finally {
      worker.shutdown();
      await running;
      await env.teardown();
      await server.close();
    }
  });
});
