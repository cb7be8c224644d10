/**
 * Stage "admit": a formatted request waits for a place among its job's requests in flight (`maxConcurrentRequests`
 * across the job's shards in this process), then for the rate limiter of its bucket (slots, pace, window). A request
 * of a provider batch is not admitted one by one: the provider queues the batch.
 *
 * The places (the job's, then a slot of the bucket) can be taken first on their own, with {@link enter}: a request
 * waiting there is one waiter in two first-come, first-served queues, where one that waits inside {@link admit} holds
 * the whole chain of its attempt. Thousands wait at once when the rate, not the slots, bounds.
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
 * Waits for the job's place and then a slot of the bucket, and holds both. Resolves to true when held: the caller
 * passes `entered` to {@link admit}, which owns the bucket's slot from then on, and gives the job's place back once
 * the attempt is recorded. Resolves to false when admission was aborted without the activity being cancelled
 * (nothing is held; the request is never sent and the workflow schedules it again).
 */
export async function enter({ job, bucket, signal }: Admission, cancelled: AbortSignal): Promise<boolean> {
  let jobPlace = false;
  try {
    await job.gate.take(signal);
    jobPlace = true;
    await bucket.limiter.takeSlot(signal);
    return true;
  } catch (err) {
    if (jobPlace) job.gate.release();
    if (!cancelled.aborted && signal.aborted) return false;
    throw err;
  }
}

/**
 * Waits until `request` may be sent. `held` is called as soon as the job's place is taken, so the caller gives it
 * back whatever happens next; with `entered`, both places were taken by {@link enter} already. Resolves to the
 * limiter's permit, or to undefined when admission was aborted without the activity being cancelled (the request was
 * never sent and nothing is recorded: the workflow schedules it again).
 */
export async function admit(
  request: ProviderRequest,
  { job, bucket, signal }: Admission,
  cancelled: AbortSignal,
  held: () => void,
  entered = false
): Promise<Permit | undefined> {
  try {
    if (!entered) await job.gate.take(signal);
    held();
    return await bucket.limiter.acquire(() => bucket.estimate(request), signal, entered);
  } catch (err) {
    if (!cancelled.aborted && signal.aborted) return undefined;
    throw err;
  }
}
