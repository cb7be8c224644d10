/**
 * The synchronous transport: one shard of rows through the request pipeline (`src/requests`: format, admit, send,
 * accept, record, parse), each request travelling in a call of its own. Every attempt is recorded in the shard's
 * response log before anything else happens, so a crash, a retry of this activity or a rerun of the job resumes
 * from the log: requests with an answer are never sent again, and cached answers are simply parsed again.
 *
 * A refusal that held back only its own request (no used-up budget) is tried again here after its own hint, within
 * `maxRetries` (`requests/retry-in-shard.ts`). Every other retry is the partition workflow's: the activity reports
 * which requests failed retryably, and the workflow decides when to try them again, durably, with the delay visible
 * in the workflow history.
 */
import { CancelledFailure, Context, cancellationSignal, heartbeat } from '@temporalio/activity';
import { setMaxListeners } from 'node:events';
import type { Curator, Row } from '../curator';
import type { ShardOutcome, ShardTask } from '../types';
import { providerOf } from '../providers';
import type { RequestError } from '../providers/outcome';
import { ProviderFailureError, WorkerStoppingError, type ProviderFailureType } from '../errors';
import { answerAcceptor } from '../requests/accept';
import { answeredFields, completeAnswer, stillToAsk } from '../requests/choices';
import { admit, limitsProbe, queueFirstAt } from '../requests/admit';
import { LIMITS_PROBE_EVENT, type ProbeOutcome } from '../limits/limits-probe';
import { rateBucket } from '../limits/bucket';
import { defaultConcurrencyCeiling } from '../limits/concurrency';
import { formatRequests } from '../requests/format';
import { inlineRequests, recordedRequest } from '../requests/inline';
import { AnswerReuse } from '../requests/reuse';
import { attemptBase } from '../requests/record';
import { retryInShardAfterMs, waitToRetry } from '../requests/retry-in-shard';
import { send } from '../requests/send';
import { summarize } from '../requests/shard-outcome';
import type { ShardLog, AttemptRecord } from '../storage/response-log';
import { defaultRequestTimeoutMs } from '../defaults';
import type { Gate } from '../limits/gate';
import type { ActivityDeps } from './deps';
import {
  keepParsedShard,
  keepRequestShard,
  openRecorder,
  readShard,
  shardStorage,
  withBatchLease,
  type ShardStorage,
} from './shard-storage';

/**
 * How long a batch's requests may wait for admission (a slot, the pace, the window) before the activity hands the
 * rest back to its workflow, which schedules them again. The workflow keeps enough batches outstanding for the
 * largest concurrency, so at a low limit most of them wait: this keeps every activity far from its time limit.
 */
export const ADMISSION_BUDGET_MS = 10 * 60_000;

/**
 * Runs `work` over `items` with at most `limit` in flight, starting each only once it holds one of `places` (the
 * bucket's or the job's, see `queueFirstAt`; the place is then the work's to release): the shard queues once for all
 * its items, in its turn among the other shards, so an item waiting for a place costs nothing but its index, not a
 * call waiting in a queue.
 * Stops taking new items once `stop()` says so (or `signal` aborts). One item failing (a full disk, a cancel) stops
 * the others taking new ones and calls `failed`; the pool settles only once the items already started have finished
 * (their answers are recorded), then fails with the first error.
 */
async function pool<T>(
  items: readonly T[],
  limit: number,
  places: Gate,
  signal: AbortSignal,
  stop: () => boolean,
  work: (item: T) => Promise<void>,
  failed: () => void
) {
  let next = 0;
  let running = 0;
  let failure: { err: unknown } | undefined;
  let wake: (() => void) | undefined;
  const ended = () => {
    running--;
    wake?.();
  };
  const fail = (err: unknown) => {
    failure ??= { err };
    failed();
    ended();
  };
  const more = () => next < items.length && !failure && !stop();
  // Called by the gate with each place: declining it (nothing left to start) leaves it to the next in the queue.
  const start = (): boolean => {
    if (!more() || running >= limit) return false;
    running++;
    void work(items[next++]).then(ended, fail);
    return true;
  };
  const oneEnded = () => new Promise<void>((resolve) => (wake = resolve));
  while (more()) {
    await places.takeEach(Math.min(limit - running, items.length - next), start, signal);
    if (signal.aborted) break;
    if (running >= limit) await oneEnded();
  }
  while (running > 0) await oneEnded();
  if (failure) throw failure.err;
}

