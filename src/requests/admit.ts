/**
 * Stage "admit": a formatted request waits for a place among its bucket's requests in flight (the concurrency the
 * limits and latency call for) and among its job's (`maxConcurrentRequests` across the job's shards in this
 * process), then for the rate limiter's pace and window. A request of a provider batch is not admitted one by one:
 * the provider queues the batch. The first request of a bucket with no limit known also starts the bucket's limits
 * probe (`limits/limits-probe.ts`).
 */
import type { Curator } from '../curator';
import type { BucketLimiter, JobSlots, Permit } from '../limits';
import type { ProbeOptions, ProbeOutcome } from '../limits/limits-probe';
import { classifierOf } from '../providers/outcome';
import type { ProviderClient, ProviderRequest } from '../providers/types';

/** How the bucket's limits probe is sent, and who hears how it ended. */
export interface AdmissionProbe extends ProbeOptions {
  ended?: (outcome: ProbeOutcome) => void;
}

export interface Admission {
  /** The job's places in this process; the caller releases the one taken once the attempt is recorded. */
  job: JobSlots<unknown>;
  bucket: BucketLimiter;
  /** Aborts the wait: cancellation, a stopping worker, or the shard's admission budget running out. */
  signal: AbortSignal;
  /**
   * The place taken first, where the shard's requests queue: the bucket's (the concurrency its limits and latency
   * call for), unless the job allows fewer in flight than the bucket ever would (see {@link queueFirstAt}).
   */
  first: 'bucket' | 'job';
  /** The bucket's limits probe (see {@link limitsProbe}); none is sent without it. */
  probe?: AdmissionProbe;
}

/**
 * Where a job's requests queue first: at the tighter of the two gates, so that requests beyond what can be in flight
 * wait as indices in a shard's queue, not as calls holding a place. A job's `maxConcurrentRequests` below the bucket's
 * ceiling may bind before the bucket's target does; otherwise the bucket's target binds.
 */
export function queueFirstAt(maxConcurrentRequests: number, bucketCeiling: number): 'bucket' | 'job' {
  return maxConcurrentRequests < bucketCeiling ? 'job' : 'bucket';
}

/** Whether the worker's environment turns limits probes off: `CURATOR_PROBE_LIMITS=off` (or `0`, `false`). */
export function probesOff(env: NodeJS.ProcessEnv): boolean {
  return ['off', '0', 'false'].includes((env.CURATOR_PROBE_LIMITS ?? '').trim().toLowerCase());
}

/**
 * The limits probe of `curator`'s bucket through `client`, or undefined when the client cannot send one or the
 * curator turned probes off (`backend.probeLimits: false`). Its errors are described as a call's are classified.
 */
export function limitsProbe(
  client: ProviderClient,
  curator: Pick<Curator, 'model' | 'backend'>,
  redact: (text: string) => string,
  log: (line: string) => void
): ProbeOptions | undefined {
  if (curator.backend?.probeLimits === false || !client.probeLimits) return undefined;
  const classify = classifierOf(client);
  return {
    send: (signal, timeoutMs) => client.probeLimits!(curator.model, { signal, timeoutMs }),
    log,
    describe: (err) => {
      const error = classify(err);
      return `${error.type}${error.status ? ` (HTTP ${error.status})` : ''}: ${redact(error.message)}`;
    },
  };
}

/**
 * Waits until `request` may be sent: for a place among its bucket's requests in flight, and for one among its job's,
 * then for the pace. The two places are taken in the order `first` says, the same for every request of a shard, so
 * no two requests each hold one while waiting for the other's. `firstHeld`: the caller took the first place already
 * (its shard queues for it once for many requests, see `Gate.takeEach`). `held` is called as soon as the job's place
 * is held, so the caller gives it back whatever happens next; the bucket's place is the permit's, or is given back
 * here. Resolves to the limiter's permit, or to undefined when admission was aborted without the activity being
 * cancelled (the request was never sent and nothing is recorded: the workflow schedules it again).
 */
export async function admit(
  request: ProviderRequest,
  { job, bucket, signal, probe, first }: Admission,
  cancelled: AbortSignal,
  firstHeld: boolean,
  held: () => void
): Promise<Permit | undefined> {
  const limiter = bucket.limiter;
  let slot = false;
  try {
    // A gate with room answers at once, without a promise: most requests pass both without waiting.
    if (first === 'bucket') {
      if (!firstHeld) await limiter.slots.take(signal);
      slot = true;
      const place = job.gate.take(signal);
      if (place) await place;
      held();
    } else {
      if (!firstHeld) await job.gate.take(signal);
      held();
      const place = limiter.slots.take(signal);
      if (place) await place;
      slot = true;
    }
    if (probe) {
      const ended = probe.ended;
      const probing = bucket.probe.start(probe);
      if (probing && ended) void probing.then(ended);
    }
    // The limiter has the slot from here, and gives it back if no permit comes.
    slot = false;
    return await limiter.acquire(() => bucket.estimate(request), signal, true);
  } catch (err) {
    if (slot) limiter.releaseSlot();
    if (!cancelled.aborted && signal.aborted) return undefined;
    throw err;
  }
}
