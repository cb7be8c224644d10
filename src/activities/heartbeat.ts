/**
 * Activities that run long without a heartbeat of their own (planning a big dataset, writing its Arrow file) beat
 * while they work, so that a worker that dies during them is noticed within the heartbeat timeout and another takes
 * the activity over, instead of after its start-to-close timeout (an hour).
 */
import { heartbeat } from '@temporalio/activity';

/** How often a long activity heartbeats; the SDK sends at most one a second to the server anyway. */
export const HEARTBEAT_EVERY_MS = 1000;

/** Runs `work`, heartbeating `details` every {@link HEARTBEAT_EVERY_MS} until it settles. */
export async function withHeartbeat<T>(details: unknown, work: () => Promise<T>): Promise<T> {
  const beat = setInterval(() => heartbeat(details), HEARTBEAT_EVERY_MS);
  try {
    return await work();
  } finally {
    clearInterval(beat);
  }
}