/**
 * How long requests in flight may go on after their activity is cancelled (the job cancelled or terminated, the
 * attempt timed out): long enough for answers of ordinary latency to arrive and be recorded, so a rerun reads them
 * instead of paying again; short enough that a cancel with hanging requests ends soon.
 */
export const CANCEL_GRACE_MS = 30_000;

/**
 * The signal every request in flight listens on. A worker stopping for good (its grace time ran out) gives them up
 * at once. Any other cancellation stops new requests at once (the admission signal) and gives those in flight
 * {@link CANCEL_GRACE_MS} to finish and be recorded: they are paid for, and a rerun or the next attempt (which waits
 * for this one's lease) reads them from the log.
 */
function inFlightSignal(): { signal: AbortSignal; dispose: () => void } {
  const ctx = Context.current();
  const gone = new AbortController();
  const cancelled = ctx.cancellationSignal;
  let grace: NodeJS.Timeout | undefined;
  const onCancel = () => {
    if (ctx.cancellationDetails?.workerShutdown) gone.abort(cancelled.reason);
    else grace = setTimeout(() => gone.abort(cancelled.reason), CANCEL_GRACE_MS);
  };
  cancelled.addEventListener('abort', onCancel, { once: true });
  return {
    signal: gone.signal,
    dispose: () => {
      cancelled.removeEventListener('abort', onCancel);
      clearTimeout(grace);
    },
  };
}

/**
 * A signal of one call's own that aborts with the shard's `inFlight`. The SDKs leave their abort listener on the
 * signal they are given once the call is over: on the shard's signal, each answered request's controller (and what it
 * holds) would stay until the shard ends, ~10,000 of them at once in the slow field case (bench/README.md,
 * 2026-11-30 18:20). Tied only for the time of the call, the call's signal is gone with it.
 */
class CallSignal {
  private readonly call = new AbortController();

  constructor(private readonly inFlight: AbortSignal) {
    if (inFlight.aborted) this.call.abort(inFlight.reason);
    // The listener is this object (`handleEvent`), not a closure made per call.
    else inFlight.addEventListener('abort', this, { once: true });
  }

  get signal(): AbortSignal {
    return this.call.signal;
  }

  handleEvent(): void {
    this.call.abort(this.inFlight.reason);
  }

  dispose(): void {
    this.inFlight.removeEventListener('abort', this);
  }
}

/** Whether an attempt holds its job place: given back once it is recorded, or kept until the shard ends. */
interface Place {
  how: 'none' | 'held' | 'kept';
}

export function createProcessShard(deps: ActivityDeps) {
  return async function processShard(task: ShardTask): Promise<ShardOutcome> {
    // A worker new to the run first fetches its copy of the dataset from the object store, however long that takes.
    const beat = setInterval(() => heartbeat({ batch: task.batch, preparing: true }), 1000);
    let curator: Curator;
    try {
      curator = await deps.curatorForRun(task.curator, task.runHash, task.parseHash);
      await deps.checkInput(task.runHash);
    } finally {
      clearInterval(beat);
    }
    const s = await shardStorage(deps, task.runHash);
    return withBatchLease(
      s,
      task.runHash,
      task.batch,
      () => heartbeat({ batch: task.batch, waitingForBatch: true }),
      () => processLeasedShard(deps, s, curator, task)
    );
  };
}

async function processLeasedShard(
  deps: ActivityDeps,
  s: ShardStorage,
  curator: Curator,
  task: ShardTask
): Promise<ShardOutcome> {
  const { rows, first, log } = await readShard(s, task);

  const known = task.retry ? new Map(task.retry.map((r) => [r.index, r.attempts])) : undefined;
  const candidates = known ? [...known.keys()] : rows.map((_, k) => first + k);
  const toCall = candidates.filter((i) => {
    const s = log.requests.get(i);
    if (s?.success) return false;
    // An attempt beyond what the workflow knows was made before a crash: report it instead of paying again.
    return known ? (s?.attempts ?? 0) <= (known.get(i) ?? 0) : (s?.attempts ?? 0) === 0;
  });

  let retried = 0;
  if (toCall.length > 0) {
    let fatal: { index: number; error: RequestError } | undefined;
    try {
      ({ fatal, retried } = await callRequests(deps, s, curator, task, rows, first, toCall, log));
    } catch (err) {
      // Cancelled or failed midway: what was answered still reaches the dataset of a partial result.
      await keepParsedShard(s, curator, task, rows, first, log);
      throw err;
    }
    if (fatal) {
      await keepParsedShard(s, curator, task, rows, first, log);
      throw new ProviderFailureError(
        fatal.error.type as ProviderFailureType,
        `curator '${curator.name}': request ${fatal.index} failed with ${fatal.error.type}${
          fatal.error.status ? ` (HTTP ${fatal.error.status})` : ''
        }, which every other request would hit too, so the job stops: ${fatal.error.message}`
      );
    }
  }
  const parsed = await keepParsedShard(s, curator, task, rows, first, log);
  const outcome = summarize(task, rows, first, log, parsed);
  return retried > 0 ? { ...outcome, retriedInShard: retried } : outcome;
}

