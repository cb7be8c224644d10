/** How the workflows call the activities: timeouts and the retry policy for infrastructure failures. */
import { ActivityCancellationType, type ActivityOptions } from '@temporalio/workflow';
import { NON_RETRYABLE_TYPES } from '../errors';

/** Retries for infrastructure failures (a worker lost, a network blip), not for answers: those are per request. */
const INFRASTRUCTURE_RETRY = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  maximumAttempts: 20,
  nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES],
} as const satisfies ActivityOptions['retry'];

export function shardActivityOptions(taskQueue?: string): ActivityOptions {
  return {
    taskQueue,
    // A batch waits on rate limits and slow models; the heartbeat, not this, detects a dead worker.
    startToCloseTimeout: '2 hours',
    // The batch heartbeats every second; a worker that dies is noticed within this, and
    // its batches go to another worker then. Ten missed heartbeats: short enough that a SIGKILLed worker costs
    // seconds, long enough for a worker's event loop stalled by GC or a loaded machine.
    heartbeatTimeout: '10 seconds',
    // A cancelled batch first saves what it has: the job's partial dataset must include it.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: INFRASTRUCTURE_RETRY,
  };
}

/** Batch mode, submitting and downloading: a file upload or a results download of up to a few hundred MB. */
export function providerBatchActivityOptions(taskQueue?: string): ActivityOptions {
  return { taskQueue, startToCloseTimeout: '1 hour', heartbeatTimeout: '1 minute', retry: INFRASTRUCTURE_RETRY };
}

/** Batch mode, one status request per provider batch: short. */
export function pollActivityOptions(taskQueue?: string): ActivityOptions {
  return { taskQueue, startToCloseTimeout: '2 minutes', retry: INFRASTRUCTURE_RETRY };
}

/** Planning and finalizing: they heartbeat while they work (a big dataset takes minutes), so a lost worker costs this. */
export const planActivityOptions: ActivityOptions = {
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '1 minute',
  retry: {
    initialInterval: '1s',
    maximumInterval: '30s',
    maximumAttempts: 10,
    nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES],
  },
};
