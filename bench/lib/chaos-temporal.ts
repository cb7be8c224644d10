/**
 * What the chaos runs ask of Temporal besides the job itself: reaping a dead worker's activities, the job's result
 * through server restarts, and its histories replayed.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { History } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { CurationError, curationResult, type CurationResult } from '../../src/client';
import { curatorWorkflowBundle } from '../../src/worker';
import type { curateWorkflow } from '../../src/workflows';

export interface JobHistory {
  workflowId: string;
  history: History;
}

/** `temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED`; @temporalio/proto is no dependency. */
const PENDING_ACTIVITY_STATE_STARTED = 2;

/** The executions of a job: the job itself and its partitions, every run (continue-as-new keeps the workflow id). */
export function jobExecutionsQuery(jobWorkflowId: string, runningOnly = false): string {
  const query = `WorkflowId STARTS_WITH '${jobWorkflowId.replace(/'/g, "\\'")}'`;
  return runningOnly ? `${query} AND ExecutionStatus = 'Running'` : query;
}

export interface ReapResult {
  /** Started activity attempts of dead workers, failed so that Temporal retries them now. */
  activities: number;
  /** Executions whose sticky task queue was reset. */
  stickyResets: number;
}

/**
 * What a supervisor that saw a worker process die can tell Temporal, which cannot know it before timeouts expire:
 *
 * - Started activity attempts of a dead worker are failed, so Temporal retries them now instead of at the heartbeat
 *   timeout (src/workflows/activity-options.ts), which every kill would otherwise cost in full. Only attempts
 *   started by a process we saw exit are touched, so a live worker never has work pulled from under it; the new
 *   attempt is exactly what the heartbeat timeout would give.
 * - With `resetSticky`, the running executions forget their sticky task queue (what a worker does itself when it
 *   shuts down politely), so their next workflow task goes to the shared queue instead of waiting 10 s (the SDK's
 *   sticky schedule-to-start timeout) on the dead worker's queue. A live worker only loses its cached state.
 */
export async function reapDeadWorkers(
  client: Client,
  jobWorkflowId: string,
  deadIdentities: ReadonlySet<string>,
  resetSticky: boolean
): Promise<ReapResult> {
  const result: ReapResult = { activities: 0, stickyResets: 0 };
  if (deadIdentities.size === 0) return result;
  for await (const execution of client.workflow.list({ query: jobExecutionsQuery(jobWorkflowId, true) })) {
    const { workflowId, runId } = execution;
    if (resetSticky) {
      try {
        await client.workflowService.resetStickyTaskQueue({
          namespace: client.options.namespace,
          execution: { workflowId, runId },
        });
        result.stickyResets++;
      } catch {
        // Closed in the meantime.
      }
    }
    const description = await client.workflow.getHandle(workflowId, runId).describe();
    for (const activity of description.raw.pendingActivities ?? []) {
      if (activity.state !== PENDING_ACTIVITY_STATE_STARTED) continue;
      if (!activity.lastWorkerIdentity || !deadIdentities.has(activity.lastWorkerIdentity)) continue;
      try {
        await client.activity.fail(
          { workflowId, runId, activityId: activity.activityId! },
          new Error(`chaos: worker ${activity.lastWorkerIdentity} was killed while running this attempt`)
        );
        result.activities++;
      } catch {
        // It completed, timed out or was retried in the meantime: nothing left to reap.
      }
    }
  }
  return result;
}

/** Every history of the job, closed runs included, ready for `Worker.runReplayHistories`. */
export async function fetchJobHistories(client: Client, jobWorkflowId: string): Promise<JobHistory[]> {
  const histories: JobHistory[] = [];
  for await (const execution of client.workflow.list({ query: jobExecutionsQuery(jobWorkflowId) })) {
    const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    histories.push({ workflowId: execution.workflowId, history });
  }
  return histories;
}

/** Each history replayed against the current workflow code: how many, and the determinism errors found. */
export async function replayJobHistories(histories: JobHistory[]): Promise<{ replayed: number; errors: string[] }> {
  const bundle = await curatorWorkflowBundle();
  const result = { replayed: 0, errors: [] as string[] };
  for await (const replay of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
    result.replayed++;
    if (replay.error) result.errors.push(`replay of ${replay.workflowId}: ${replay.error.message}`);
  }
  return result;
}

export interface WaitOptions {
  /** ms since the epoch after which waiting fails. */
  deadline: number;
  /** Why waiting should stop now (the chaos broke down), or undefined to go on. */
  stop: () => string | undefined;
  /** Called on each failed wait before it is retried (a server restarting, a connection cut). */
  onRetry: (err: Error) => void;
}

/**
 * The job's result, through server restarts: a broken call is retried on a fresh handle. A job that fails is thrown
 * as its `CurationError` (which may carry the manifest of what it saved).
 */
export async function waitForResult(client: Client, workflowId: string, options: WaitOptions): Promise<CurationResult> {
  for (;;) {
    try {
      return await curationResult(client.workflow.getHandle<typeof curateWorkflow>(workflowId));
    } catch (err) {
      if (err instanceof CurationError || err instanceof WorkflowNotFoundError) throw err;
      const stop = options.stop();
      if (stop) throw new Error(stop);
      if (Date.now() > options.deadline) {
        throw new Error(`the job did not finish by ${new Date(options.deadline).toISOString()}`);
      }
      options.onRetry(err as Error);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
