/**
 * What a small file append and a file's times refresh cost the process, asynchronous (a trip to the thread pool)
 * against synchronous (a system call on the main thread): the response log's and the batch lease's choice
 * (bench/README.md, 2026-11-30 12:20). Prints µs of process CPU (all threads) and of wall time per call.
 *
 *   npx tsx bench/fs-calls.ts [--dir /tmp/fs-calls] [--calls 4000]
 */
import { closeSync, fsyncSync, mkdirSync, openSync, rmSync, utimesSync, write, writeSync } from 'node:fs';
import { open, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { dir: { type: 'string' }, calls: { type: 'string' } } });
const dir = values.dir ?? '/tmp/fs-calls';
const calls = Number(values.calls ?? 4000);
const FILES = 100;
const line = Buffer.from(
  JSON.stringify({
    i: 1,
    job: 'j'.repeat(30),
    attempt: 1,
    at: new Date().toISOString(),
    ok: true,
    value: 'v'.repeat(120),
  }) + '\n'
);

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function measure(name: string, run: () => Promise<void> | void): Promise<void> {
  const cpu = cpuMs();
  const wall = performance.now();
  await run();
  const perCall = (ms: number) => ((ms * 1000) / calls).toFixed(1);
  console.log(
    `${name.padEnd(40)} ${perCall(cpuMs() - cpu)} µs CPU, ${perCall(performance.now() - wall)} µs wall per call`
  );
}

async function main(): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const handles: FileHandle[] = [];
  const fds: number[] = [];
  for (let k = 0; k < FILES; k++) {
    handles.push(await open(join(dir, `a${k}`), 'a'));
    fds.push(openSync(join(dir, `b${k}`), 'a'));
  }
  const now = new Date();
  for (let round = 1; round <= 2; round++) {
    console.log(`round ${round}: ${calls} calls over ${FILES} files, one ${line.length}-byte line each`);
    await measure('FileHandle.write, one at a time', async () => {
      for (let k = 0; k < calls; k++) await handles[k % FILES]!.write(line, 0);
    });
    await measure('fs.write (callback), one at a time', async () => {
      for (let k = 0; k < calls; k++)
        await new Promise<void>((resolve, reject) =>
          write(fds[k % FILES]!, line, 0, line.length, null, (err) => (err ? reject(err) : resolve()))
        );
    });
    await measure('fs.writeSync', () => {
      for (let k = 0; k < calls; k++) writeSync(fds[k % FILES]!, line, 0);
    });
    await measure('fs/promises utimes, one at a time', async () => {
      for (let k = 0; k < calls; k++) await utimes(join(dir, `a${k % FILES}`), now, now);
    });
    await measure('utimesSync', () => {
      for (let k = 0; k < calls; k++) utimesSync(join(dir, `a${k % FILES}`), now, now);
    });
  }
  for (const fh of handles) await fh.close();
  for (const fd of fds) {
    fsyncSync(fd);
    closeSync(fd);
  }
  rmSync(dir, { recursive: true, force: true });
}

void main();
