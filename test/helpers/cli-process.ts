/** The `curator` command line in a child process, as a user runs it, with its output collected as it comes. */
import { spawn, type ChildProcess } from 'node:child_process';
import './probe-off';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');
export const CLI = join(ROOT, 'bin', 'curator.js');

export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once `pattern` appears on stderr; rejects if the process exits first. */
  waitFor(pattern: RegExp): Promise<string>;
  /** Resolves with the exit code (or 128 + signal number when killed by a signal). */
  exited: Promise<number>;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = once(child, 'exit').then(([code, signal]) =>
    code === null ? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : 2) : (code as number)
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern) {
      return new Promise((resolve, reject) => {
        const look = () => {
          if (pattern.test(err)) {
            child.stderr!.off('data', look);
            resolve(err);
          }
        };
        child.stderr!.on('data', look);
        look();
        void exited.then((code) => reject(new Error(`exited with ${code} before ${pattern}: ${err}`)));
      });
    },
  };
}

/** Runs the command to its end. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv) {
  const p = startCli(args, env);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** An environment without provider keys or a cluster address, with its own cache directory. */
export function cliEnv(cacheDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CURATOR_CACHE_DIR: cacheDir, ...extra };
  for (const name of ['TEMPORAL_ADDRESS', 'OPENAI_BASE_URL', 'ANTHROPIC_BASE_URL']) {
    if (!(name in extra)) delete env[name];
  }
  for (const name of ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY']) if (!(name in extra)) env[name] = '';
  return env;
}

/** Stops the dev servers whose database lies under `cacheDir`: those a killed `curator run` left behind. */
export function stopDevServersOf(cacheDir: string): number {
  let stopped = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmdline.includes('start-dev') && cmdline.includes(join(cacheDir, 'temporal'))) {
      process.kill(Number(pid), 'SIGKILL');
      stopped++;
    }
  }
  return stopped;
}
