/**
 * The production-shaped stack of scripts/infra/stack.sh, driven from TypeScript: bring it up, run a process on a
 * worker machine, and the faults (kill a machine with its disk, SIGKILL a Temporal host, restart the object store,
 * cut a machine off and heal it). Each call is one `stack.sh` command; the script is the only place that knows how
 * the stack is made.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const ROOT = join(__dirname, '..', '..');
const STACK = join(ROOT, 'scripts', 'infra', 'stack.sh');
const run = promisify(execFile);

export class ClusterStack {
  constructor(private readonly log: (line: string) => void = () => undefined) {}

  private async stack(...args: string[]): Promise<string> {
    try {
      const { stdout } = await run('bash', [STACK, ...args], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
      return stdout;
    } catch (err) {
      const e = err as Error & { stdout?: string; stderr?: string };
      throw new Error(`stack.sh ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  }

  /** Whether every shared service answers (PostgreSQL, both Temporal hosts, the store). */
  async servicesUp(): Promise<boolean> {
    const status = await this.stack('status');
    const services = status.split('\n').filter((l) => /^ {2}(postgresql|temporal host|s3)/.test(l));
    return services.length > 0 && services.every((l) => /\sup\s/.test(l));
  }

  /** Builds what is missing (cached), starts what is down, makes machines m1…mN. */
  async up(machines: number): Promise<void> {
    const out = await this.stack('up', String(machines));
    for (const line of out.split('\n')) if (line.startsWith('[infra]')) this.log(line);
  }

  async down(): Promise<void> {
    await this.stack('down');
  }

  /** The environment the stack gives a worker on a machine (`stack.sh env mN`), or in the root namespace. */
  async env(machine?: string): Promise<Record<string, string>> {
    const out = await this.stack('env', ...(machine ? [machine] : []));
    const entries = out
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const);
    return Object.fromEntries(entries);
  }

  /** Lets `machine` reach 127.0.0.1:`target` of this namespace at its own 127.0.0.1:`port`. */
  async expose(machine: string, port: number, target: number): Promise<void> {
    await this.stack('expose', machine, String(port), String(target));
  }

  /**
   * Starts `command` on `machine` (its network, its disk), with the stack's worker environment and then `env` on
   * top (so `env` can override the stack's, e.g. the cache directory).
   */
  spawnOn(machine: string, command: string[], env: Record<string, string> = {}): ChildProcess {
    const overrides = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    return spawn('bash', [STACK, 'exec', machine, 'env', ...overrides, ...command], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  }

  /** SIGKILLs every process of the machine and deletes its disk. */
  async killMachine(machine: string): Promise<void> {
    await this.stack('kill-machine', machine);
  }

  /** A fresh machine under that name: new namespaces, an empty disk, its relays (exposed ports to redo). */
  async addMachine(machine: string): Promise<void> {
    await this.stack('add-machine', machine);
  }

  async killHost(host: number): Promise<void> {
    await this.stack('kill-host', String(host));
  }

  async startHost(host: number): Promise<void> {
    await this.stack('start-host', String(host));
  }

  async restartStore(): Promise<void> {
    await this.stack('restart-store');
  }

  /** Stops the machine's relays: it reaches nothing (Temporal, PostgreSQL, the store, the provider). */
  async cutMachine(machine: string): Promise<void> {
    await this.stack('cut-machine', machine);
  }

  async healMachine(machine: string): Promise<void> {
    await this.stack('heal-machine', machine);
  }
}
