/** Starting and stopping worker processes for benchmarks and chaos runs. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

export interface WorkerProcessOptions {
  curators: string;
  address: string;
  cacheDir: string;
  env?: NodeJS.ProcessEnv;
  taskQueue?: string;
  /** Extra node flags before the script, e.g. `['--cpu-prof', '--cpu-prof-dir', dir]`. */
  nodeArgs?: string[];
  /** 'pipe' hands the worker's stderr to the caller (e.g. to wait for its ready line); default: ours. */
  stderr?: 'inherit' | 'pipe';
  /** The CLI's entry script; default: `bin/curator.js`, which runs this checkout's sources. */
  cli?: string;
}

/** A `curator worker` child process; its stderr goes to ours so failures are visible. */
export function spawnWorker(options: WorkerProcessOptions): ChildProcess {
  const args = [options.cli ?? join(ROOT, 'bin', 'curator.js'), 'worker', '--curators', options.curators, '--cache-dir', options.cacheDir];
  if (options.taskQueue) args.push('--task-queue', options.taskQueue);
  return spawn(process.execPath, [...(options.nodeArgs ?? []), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...options.env, TEMPORAL_ADDRESS: options.address, CURATOR_LOG_LEVEL: 'WARN' },
    stdio: ['ignore', 'ignore', options.stderr ?? 'inherit'],
  });
}

export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it, so parallel runs do not collide). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Stops a child politely, and with SIGKILL if it has not exited after `graceMs`. */
export async function stopProcessWithin(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
