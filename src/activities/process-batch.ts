/**
 * One batch of requests through stages 1 to 4: format, call, accept, parse. Every attempt is appended to the batch's
 * response log before anything else happens, so a crash, a retry of this activity or a rerun of the job resumes
 * from the log: requests with an answer are never sent again, and cached answers are simply parsed again.
 *
 * Retries of single requests are not made here: the activity reports which requests failed retryably, and the
 * partition workflow decides when to try them again, durably, with the delay visible in the workflow history.
 */
import { CancelledFailure, cancellationSignal, heartbeat } from '@temporalio/activity';
import { setMaxListeners } from 'node:events';
import type { Curator, Row } from '../curator';
import type { BatchOutcome, BatchTask, RetryableFailure } from '../manifests';
import { classifyError, type RequestError } from '../providers/outcome';
import type { ProviderRequest } from '../providers/types';
import { acceptAnswer } from '../requests/answer';
import { DEFAULT_INVALID_FINISH_REASONS, defaultRequestTimeoutMs } from '../defaults';
import { buildRequest } from '../requests/format';
import { PromptError, ProviderFailureError, WorkerStoppingError, type ProviderFailureType } from '../errors';
import { resolveResponseFormat } from '../schema';
import { INVALID_ROW_KEY, readBatchRows, readInputIndex } from '../storage/dataset';
import { exists, writeFileAtomic } from '../storage/jsonl';
import { BatchLease } from '../storage/batch-lease';
import { BatchLog, ResponseLogWriter, type AttemptRecord } from '../storage/response-log';
import type { ActivityDeps } from './deps';
import { type ParsedLine, tallyBatch, writeParsedShard } from './parse-stage';

/**
 * How long a batch's requests may wait for admission (a slot, the pace, the window) before the activity hands the
 * rest back to its workflow, which schedules them again. The workflow keeps enough batches outstanding for the
 * largest concurrency, so at a low limit most of them wait: this keeps every activity far from its time limit.
 */
export const ADMISSION_BUDGET_MS = 10 * 60_000;

/** Runs `work` over `items` with at most `limit` in flight; stops taking new items once `stop()` says so. */
async function pool<T>(items: readonly T[], limit: number, stop: () => boolean, work: (item: T) => Promise<void>) {
  let next = 0;
  // One lane failing (a full disk, a cancel) fails the batch: the others must not go on sending requests meanwhile.
  let failed = false;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    try {
      while (next < items.length && !failed && !stop()) await work(items[next++]);
    } catch (err) {
      failed = true;
      throw err;
    }
  });
  await Promise.all(lanes);
}

export function createProcessBatch(deps: ActivityDeps) {
  return async function processBatch(task: BatchTask): Promise<BatchOutcome> {
    const curator = await deps.curatorForRun(task.curator, task.runHash, task.parseHash);
    await deps.checkInput(task.runHash);
    const run = deps.cache.run(task.runHash);
    // The log must be read only once no other activity (of a terminated job) is still appending to it.
    const lease = await BatchLease.acquire(run.lease(task.batch), cancellationSignal(), () =>
      heartbeat({ batch: task.batch, waitingForBatch: true })
    );
    try {
      return await processLeasedBatch(deps, curator, task);
    } finally {
      await lease.release();
    }
  };
}

async function processLeasedBatch(deps: ActivityDeps, curator: Curator, task: BatchTask): Promise<BatchOutcome> {
  const run = deps.cache.run(task.runHash);
  const index = await readInputIndex(run);
  const rows = await readBatchRows(run, index, task.batch);
  const first = task.batch * index.batchSize;
  const logPath = run.responses(task.batch);
  const log = await BatchLog.load(logPath, task.jobId);

  const known = task.retry ? new Map(task.retry.map((r) => [r.index, r.attempts])) : undefined;
  const candidates = known ? [...known.keys()] : rows.map((_, k) => first + k);
  const toCall = candidates.filter((i) => {
    const s = log.requests.get(i);
    if (s?.success) return false;
    // An attempt beyond what the workflow knows was made before a crash: report it instead of paying again.
    return known ? (s?.attempts ?? 0) <= (known.get(i) ?? 0) : (s?.attempts ?? 0) === 0;
  });

  if (toCall.length > 0) {
    let fatal: Awaited<ReturnType<typeof callRequests>>;
    try {
      fatal = await callRequests(deps, curator, task, rows, first, toCall, log);
    } catch (err) {
      // Cancelled or failed midway: what was answered still reaches the dataset of a partial result.
      await writeParsedShard(deps, curator, task, rows, first, log);
      throw err;
    }
    if (fatal) {
      await writeParsedShard(deps, curator, task, rows, first, log);
      throw new ProviderFailureError(
        fatal.error.type as ProviderFailureType,
        `curator '${curator.name}': request ${fatal.index} failed with ${fatal.error.type}${
          fatal.error.status ? ` (HTTP ${fatal.error.status})` : ''
        }, which every other request would hit too, so the job stops: ${fatal.error.message}`
      );
    }
  }
  const parsed = await writeParsedShard(deps, curator, task, rows, first, log);
  return summarize(task, rows, first, log, parsed);
}

