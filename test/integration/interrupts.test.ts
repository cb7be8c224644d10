/**
 * Issue #13, cases 6, 11 and 12: interrupts. Ctrl-C or SIGTERM to `curator run` alone stops taking work, keeps the
 * answers in flight, exits 130 / 143 with one line saying how to resume or cancel, and the rerun pays nothing twice;
 * the dev server killed mid-job ends the run with one clear line, and the rerun finishes; a cancel while a request
 * hangs ends the job as cancelled.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { cliEnv, ROOT, runCli, startCli, stopDevServersOf } from '../helpers/cli-process';
import { startFaultServer, type FaultServer } from '../helpers/fault-server';
import { tempDir } from '../helpers/temporal';

const NOISE = /gRPC|Failed to get Workflow|Channel has been shut down|UnhandledPromiseRejection|\n\s+at /;

function setup(name: string, rows: number, marker: string, server: FaultServer) {
  const dir = tempDir(name);
  const module = join(dir, 'curator.ts');
  writeFileSync(
    module,
    `import { defineCurator } from ${JSON.stringify(join(ROOT, 'src'))};\n` +
      `export const c = defineCurator({ name: 'stoppable', model: 'gpt-4o-mini', ` +
      `prompt: (row: { topic: string }) => row.topic });\n`
  );
  const input = join(dir, 'rows.jsonl');
  writeFileSync(
    input,
    Array.from({ length: rows }, (_, i) => JSON.stringify({ topic: `${name} ${i} ${marker}` })).join('\n') + '\n'
  );
  const env = cliEnv(dir, { OPENAI_API_KEY: 'sk-i', OPENAI_BASE_URL: server.baseURL });
  const args = ['run', module, '-c', 'stoppable', '-i', input, '--batch-size', '4', '--max-concurrent', '4'];
  return { dir, env, args };
}

const until = async (check: () => boolean) => {
  while (!check()) await new Promise((r) => setTimeout(r, 50));
};

describe('interrupts', () => {
  let server: FaultServer;
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) stopDevServersOf(dir);
    await server?.close();
  });

  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    test(`#6: ${signal} to the run alone keeps the job and every answer in flight; the rerun pays nothing twice`, async () => {
      server ??= await startFaultServer();
      const { dir, env, args } = setup(`stop-${signal}`, 16, '[[slow=500]]', server);
      dirs.push(dir);
      const ours = () => [...server.counts].filter(([p]) => p.startsWith(`stop-${signal}`));
      const run = startCli(args, env);
      await run.waitFor(/Job: /);
      await until(() => ours().length >= 5);
      run.child.kill(signal);
      assert.equal(await run.exited, code, run.stderr());
      const job = /Job: (\S+)/.exec(run.stderr())![1];
      const lines = run
        .stderr()
        .split('\n')
        .filter((l) => l.startsWith('Interrupted'));
      assert.equal(lines.length, 1, run.stderr());
      assert.match(lines[0], new RegExp(`^Interrupted \\(${signal}\\): job ${job} is saved`));
      assert.match(
        lines[0],
        /Resume it with `curator run .*`, or cancel it with `curator cancel curate\/stoppable\/\S+`/
      );
      assert.doesNotMatch(run.stderr(), NOISE);

      const rerun = await runCli([...args, '--no-progress'], env);
      assert.equal(rerun.code, 0, rerun.stderr);
      const dataset = /Dataset\s+(\S+)/.exec(rerun.stdout)![1];
      assert.equal(tableFromIPC(readFileSync(dataset)).numRows, 16);
      assert.equal(ours().length, 16);
      for (const [prompt, n] of ours()) assert.equal(n, 1, `${prompt} paid ${n} times`);
    });
  }

  test('#12: the dev server killed mid-job ends the run with one clear line; the rerun finishes', async () => {
    server ??= await startFaultServer();
    const { dir, env, args } = setup('server-lost', 12, '[[slow=1500]]', server);
    dirs.push(dir);
    const ours = () => [...server.counts].filter(([p]) => p.startsWith('server-lost'));
    const lostArgs = [...args, '--max-concurrent', '2', '--no-progress'];
    const run = startCli(lostArgs, env);
    await run.waitFor(/Job: /);
    await until(() => ours().length >= 3);
    assert.equal(stopDevServersOf(dir), 1);
    const code = await run.exited;
    assert.equal(code, 3, run.stderr());
    assert.match(run.stderr(), /Lost the Temporal server while waiting for job \S+; the job is kept/);
    assert.doesNotMatch(run.stderr(), /Channel has been shut down/);

    const rerun = await runCli(lostArgs, env);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.equal(tableFromIPC(readFileSync(/Dataset\s+(\S+)/.exec(rerun.stdout)![1])).numRows, 12);
    assert.equal(ours().length, 12);
    for (const [prompt, n] of ours()) assert.ok(n <= 2, `${prompt} paid ${n} times`);
  });

  test('#11: a cancel while requests hang ends the job as cancelled, not failed', async () => {
    server ??= await startFaultServer();
    const { dir, env, args } = setup('hang', 4, '[[hang]]', server);
    dirs.push(dir);
    const run = startCli([...args, '--no-progress'], env);
    const job = /Job: (\S+)/.exec(await run.waitFor(/Job: (\S+)/))![1];
    // Without rate-limit headers the engine starts with few requests in flight: one hanging is enough.
    await until(() => [...server.counts.keys()].some((p) => p.startsWith('hang')));
    const cancel = await runCli(['cancel', job], env);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.equal(await run.exited, 1, run.stderr());
    assert.match(run.stderr(), /curation failed \(Cancelled\): the job was cancelled/);
    assert.doesNotMatch(run.stderr(), /APIUserAbortError/);
  });
});
