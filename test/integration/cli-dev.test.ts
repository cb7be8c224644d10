/**
 * `curator dev` as a user runs it: one process tree with the dev server, the Web UI, the simulator and a worker;
 * then `curator run --no-worker` from another process hands its job to that worker, `curator status` shows the
 * live progress while it runs, and Ctrl-C stops everything cleanly.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/temporal';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'curator.js');

/** Resolves with the text a child printed once `pattern` appears in it, or rejects when it exits first. */
function waitFor(child: ChildProcess, stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs = 180_000) {
  return new Promise<string>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}: ${text}`)), timeoutMs);
    child[stream]!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (pattern.test(text)) {
        clearTimeout(timer);
        resolve(text);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ${pattern}: ${text}`));
    });
  });
}

describe('curator dev', () => {
  let env: NodeJS.ProcessEnv;
  let dev: ChildProcess;
  let devErr = '';

  before(async () => {
    const cacheDir = tempDir('cli-dev');
    env = { ...process.env, CURATOR_CACHE_DIR: cacheDir, OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '' };
    delete env.TEMPORAL_ADDRESS;
    dev = spawn(process.execPath, [CLI, 'dev', '--curators', 'examples/curators.ts'], { cwd: ROOT, env });
    dev.stderr!.on('data', (chunk: Buffer) => (devErr += chunk.toString()));
    const banner = await waitFor(dev, 'stdout', /Ready\./);
    assert.match(banner, /UI http:\/\/127\.0\.0\.1:\d+/);
    assert.match(banner, /Worker:\s+poems, haiku on task queue/);
  });

  after(async () => {
    // SIGTERM, not SIGKILL: the dev server is dev's child and shares its stderr, so it must be stopped by dev.
    if (dev.exitCode === null && dev.signalCode === null) {
      const exited = once(dev, 'exit');
      dev.kill('SIGTERM');
      await exited;
    }
  });

  const curator = (...args: string[]) =>
    spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });

  test('run --no-worker hands the job to the dev worker; status shows it live; Ctrl-C stops the stack', async () => {
    const input = join(tempDir('cli-dev-input'), 'slow.jsonl');
    // Slow answers and two requests at a time keep the job running long enough to look at it.
    const rows = Array.from({ length: 20 }, (_, i) => JSON.stringify({ topic: `topic ${i} [[sim:slow=800]]` }));
    writeFileSync(input, rows.join('\n') + '\n');
    const run = spawn(
      process.execPath,
      [CLI, 'run', 'examples/curators.ts', '-c', 'poems', '-i', input, '--no-worker', '--max-concurrent', '2'],
      { cwd: ROOT, env }
    );
    let runOut = '';
    run.stdout!.on('data', (chunk: Buffer) => (runOut += chunk.toString()));
    const started = await waitFor(run, 'stderr', /Job: (\S+)/);
    assert.match(started, /reusing the dev server already running/);
    assert.match(started, /Worker: none in this process/);
    const jobId = /Job: (\S+)/.exec(started)![1];

    let live = '';
    while (!/poems \[[#.]+\] [\d.]+%\s+\d+\/20 requests/.test(live)) {
      const status = curator('status', jobId);
      assert.equal(status.status, 0, status.stderr);
      live = status.stdout;
      if (/: completed/.test(live)) assert.fail(`the job ended before status saw it running: ${live}`);
    }
    assert.match(live, /in progress \d+/);

    const [code] = (await once(run, 'exit')) as [number];
    assert.equal(code, 0, runOut);
    assert.match(runOut, /Requests\s+20 total, 20 succeeded, 0 failed/);
    assert.match(curator('status', jobId).stdout, new RegExp(`${jobId}: completed`));

    dev.kill('SIGINT');
    const [devCode] = (await once(dev, 'exit')) as [number];
    assert.equal(devCode, 0, devErr);
    assert.match(devErr, /stopping/);
  });
});
