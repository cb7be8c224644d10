/**
 * The curation job: plan, run the partitions as child workflows with a bounded window, then finalize. A job whose
 * finished dataset exists returns it from the plan step without running anything.
 *
 * A partition that fails (a bad key, a missing model) stops the job from starting more, but whatever finished is
 * still assembled into a partial dataset before the job reports the failure: nothing paid for is lost. A cancelled
 * job does the same, then ends as cancelled with the partial result's manifest in its memo (`partialResult`);
 * starting it again continues where it stopped.
 */
import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  continueAsNew,
  isCancellation,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { DEFAULT_BATCHES_PER_PARTITION } from '../defaults';
import { IncompleteResponsesError, rootCause, toApplicationFailure } from '../errors';
import {
  CuratorModel,
  CuratorName,
  CuratorRowsDone,
  CuratorRowsTotal,
  CuratorRunHash,
  CuratorStatus,
} from '../search-attributes';
import type { CurateJobInput, CurationManifest, CurationStats, RunPlan } from '../types';
import { planActivityOptions } from './activity-options';
import { partitionWorkflow } from './partition';
import { curatorActivities } from './curator-activities';
import { addStats, emptyStats } from './request-state';
import { jobProgressQuery } from './queries';

/** The memo key under which a cancelled job leaves the manifest of its partial dataset. */
export const PARTIAL_RESULT_MEMO = 'partialResult';

/** Batch activities one partition keeps in flight at most. */
const MAX_PARTITION_WINDOW = 8;

/** State carried across continue-as-new of the job itself. */
export interface CurateJobState {
  plan: RunPlan;
  nextPartition: number;
  stats: CurationStats;
}

export interface PartitionLayout {
  /** Batches per partition. */
  length: number;
  count: number;
  /** Partitions in flight at once. */
  inFlight: number;
  /** Batch activities in flight inside each partition. */
  window: number;
}

/**
 * Splits the batches so that about `batchesInFlight` batch activities run at once across all partitions: at least
 * that many, and at most one more per partition. Rounding the window down instead left a job that fits the plan with
 * a batch or two per partition waiting for the partition's first batch to end, and for its slowest answer: with
 * answers of tens of seconds, those batches went out after the rest, into an empty pipe.
 */
export function partitionLayout(plan: RunPlan, batchesPerPartition = DEFAULT_BATCHES_PER_PARTITION): PartitionLayout {
  const inFlight = Math.max(1, Math.ceil(plan.batchesInFlight / MAX_PARTITION_WINDOW));
  const window = Math.max(1, Math.ceil(plan.batchesInFlight / inFlight));
  const perPartition = Math.max(1, Math.floor(batchesPerPartition));
  const length = Math.max(1, Math.min(perPartition, Math.ceil(plan.batchCount / inFlight)));
  return { length, count: Math.ceil(plan.batchCount / length), inFlight, window };
}

/** Updates the job's search attributes, if it was started with them (so they are registered on the server). */
function indexJob(pairs: SearchAttributeUpdatePair[]): void {
  if (workflowInfo().typedSearchAttributes.get(CuratorName) === undefined) return;
  upsertSearchAttributes(pairs);
}

