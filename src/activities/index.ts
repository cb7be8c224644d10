/**
 * The activities of a curation job, built from the worker's dependencies. Workflows see only their types.
 *
 * @example
 * const activities = createActivities({ curators: [poems], cacheDir: '/data/curator' });
 */
import { withApplicationFailures } from '../errors';
import { ActivityDeps, type ActivityDepsOptions } from './deps';
import { failClearlyOnDiskFull } from './disk-full';
import { createFinalize } from './finalize';
import { createPlan } from './plan';
import { createProcessBatch } from './process-batch';
import { createProviderBatchActivities } from './provider-batch';

export type { ActivityDepsOptions } from './deps';

/**
 * The curation activities for a worker of your own (`Worker.create({ activities })`), built from the curators and
 * the cache directory, or from {@link ActivityDeps} to share. `createWorker` and `CuratorPlugin` call it for you.
 */
export function createActivities(options: ActivityDepsOptions | ActivityDeps) {
  const deps = options instanceof ActivityDeps ? options : new ActivityDeps(options);
  const guard = <A extends [{ curator: string; apiKeyId?: string }, ...unknown[]], R>(
    activity: (...args: A) => Promise<R>
  ) => withApplicationFailures(failClearlyOnDiskFull(deps.cache.root, keyChecked(deps, activity)));
  const batchMode = createProviderBatchActivities(deps);
  return {
    /** Fingerprints the run, answers from cache, or copies the dataset into the run folder and sizes the job. */
    plan: guard(createPlan(deps)),
    /** Formats, sends, accepts and parses one batch of requests. */
    processBatch: guard(createProcessBatch(deps)),
    /** Assembles the parsed shards into the Arrow dataset and writes the manifest. */
    finalize: guard(createFinalize(deps)),
    // Batch mode: requests through the provider's batch API.
    /** Batch mode: submits one batch's requests as provider batches. */
    submitProviderBatch: guard(batchMode.submitProviderBatch),
    /** Batch mode: checks the status of submitted provider batches. */
    pollProviderBatches: guard(batchMode.pollProviderBatches),
    /** Batch mode: downloads the results of one batch's ended provider batches into its response log, and parses them. */
    downloadProviderBatch: guard(batchMode.downloadProviderBatch),
    /** Batch mode: cancels the provider batches of one batch. */
    cancelProviderBatch: guard(batchMode.cancelProviderBatch),
  };
}

/** Runs `activity` only for jobs started with this worker's provider key, or with no key name (`checkApiKey`). */
function keyChecked<A extends [{ curator: string; apiKeyId?: string }, ...unknown[]], R>(
  deps: ActivityDeps,
  activity: (...args: A) => Promise<R>
): (...args: A) => Promise<R> {
  const checked = async (...args: A) => {
    deps.checkApiKey(args[0].curator, args[0].apiKeyId);
    return activity(...args);
  };
  // Temporal registers activities by their function names.
  Object.defineProperty(checked, 'name', { value: activity.name });
  return checked;
}

/** The activities' types, for `proxyActivities<CuratorActivities>()` in workflow code. */
export type CuratorActivities = ReturnType<typeof createActivities>;
