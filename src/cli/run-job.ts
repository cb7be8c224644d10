/**
 * `curator run`'s wait for its job, and the three ways it can end besides success: the job failed, the user
 * interrupted (Ctrl-C or SIGTERM: the job is kept, one line says how to resume or cancel it), or the Temporal server
 * went away (the job is kept in the server's database: one line says to run the command again).
 */
import { copyFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { nearlyFull } from '../activities/disk-full';
import type { Curator } from '../curator';
import type { LocalStack } from '../embedded';
import { signalExitCode } from '../embedded';
import { curationResult, CurationError, startCuration, supersededJobs, type CurationResult } from '../client';
import { EXIT } from './exit-codes';
import { watchProgress } from './progress';
import { formatSummary } from './summary';

export interface RunJobOptions {
  input: string;
  output?: string;
  batchSize?: number;
  maxConcurrent?: number;
  progress: boolean;
}

const uiLink = (uiUrl: string, workflowId: string) =>
  `${uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`;

/** The command line the user typed, to be typed again to resume. */
const sameCommand = () => ['curator', ...process.argv.slice(2)].map((a) => (/[\s'"]/.test(a) ? `'${a}'` : a)).join(' ');

const serverLostLine = (workflowId: string) =>
  `Lost the Temporal server while waiting for job ${workflowId}; the job is kept in the server's database. ` +
  `Run \`${sameCommand()}\` again to resume it.`;

/** How often, and how many times in a row, the server must fail to answer before the run gives up on it. */
const SERVER_CHECK_MS = 2000;
const SERVER_CHECKS = 3;

const devServerFullLine = (workflowId: string, db: string) =>
  `The disk holding the Temporal dev server's database ${db} is full: the server can no longer record job ` +
  `${workflowId}, which is kept with every answer received. Free space there, then run \`${sameCommand()}\` again ` +
  'to resume it.';

/**
 * Calls `gone` once the Temporal server has not answered a few checks in a row: the SDK's own calls would retry for
 * minutes, then end the process without a word. Calls `full` when the disk of the local dev server's database has no
 * space left: the server then fails every write and the job would wait forever, under pages of the server's errors.
 */
function watchServer(stack: LocalStack, gone: () => void, full: (db: string) => void): NodeJS.Timeout {
  let misses = 0;
  let checking = false;
  const db = stack.devServer ? join(stack.cacheDir, 'temporal', 'dev-server.db') : undefined;
  const timer = setInterval(() => {
    if (db && nearlyFull(dirname(db))) {
      clearInterval(timer);
      return full(db);
    }
    if (checking) return;
    checking = true;
    stack.client.connection
      .withDeadline(Date.now() + SERVER_CHECK_MS, () => stack.client.workflowService.getSystemInfo({}))
      .then(
        () => (misses = 0),
        () => {
          if (++misses >= SERVER_CHECKS) {
            clearInterval(timer);
            gone();
          }
        }
      )
      .finally(() => (checking = false));
  }, SERVER_CHECK_MS);
  return timer.unref();
}

/** Errors of the connection to Temporal rather than of the job: the server stopped or is unreachable. */
function isServerLost(err: unknown): boolean {
  const text = `${(err as Error)?.name} ${(err as Error)?.message} ${String((err as { cause?: unknown })?.cause)}`;
  return /Channel has been shut down|UNAVAILABLE|ECONNREFUSED|connection|ServiceError|Failed to get Workflow/i.test(
    text
  );
}

/** Runs the job to its end on the stack and returns the exit code. */
export async function runJob(stack: LocalStack, curator: Curator | string, opts: RunJobOptions): Promise<number> {
  const started = Date.now();
  const watching = new AbortController();
  const name = typeof curator === 'string' ? curator : curator.name;
  const dataset = resolve(opts.input);
  let workflowId: string | undefined;
  // When the server dies, the SDK's connections give up without settling the wait, and the process would end
  // silently with code 0: its last moment is used to say what happened instead.
  const lost = () => {
    console.error(serverLostLine(workflowId!));
    process.exitCode = EXIT.serverLost;
  };
  try {
    const handle = await startCuration(stack.client, curator, {
      dataset,
      taskQueue: stack.taskQueue,
      cacheDir: stack.cacheDir,
      workerEnv: stack.env,
      batchSize: opts.batchSize,
      maxConcurrentRequests: opts.maxConcurrent,
      searchAttributes: stack.searchAttributes,
    });
    workflowId = handle.workflowId;
    console.error(`Job: ${workflowId}${stack.uiUrl ? ` (${uiLink(stack.uiUrl, workflowId)})` : ''}`);
    // A job of the same curator over the same file, planned with its earlier content or definition, would go on
    // paying in the background for answers no one will read.
    // Terminated, not cancelled: a cancel waits for a worker (and for the heartbeat timeout of batches whose worker
    // was killed), while their answers are already logged in their own run folder either way.
    for (const old of await supersededJobs(stack.client, name, dataset, workflowId, stack.cacheDir).catch(() => [])) {
      await stack.client.workflow.getHandle(old).terminate(`superseded by ${workflowId}`);
      console.error(
        `Stopped ${old}: an earlier job of '${name}' over ${dataset} whose file content or curator has changed ` +
          'since (its answers stay in its own cache).'
      );
    }
    const shown = opts.progress ? watchProgress(stack.client, workflowId, { signal: watching.signal }) : undefined;
    // Aborted on an interrupt: a long poll left open when the connection closes would crash the process.
    const waiting = new AbortController();
    const result = stack.client.withAbortSignal(waiting.signal, () => curationResult(handle));
    // Settled either way, so that a rejection after an interrupt is not reported as unhandled.
    result.catch(() => undefined);
    process.once('beforeExit', lost);
    const watchdog = watchServer(
      stack,
      () => {
        lost();
        // The worker cannot report anything any more; what it logged is on disk, and the rerun reads it from there.
        process.exit(EXIT.serverLost);
      },
      (db) => {
        process.removeListener('beforeExit', lost);
        console.error(devServerFullLine(workflowId!, db));
        process.exit(EXIT.serverLost);
      }
    );
    const ended = await Promise.race([
      result.then((r): { result: CurationResult } => ({ result: r })),
      stack.interrupted.then((signal) => ({ signal })),
    ]);
    process.removeListener('beforeExit', lost);
    clearInterval(watchdog);
    watching.abort();
    await shown;
    if ('signal' in ended) {
      waiting.abort();
      await stack.close();
      console.error(
        `Interrupted (${ended.signal}): job ${workflowId} is saved with every answer received. Resume it with ` +
          `\`${sameCommand()}\`, or cancel it with \`curator cancel ${workflowId}\`.`
      );
      return signalExitCode(ended.signal);
    }
    if (opts.output) await copyFile(ended.result.datasetPath, resolve(opts.output));
    console.log(formatSummary(ended.result, Date.now() - started));
    if (stack.uiUrl) console.log(`Temporal UI: ${uiLink(stack.uiUrl, ended.result.workflowId)}`);
    await stack.close();
    return EXIT.ok;
  } catch (err) {
    process.removeListener('beforeExit', lost);
    watching.abort();
    await stack.close().catch(() => undefined);
    if (err instanceof CurationError) {
      console.error(`curation failed (${err.type}): ${err.message}`);
      return EXIT.jobFailed;
    }
    if (workflowId && isServerLost(err)) {
      console.error(serverLostLine(workflowId));
      return EXIT.serverLost;
    }
    throw err;
  }
}
