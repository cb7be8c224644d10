/**
 * Stage "admit": a formatted request waits for a place among its job's requests in flight (`maxConcurrentRequests`
 * across the job's shards in this process), then for the rate limiter of its bucket (slots, pace, window). A request
 * of a provider batch is not admitted one by one: the provider queues the batch.
 */
import type { BucketLimiter, JobSlots, Permit } from '../limits';
import type { ProviderRequest } from '../providers/types';

export interface Admission {
  /** The job's places in this process; the caller releases the one taken once the attempt is recorded. */
  job: JobSlots<unknown>;
  bucket: BucketLimiter;
  /** Aborts the wait: cancellation, a stopping worker, or the shard's admission budget running out. */
  signal: AbortSignal;
}

/**
 * Waits until `request` may be sent. `held` is called as soon as the job's place is taken, so the caller gives it
 * back whatever happens next. Resolves to the limiter's permit, or to undefined when admission was aborted without
 * the activity being cancelled (the request was never sent and nothing is recorded: the workflow schedules it again).
 */
export async function admit(
  request: ProviderRequest,
  { job, bucket, signal }: Admission,
  cancelled: AbortSignal,
  held: () => void
): Promise<Permit | undefined> {
  try {
    await job.gate.take(signal);
    held();
    return await bucket.limiter.acquire(() => bucket.estimate(request), signal);
  } catch (err) {
    if (!cancelled.aborted && signal.aborted) return undefined;
    throw err;
  }
}
