/**
 * A Temporal dev server the chaos run can SIGKILL and bring back on the same SQLite file and port. We spawn the CLI
 * ourselves rather than through `startDevServer`, which reuses any server on the port and only knows how to stop
 * politely: a crash test needs the hard kill and a restart that finds the histories where the dead server left them.
 */
import { Connection } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { findTemporalCli } from '../../src/temporal/cli-path';

export interface ChaosServerOptions {
  dbFilename: string;
  port: number;
  /** Longest wait for the server to accept connections after a (re)start. */
  startTimeoutMs?: number;
}

export class ChaosDevServer {
  private child?: ChildProcess;
  /**
   * The end of the server's stderr. It logs errors while its shards load after a restart, which are no news unless
   * the server then fails to come up, so they are only shown then.
   */
  private stderrTail: string[] = [];
  readonly address: string;

  constructor(private readonly options: ChaosServerOptions) {
    this.address = `127.0.0.1:${options.port}`;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (this.running) throw new Error('the dev server is already running');
    const cli = findTemporalCli();
    if (!cli) throw new Error('no Temporal CLI found: run `bash scripts/setup.sh` (or set TEMPORAL_CLI_PATH)');
    const args = [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(this.options.port),
      '--headless',
      '--db-filename',
      this.options.dbFilename,
      '--log-level',
      'error',
    ];
    const child = spawn(cli, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.stderrTail = [];
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      this.stderrTail.push(...text.split('\n').filter(Boolean));
      this.stderrTail.splice(0, this.stderrTail.length - 50);
    });
    // If the harness itself dies, the server must not outlive it holding the port.
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    child.once('exit', () => process.removeListener('exit', killOnExit));
    try {
      await this.waitUntilReachable(child, this.options.startTimeoutMs ?? 60_000);
    } catch (err) {
      child.kill('SIGKILL');
      throw new Error(`${(err as Error).message}; its last words:\n${this.stderrTail.join('\n')}`);
    }
  }

  /** SIGKILL: no shutdown hooks, no flush; whatever SQLite has committed is all the next server gets. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(graceMs = 10_000): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  private async waitUntilReachable(child: ChildProcess, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (child.exitCode !== null) throw new Error(`temporal dev server exited with code ${child.exitCode}`);
      try {
        const connection = await Connection.connect({ address: this.address, connectTimeout: 1000 });
        await connection.close();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    throw new Error(`temporal dev server did not accept connections on ${this.address} within ${timeoutMs / 1000}s`);
  }
}