async function callRequests(
  deps: ActivityDeps,
  curator: Curator,
  task: BatchTask,
  rows: Row[],
  first: number,
  toCall: number[],
  log: BatchLog
): Promise<{ index: number; error: RequestError } | undefined> {
  const client = deps.providers.get(curator);
  const bucket = deps.limiters.get(curator, client.baseURL, task.maxConcurrentRequests);
  const job = deps.limiters.jobSlots<{ index: number; error: RequestError }>(task.jobId, task.maxConcurrentRequests);
  const jobSlots = job.gate;
  const format = resolveResponseFormat(curator.responseFormat);
  const invalidFinishReasons = curator.backend?.invalidFinishReasons ?? DEFAULT_INVALID_FINISH_REASONS;
  const timeoutMs = curator.backend?.requestTimeoutMs ?? defaultRequestTimeoutMs(curator.model);
  const signal = cancellationSignal();
  // Every request in flight listens for cancellation on this one signal.
  setMaxListeners(0, signal);
  // A stopping worker no longer admits requests but lets those already sent finish; neither does a batch whose
  // admission budget ran out (its rest goes back to the workflow unsent).
  const admission = AbortSignal.any([signal, deps.drain, AbortSignal.timeout(ADMISSION_BUDGET_MS)]);
  setMaxListeners(0, admission);
  const run = deps.cache.run(task.runHash);

  // Stage 1, format: a row that cannot be formatted fails alone, with the reason.
  const requests = new Map<number, ProviderRequest | RequestError>();
  for (const i of toCall) {
    const row = rows[i - first];
    if (typeof row[INVALID_ROW_KEY] === 'string') {
      requests.set(i, { type: 'InvalidRow', message: row[INVALID_ROW_KEY], retryable: false });
      continue;
    }
    try {
      requests.set(i, buildRequest(curator, row));
    } catch (err) {
      if (!(err instanceof PromptError)) throw err;
      requests.set(i, { type: 'PromptError', message: `row ${i}: ${err.message}`, retryable: false });
    }
  }
  const requestShard = run.requests(task.batch);
  if (!task.retry && !(await exists(requestShard))) {
    const lines = [...requests]
      .filter(([, r]) => 'messages' in r)
      .map(([i, request]) => JSON.stringify({ i, request }));
    await writeFileAtomic(requestShard, lines.join('\n') + '\n');
  }

  const writer = await ResponseLogWriter.open(run.responses(task.batch));
  let fatal: { index: number; error: RequestError } | undefined;
  let done = 0;
  /** Places of requests cancelled in flight, given back when the batch ends. */
  let kept = 0;
  // Requests can wait long on a paused or full rate limit: the heartbeat keeps the activity alive meanwhile, and is
  // how a cancellation reaches it. Once a second and not after every request: the server sees at most one a second
  // anyway (maxHeartbeatThrottleInterval), and each call costs an encode and a native call (~7% of the worker's CPU
  // at 600 requests/s when made per request).
  const beat = setInterval(() => heartbeat({ batch: task.batch, done, of: toCall.length }), 1000);
  try {
    await pool(
      toCall,
      task.concurrency,
      // Stop taking new requests at once when cancelled (or orphaned by a terminated job): only those in flight finish.
      () => fatal !== undefined || admission.aborted,
      async (i) => {
        // The job's place is held until the attempt is in the log: the answers a crash can make us pay for twice
        // stay within the job's maxConcurrentRequests.
        let slot = 'none' as 'none' | 'held' | 'kept';
        try {
          await attemptRequest(i, (how) => (slot = how));
        } finally {
          if (slot === 'held') jobSlots.release();
          else if (slot === 'kept') kept++;
        }
      }
    );
  } finally {
    clearInterval(beat);
    for (; kept > 0; kept--) jobSlots.release();
    job.done();
    await writer.close();
  }
  if (deps.drain.aborted && !fatal && done < toCall.length) {
    // The answers that came are logged; the rest wait for the job's next worker.
    throw new WorkerStoppingError(
      `the worker is stopping: ${done} of ${toCall.length} requests of batch ${task.batch} settled, the rest resume later`
    );
  }
  return fatal;

  async function attemptRequest(i: number, slot: (how: 'held' | 'kept') => void): Promise<void> {
    const attempt = log.state(i).attempts + 1;
    const base = { i, job: task.jobId, attempt, at: new Date().toISOString() };
    const request = requests.get(i)!;
    let record: AttemptRecord;
    if (!('messages' in request)) {
      record = { ...base, ok: false, error: request };
    } else {
      // Stage 2: wait for a place among the job's requests in flight and for the rate limiter, then call.
      let permit;
      try {
        await jobSlots.take(admission);
        slot('held');
        permit = await bucket.limiter.acquire(() => bucket.estimate(request), admission);
      } catch (err) {
        // Out of admission time: never sent, so nothing is recorded; the workflow schedules it again.
        if (!signal.aborted && admission.aborted) return;
        throw err;
      }
      // The job stopped while this request waited (a fatal error of another request): it is not sent.
      const stopped = job.stopped();
      if (fatal !== undefined || stopped) {
        permit.unused();
        fatal ??= stopped?.fatal;
        return;
      }
      try {
        const answer = await client.call(request, { signal, timeoutMs });
        permit.answered(answer.usage, answer.headers);
        bucket.answered = true;
        bucket.outputs.observe(answer.usage.output);
        // Stage 3: accept or reject the answer.
        const accepted = acceptAnswer(answer, format, invalidFinishReasons);
        const shared = { finish: answer.rawFinishReason, usage: answer.usage, requestId: answer.requestId };
        record = accepted.ok
          ? { ...base, ...shared, ok: true, value: accepted.value }
          : { ...base, ...shared, ok: false, error: accepted.error };
      } catch (err) {
        const headers = (err as { headers?: Headers }).headers;
        const error = classifyError(err);
        if (error.type === 'RateLimited') permit.rateLimited(error.retryAfterMs, headers);
        else if (error.type === 'Overloaded' || error.status === 503) permit.congested(headers);
        else permit.failed(headers);
        if (signal.aborted) {
          // Sent and maybe paid, but not in the log: its place stays taken until the batch ends, so the other
          // batches of the job, not yet told of the cancellation, cannot add to what a rerun pays twice.
          slot('kept');
          // The SDK's abort error would report a cancelled job as failed.
          throw new CancelledFailure('cancelled while requests were in flight');
        }
        error.message = deps.providers.redact(error.message);
        // Nothing ever answered and the address refuses or does not resolve: a wrong base URL, not a blip.
        if (
          error.type === 'ConnectionError' &&
          !bucket.answered &&
          /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|bad port/.test(error.message)
        ) {
          error.type = 'EndpointUnreachable';
          error.message = `cannot reach ${client.baseURL}: ${error.message}`;
          error.retryable = false;
          error.fatal = true;
        }
        record = { ...base, ok: false, error };
      }
    }
    // Known before the append finishes, so no request of the batch is sent after it.
    if (record.error?.fatal && !fatal) {
      fatal = { index: i, error: record.error };
      job.stop(fatal);
    }
    await writer.append(record);
    log.apply(record, task.jobId);
    done++;
  }
}

function summarize(task: BatchTask, rows: Row[], first: number, log: BatchLog, parsed: ParsedLine[]): BatchOutcome {
  const retryable: RetryableFailure[] = [];
  const tally = tallyBatch(task, rows, first, log, parsed, ({ index, attempts, type, retryAfterMs }) => {
    const failure: RetryableFailure = { index, attempts, type };
    if (retryAfterMs !== undefined) failure.retryAfterMs = retryAfterMs;
    retryable.push(failure);
  });
  return { ...tally, retryable };
}
