/** How the workflows call the activities: timeouts and the retry policy for infrastructure failures. */
import type { ActivityOptions } from '@temporalio/workflow';

/** Failures that no retry can fix; listed so Temporal does not retry them even if thrown as plain errors. */
export const NON_RETRYABLE_TYPES = [
  'UnknownCurator',
  'DatasetError',
  'InvalidOptions',
  'MissingApiKey',
  'AuthenticationFailed',
  'PermissionDenied',
  'NotFound',
  'InsufficientQuota',
];

export function batchActivityOptions(taskQueue?: string): ActivityOptions {
  return {
    taskQueue,
    // A batch waits on rate limits and slow models; the heartbeat, not this, detects a dead worker.
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: '2 minutes',
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      maximumAttempts: 20,
      nonRetryableErrorTypes: NON_RETRYABLE_TYPES,
    },
  };
}

export const planActivityOptions: ActivityOptions = {
  startToCloseTimeout: '1 hour',
  retry: {
    initialInterval: '1s',
    maximumInterval: '30s',
    maximumAttempts: 10,
    nonRetryableErrorTypes: NON_RETRYABLE_TYPES,
  },
};
