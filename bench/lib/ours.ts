/**
 * Our contender for one round: a Temporal dev server (its own process and SQLite file in a fresh temp dir, no UI)
 * and ONE `curator worker` process with a fresh cache dir, both started here and measured from /proc; the job is
 * started and awaited from this process with `curate()`.
 */
import { Client, Connection } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server';
import { findPids, watchProcess } from './proc-stats';
import { freePort, spawnWorker, stopProcess } from './processes';
import type { CompiledWorker } from './compiled-worker';

export const CURATORS = join(__dirname, '..', 'curators.ts');

export interface HistoryFigures {
  /** Workflow executions (runs, counting each continue-as-new run) in the namespace. */
  runs: number;
  totalEvents: number;
  maxEvents: number;
  maxBytes: number;
  largest: string;
}

export interface OurStackOptions {
  openaiBaseURL: string;
  /** The simulator's root URL, for curators of Claude models (ANTHROPIC_BASE_URL); unset leaves it out. */
  anthropicBaseURL?: string;
  /** Extra node flags for the worker, e.g. --cpu-prof. */
  workerNodeArgs?: string[];
  /** Extra environment for the worker only (e.g. MALLOC_ARENA_MAX). */
  workerEnv?: Record<string, string>;
  /** Kept after stop() (for the cache scenario's inspection or debugging). */
  keepDir?: boolean;
  /** The worker runs the compiled package (`compiled-worker.ts`); without it, this checkout's sources through tsx. */
  compiled?: CompiledWorker;
}

export class OurStack {
  readonly dir = mkdtempSync(join(tmpdir(), 'bench-ours-'));
  readonly cacheDir = join(this.dir, 'cache');
  readonly dbFilename = join(this.dir, 'temporal.db');
  server!: DevServer;
  serverPid?: number;
  worker?: ChildProcess;
  connection!: Connection;
  client!: Client;
  /** ms from spawning the worker until it said it polls (bundling the workflows included). */
  workerStartMs = 0;

  private constructor(private readonly options: OurStackOptions) {}

  static async start(options: OurStackOptions): Promise<OurStack> {
    const stack = new OurStack(options);
    const port = await freePort();
    stack.server = await startDevServer({
      dbFilename: stack.dbFilename,
      port,
      uiPort: await freePort(),
      extraArgs: ['--headless'],
    });
    if (!stack.server.owned) throw new Error(`a server already listened on ${stack.server.address}`);
    stack.serverPid = findPids(stack.dbFilename)[0];
    try {
      stack.connection = await Connection.connect({ address: stack.server.address });
      stack.client = new Client({ connection: stack.connection });
      try {
        await stack.startWorker();
      } catch (err) {
        // On this shared machine a worker was once killed by a signal from outside before it was ready; one more
        // try, said out loud, instead of losing a long run.
        if (!/exited with SIG/.test(String(err))) throw err;
        console.error(`the worker did not start (${String(err)}); starting it once more`);
        await stack.startWorker();
      }
    } catch (err) {
      // Without this the dev server outlives the failed round and the harness never exits.
      await stack.stop().catch(() => undefined);
      throw err;
    }
    return stack;
  }

