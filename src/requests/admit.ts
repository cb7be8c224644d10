/**
 * Stage "admit": a formatted request waits for a place among its job's requests in flight (`maxConcurrentRequests`
 * across the job's shards in this process), then for the rate limiter of its bucket (slots, pace, window). A request
 * of a provider batch is not admitted one by one: the provider queues the batch. The first request of a bucket with
 * no limit known also starts the bucket's limits probe (`limits/limits-probe.ts`).
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
  /** The bucket's limits probe (see {@link limitsProbe}); none is sent without it. */
  probe?: AdmissionProbe;
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
 * Waits until `request` may be sent. `held` is called as soon as the job's place is taken, so the caller gives it
 * back whatever happens next; without `held` the caller holds the place already (it took it before starting the
 * request, see `Gate.takeEach`). Resolves to the limiter's permit, or to undefined when admission was aborted
 * without the activity being cancelled (the request was never sent and nothing is recorded: the workflow schedules
 * it again).
 */
export async function admit(
  request: ProviderRequest,
  { job, bucket, signal, probe }: Admission,
  cancelled: AbortSignal,
  held?: () => void
): Promise<Permit | undefined> {
  try {
    if (held) {
      await job.gate.take(signal);
      held();
    }
    if (probe) {
      const ended = probe.ended;
      const probing = bucket.probe.start(probe);
      if (probing && ended) void probing.then(ended);
    }
    return await bucket.limiter.acquire(() => bucket.estimate(request), signal);
  } catch (err) {
    if (!cancelled.aborted && signal.aborted) return undefined;
    throw err;
  }
}