export async function curateWorkflow(input: CurateJobInput, state?: CurateJobState): Promise<CurationManifest> {
  const info = workflowInfo();
  // Stable across continue-as-new, distinct for each new job: attempts are counted per job.
  const jobId = `${info.workflowId}@${info.firstExecutionRunId}`;
  const { plan: planActivity, finalize } = curatorActivities(planActivityOptions);

  const plan = state?.plan ?? (await planActivity({ ...input, workflowId: info.workflowId }));
  indexJob([
    { key: CuratorModel, value: plan.model },
    { key: CuratorRunHash, value: plan.runHash },
    { key: CuratorRowsTotal, value: plan.totalRequests },
    { key: CuratorStatus, value: plan.cached ? 'cached' : 'running' },
  ]);
  if (plan.cached) return plan.cached;

  const layout = partitionLayout(plan, input.options?.batchesPerPartition);
  const stats = state?.stats ?? emptyStats();
  let next = state?.nextPartition ?? 0;
  let failure: unknown;
  const running = new Set<number>();
  setHandler(jobProgressQuery, () => ({
    curator: input.curator,
    runHash: plan.runHash,
    parseHash: plan.parseHash,
    totalRequests: plan.totalRequests,
    batchCount: plan.batchCount,
    partitions: layout.count,
    partitionsDone: next - running.size,
    runningPartitions: [...running].map((p) => `${info.workflowId}/p${p}`),
    finished: stats,
    prices: plan.prices,
    limits: plan.limits,
    rateBucket: plan.rateBucket,
    runDir: plan.runDir,
    startedAt: info.startTime.getTime(),
    batchSize: plan.batchSize,
  }));

  const inFlight = new Set<Promise<void>>();
  const runPartition = async (p: number) => {
    running.add(p);
    const fromBatch = p * layout.length;
    const child = await startChild(partitionWorkflow, {
      workflowId: `${info.workflowId}/p${p}`,
      staticSummary: `partition ${p}: batches ${fromBatch}-${Math.min(plan.batchCount, fromBatch + layout.length) - 1}`,
      args: [
        {
          curator: input.curator,
          runHash: plan.runHash,
          parseHash: plan.parseHash,
          jobId,
          fromBatch,
          toBatch: Math.min(plan.batchCount, fromBatch + layout.length),
          batchesInFlight: layout.window,
          requestConcurrency: plan.requestConcurrency,
          maxConcurrentRequests: plan.maxConcurrentRequests,
          maxRetries: plan.maxRetries,
          activityTaskQueue: input.options?.activityTaskQueue,
          rows: { batchSize: plan.batchSize, total: plan.totalRequests },
          ...(plan.batchMode ? { batchMode: plan.batchMode } : {}),
          ...(input.apiKeyId ? { apiKeyId: input.apiKeyId } : {}),
        },
      ],
    });
    try {
      addStats(stats, (await child.result()).stats);
      indexJob([{ key: CuratorRowsDone, value: stats.succeeded + stats.failed }]);
      setCurrentDetails(
        `**${stats.total} of ${plan.totalRequests}** requests settled: ${stats.succeeded} succeeded, ` +
          `${stats.failed} failed, ${stats.cached} from cache; ${stats.tokens.input} tokens in, ${stats.tokens.output} out.`
      );
    } catch (err) {
      failure ??= err;
    } finally {
      running.delete(p);
    }
  };

  for (;;) {
    while (
      failure === undefined &&
      inFlight.size < layout.inFlight &&
      next < layout.count &&
      !workflowInfo().continueAsNewSuggested
    ) {
      const running: Promise<void> = runPartition(next++).finally(() => inFlight.delete(running));
      inFlight.add(running);
    }
    if (inFlight.size === 0) break;
    await Promise.race(inFlight);
  }
  if (failure === undefined && next < layout.count) {
    return await continueAsNew<typeof curateWorkflow>(input, { plan, nextPartition: next, stats });
  }

  // Runs even when the job is being cancelled: everything already paid for ends up in the dataset.
  const manifest = await CancellationScope.nonCancellable(() =>
    finalize({
      curator: input.curator,
      runHash: plan.runHash,
      parseHash: plan.parseHash,
      jobId,
      workflowId: info.workflowId,
      stats,
    })
  );
  const status = isCancellation(failure)
    ? 'cancelled'
    : failure !== undefined
      ? 'failed'
      : manifest.stats.failed > 0
        ? 'completed_with_failures'
        : 'completed';
  indexJob([
    { key: CuratorStatus, value: status },
    { key: CuratorRowsDone, value: manifest.stats.succeeded + manifest.stats.failed },
  ]);
  if (isCancellation(failure)) {
    upsertMemo({ [PARTIAL_RESULT_MEMO]: manifest });
    throw new CancelledFailure(
      `job cancelled; the partial dataset is at ${manifest.datasetPath} (${manifest.stats.succeeded} of ` +
        `${manifest.stats.total} requests done). Start the same job again to continue.`
    );
  }
  if (failure !== undefined) {
    const cause = rootCause(failure);
    const message = cause instanceof Error ? cause.message : String(cause);
    throw ApplicationFailure.create({
      type: cause instanceof ApplicationFailure && cause.type ? cause.type : 'JobFailed',
      message: `${message} (partial dataset: ${manifest.datasetPath}; failed requests: ${manifest.failedRequestsPath})`,
      nonRetryable: true,
      details: [manifest],
    });
  }
  if (plan.requireAllResponses && manifest.stats.failed > 0) {
    throw toApplicationFailure(
      new IncompleteResponsesError(
        `${manifest.stats.failed} of ${manifest.stats.total} requests failed for good and requireAllResponses is on. ` +
          `Everything else is saved: dataset ${manifest.datasetPath}, failed requests ${manifest.failedRequestsPath}. ` +
          `Run the job again to retry only the failed requests.`
      ),
      [manifest]
    );
  }
  return manifest;
}