  /** Spawns the worker and resolves once it logged that it runs (its workflow bundle is built by then). */
  async startWorker(nodeArgs = this.options.workerNodeArgs): Promise<ChildProcess> {
    const started = performance.now();
    const worker = spawnWorker({
      curators: this.options.compiled?.curators ?? CURATORS,
      cli: this.options.compiled?.cli,
      address: this.server.address,
      cacheDir: this.cacheDir,
      env: {
        ...this.options.workerEnv,
        OPENAI_API_KEY: 'sk-sim',
        OPENAI_BASE_URL: this.options.openaiBaseURL,
        ...(this.options.anthropicBaseURL
          ? { ANTHROPIC_API_KEY: 'sk-ant-sim', ANTHROPIC_BASE_URL: this.options.anthropicBaseURL }
          : {}),
      },
      nodeArgs,
      stderr: 'pipe',
    });
    this.worker = worker;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the worker did not start within 180 s')), 180_000);
      const lines = createInterface({ input: worker.stderr! });
      lines.on('line', (line) => {
        if (/^worker: /.test(line)) {
          clearTimeout(timer);
          resolve();
        } else {
          process.stderr.write(`[worker ${worker.pid}] ${line}\n`);
        }
      });
      worker.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the worker exited with ${code ?? signal} before it was ready`));
      });
    });
    this.workerStartMs = performance.now() - started;
    return worker;
  }

  /** Starts watching CPU and peak memory of the worker and the dev server (peaks reset now). */
  watch() {
    const worker = this.worker?.pid ? watchProcess(this.worker.pid) : undefined;
    const server = this.serverPid ? watchProcess(this.serverPid) : undefined;
    return {
      stop: () => ({ worker: worker?.stop(), devServer: server?.stop() }),
    };
  }

  /** Every run of every workflow in the namespace (this server serves only this round): events and encoded bytes. */
  async histories(): Promise<HistoryFigures> {
    const figures: HistoryFigures = { runs: 0, totalEvents: 0, maxEvents: 0, maxBytes: 0, largest: '' };
    for await (const wf of this.client.workflow.list()) {
      const history = await this.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      const events = history.events?.length ?? 0;
      const bytes = temporal.api.history.v1.History.encode(history as temporal.api.history.v1.IHistory).finish().length;
      figures.runs++;
      figures.totalEvents += events;
      if (events > figures.maxEvents) {
        figures.maxEvents = events;
        figures.largest = `${wf.workflowId} (${wf.runId})`;
      }
      figures.maxBytes = Math.max(figures.maxBytes, bytes);
    }
    return figures;
  }

  /**
   * Activity attempts after the first, from every history: when each retry started and why the attempt before it
   * ended (for resume: a heartbeat timeout names how long a dead worker's batches stay stuck).
   */
  async retriedActivities(): Promise<{ workflowId: string; startedAt: number; attempt: number; lastFailure: string }[]> {
    const found: { workflowId: string; startedAt: number; attempt: number; lastFailure: string }[] = [];
    for await (const wf of this.client.workflow.list()) {
      const history = await this.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      for (const event of history.events ?? []) {
        const started = event.activityTaskStartedEventAttributes;
        if (!started || (started.attempt ?? 1) <= 1) continue;
        const failure = started.lastFailure;
        const timeout = failure?.timeoutFailureInfo?.timeoutType;
        found.push({
          workflowId: wf.workflowId,
          startedAt: tsToMs(event.eventTime),
          attempt: started.attempt ?? 0,
          lastFailure: `${failure?.message ?? ''}${timeout !== undefined && timeout !== null ? ` (timeout type ${temporal.api.enums.v1.TimeoutType[timeout]})` : ''}`,
        });
      }
    }
    return found.sort((a, b) => a.startedAt - b.startedAt);
  }

  /**
   * Workflow tasks that timed out, from every history: when, and which timeout. A workflow task a SIGKILLed worker
   * had taken is only given to another worker when its start-to-close timeout (10 s by default) expires.
   */
  async workflowTaskTimeouts(): Promise<{ workflowId: string; at: number; timeout: string }[]> {
    const found: { workflowId: string; at: number; timeout: string }[] = [];
    for await (const wf of this.client.workflow.list()) {
      const history = await this.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      for (const event of history.events ?? []) {
        const timedOut = event.workflowTaskTimedOutEventAttributes;
        if (!timedOut) continue;
        const type = timedOut.timeoutType;
        found.push({
          workflowId: wf.workflowId,
          at: tsToMs(event.eventTime),
          timeout: type !== undefined && type !== null ? temporal.api.enums.v1.TimeoutType[type] : 'unknown',
        });
      }
    }
    return found.sort((a, b) => a.at - b.at);
  }

  async stopWorker(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.worker) await stopProcess(this.worker, signal);
  }

  async stop(): Promise<void> {
    // The worker drains on SIGTERM (and writes its CPU profile when one was asked for); SIGKILL after 30 s.
    if (this.worker && this.worker.exitCode === null && this.worker.signalCode === null) {
      const worker = this.worker;
      const timer = setTimeout(() => worker.kill('SIGKILL'), 30_000);
      await stopProcess(worker);
      clearTimeout(timer);
    }
    await this.connection?.close().catch(() => undefined);
    await this.server?.stop();
    if (!this.options.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