async function callRequests(
  deps: ActivityDeps,
  s: ShardStorage,
  curator: Curator,
  task: ShardTask,
  rows: Row[],
  first: number,
  toCall: number[],
  log: ShardLog
): Promise<{ fatal?: { index: number; error: RequestError }; retried: number }> {
  const client = deps.providers.get(curator);
  const bucket = deps.limiters.get(curator, client.baseURL, task.maxConcurrentRequests, providerOf(curator));
  const job = deps.limiters.jobSlots<{ index: number; error: RequestError }>(task.jobId, task.maxConcurrentRequests);
  const jobSlots = job.gate;
  const logger = Context.current().log;
  const probe = deps.probeLimits
    ? limitsProbe(
        client,
        curator,
        (text) => deps.providers.redact(text),
        (line) => logger.info(line)
      )
    : undefined;
  // Kept out of the paid requests' accounting, but in the run's history (`curator show`).
  const probed = (outcome: ProbeOutcome) =>
    void s.plane.metadata
      .event(task.runHash, LIMITS_PROBE_EVENT, null, { bucket: rateBucket(curator, client.baseURL), outcome })
      .catch(() => undefined);
  const accept = answerAcceptor(curator);
  const timeoutMs = curator.backend?.requestTimeoutMs ?? defaultRequestTimeoutMs(curator.model);
  const signal = cancellationSignal();
  // Every request in flight listens on this one signal.
  const { signal: inFlight, dispose: disposeInFlight } = inFlightSignal();
  setMaxListeners(0, inFlight);
  // A cancelled activity or a stopping worker no longer admits requests but lets those already sent finish; neither
  // does a shard whose admission budget ran out (its rest goes back to the workflow unsent), nor one whose request
  // failed for good (a full disk).
  const halted = new AbortController();
  const admission = AbortSignal.any([signal, deps.drain, halted.signal, AbortSignal.timeout(ADMISSION_BUDGET_MS)]);
  setMaxListeners(0, admission);
  // One of each per shard, not per request: thousands of requests wait or are in flight at once.
  // The shard's requests queue first for the tighter of the bucket's places in flight and the job's.
  const queueFirst = queueFirstAt(task.maxConcurrentRequests, defaultConcurrencyCeiling());
  const admitting = { job, bucket, signal: admission, probe: probe && { ...probe, ended: probed }, first: queueFirst };
  const sending = { timeoutMs, redact: (text: string) => deps.providers.redact(text) };

  const { requests, errors } = formatRequests(curator, rows, first, toCall);
  await keepRequestShard(
    s,
    task.batch,
    !task.retry,
    [...requests].map(([i, r]) => [i, recordedRequest(r)])
  );
  const provider = providerOf(curator);
  await inlineRequests(requests, errors, provider.media, provider.name);

  const recorder = await openRecorder(s, task, log);
  const reuse = new AnswerReuse(s.plane.objects, curator, client.baseURL, { run: task.runHash, job: task.jobId });
  let fatal: { index: number; error: RequestError } | undefined;
  let done = 0;
  /** Attempts made again within this activity (`retry-in-shard.ts`). */
  let retried = 0;
  /** Places of requests cancelled in flight, given back when the batch ends. */
  let kept = 0;
  // Requests can wait long on a paused or full rate limit: the heartbeat keeps the activity alive meanwhile, and is
  // how a cancellation reaches it. Once a second and not after every request: the server sees at most one a second
  // anyway (maxHeartbeatThrottleInterval), and each call costs an encode and a native call (~7% of the worker's CPU
  // at 600 requests/s when made per request).
  const beat = setInterval(() => heartbeat({ batch: task.batch, done, of: toCall.length }), 1000);
  try {
    // A request with choices answered asks for fewer: no other run's answer is the whole of it.
    const whole = new Map([...requests].filter(([i]) => !log.state(i).answered));
    const reused = await reuse.reuse(whole, recorder, (i) => rows[i - first]);
    done += reused.size;
    await pool(
      toCall.filter((i) => !reused.has(i)),
      task.concurrency,
      queueFirst === 'bucket' ? bucket.limiter.slots : jobSlots,
      admission,
      // Stop taking new requests at once when cancelled (or orphaned by a terminated job): only those in flight finish.
      () => fatal !== undefined || admission.aborted,
      runRequest,
      () => halted.abort()
    );
  } finally {
    clearInterval(beat);
    disposeInFlight();
    for (; kept > 0; kept--) jobSlots.release();
    job.done();
    await recorder.close();
  }
  if (deps.drain.aborted && !fatal && done < toCall.length) {
    // The answers that came are logged; the rest wait for the job's next worker.
    throw new WorkerStoppingError(
      `the worker is stopping: ${done} of ${toCall.length} requests of batch ${task.batch} settled, the rest resume later`
    );
  }
  return { fatal, retried };

  /**
   * Request `i`, started holding the place its shard queues for first (`queueFirst`); a refusal that held back only this
   * request is tried again here, after its own hint (`retry-in-shard.ts`), taking its places again.
   */
  async function runRequest(i: number): Promise<void> {
    for (let firstHeld = true; ; firstHeld = false) {
      // The job's place is held until the attempt is in the log: the answers a crash can make us pay for twice
      // stay within the job's maxConcurrentRequests.
      const place: Place = { how: 'none' };
      let wait: number | undefined;
      try {
        wait = await attemptRequest(i, place, firstHeld);
      } finally {
        if (place.how === 'held') jobSlots.release();
        else if (place.how === 'kept') kept++;
      }
      if (wait === undefined || !(await waitToRetry(wait, admission)) || fatal !== undefined) return;
      retried++;
    }
  }

  /**
   * One attempt of request `i` (`firstHeld`: holding its shard's first place); resolves to the wait before trying it
   * again in this shard, if it should be.
   */
  async function attemptRequest(i: number, place: Place, firstHeld: boolean): Promise<number | undefined> {
    const base = attemptBase(i, task.jobId, log.state(i).attempts + 1);
    const request = requests.get(i);
    let record: AttemptRecord;
    let refusal: { error: RequestError; alone: boolean } | undefined;
    if (!request) {
      // Never sent: the place the pool took for it goes back.
      if (firstHeld && queueFirst === 'bucket') bucket.limiter.releaseSlot();
      else if (firstHeld) place.how = 'held';
      record = { ...base, ok: false, error: errors.get(i)! };
    } else {
      const permit = await admit(request, admitting, signal, firstHeld, () => (place.how = 'held'));
      // Out of admission time: never sent, so nothing is recorded; the workflow schedules it again.
      if (!permit) return undefined;
      // The job stopped while this request waited (a fatal error of another request): it is not sent.
      const stopped = job.stopped();
      if (fatal !== undefined || stopped) {
        permit.unused();
        fatal ??= stopped?.fatal;
        return undefined;
      }
      const answered = log.state(i).answered;
      const call = new CallSignal(inFlight);
      let sent: Awaited<ReturnType<typeof send>>;
      try {
        sent = await send(client, bucket, permit, stillToAsk(request, answered), { ...sending, signal: call.signal });
      } finally {
        call.dispose();
      }
      if (!sent.ok && sent.cancelled) {
        // Given up (the worker stops, or the cancel's grace ran out): sent and maybe paid, but not in the log. Its
        // place stays taken until the shard ends, so the other shards of the job, not yet told of the cancellation,
        // cannot add to what a rerun pays twice.
        place.how = 'kept';
        // The SDK's abort error would report a cancelled job as failed.
        throw new CancelledFailure('cancelled while requests were in flight');
      }
      if (!sent.ok) refusal = sent;
      record = sent.ok
        ? { ...base, ...accept(completeAnswer(sent.answer, answered)) }
        : { ...base, ok: false, error: sent.error, ...answeredFields(answered, sent.answered) };
    }
    // Known before the append finishes, so no request of the shard is sent after it.
    if (record.error?.fatal && !fatal) {
      fatal = { index: i, error: record.error };
      job.stop(fatal);
    }
    await recorder.record(record);
    await reuse.remember(request, record);
    const again = refusal && retryInShardAfterMs(refusal, log.state(i).attempts, task.maxRetries);
    if (again === undefined) done++;
    return again;
  }
}
