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
import { ACTIVITY_NAMES, LEGACY_ACTIVITY_NAMES } from '../activity-names';
import { createPlan } from './plan';
import { createProcessShard } from './process-shard';
import { createProviderBatchActivities } from './provider-batch';

export type { ActivityDepsOptions } from './deps';
export { ACTIVITY_NAMES, LEGACY_ACTIVITY_NAMES, type ActivityNames } from '../activity-names';

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
  const plan = guard(createPlan(deps));
  const processShard = guard(createProcessShard(deps));
  const finalize = guard(createFinalize(deps));
  // Batch mode: requests through the provider's batch API.
  const submitProviderBatch = guard(batchMode.submitProviderBatch);
  const pollProviderBatches = guard(batchMode.pollProviderBatches);
  const downloadProviderBatch = guard(batchMode.downloadProviderBatch);
  const cancelProviderBatch = guard(batchMode.cancelProviderBatch);
  return {
    /** Fingerprints the run, answers from cache, or copies the dataset into the run folder and sizes the job. */
    [ACTIVITY_NAMES.plan]: plan,
    /** Formats, admits, sends, accepts, records and parses the requests of one shard, each in a call of its own. */
    [ACTIVITY_NAMES.processShard]: processShard,
    /** Assembles the parsed shards into the Arrow dataset and writes the manifest. */
    [ACTIVITY_NAMES.finalize]: finalize,
    /** Batch mode: submits one shard's requests as provider batches. */
    [ACTIVITY_NAMES.submitProviderBatch]: submitProviderBatch,
    /** Batch mode: checks the status of submitted provider batches. */
    [ACTIVITY_NAMES.pollProviderBatches]: pollProviderBatches,
    /** Batch mode: downloads the results of one shard's ended provider batches into its response log, and parses them. */
    [ACTIVITY_NAMES.downloadProviderBatch]: downloadProviderBatch,
    /** Batch mode: cancels the provider batches of one shard. */
    [ACTIVITY_NAMES.cancelProviderBatch]: cancelProviderBatch,
    // The same activities under the names of version 0.1, for its jobs and histories (see `../activity-names`).
    /** `curatorPlan` under its 0.1 name. */
    [LEGACY_ACTIVITY_NAMES.plan]: plan,
    /** `curatorProcessShard` under its 0.1 name. */
    [LEGACY_ACTIVITY_NAMES.processShard]: processShard,
    /** `curatorFinalize` under its 0.1 name. */
    [LEGACY_ACTIVITY_NAMES.finalize]: finalize,
    /** `curatorSubmitProviderBatch` under its 0.1 name. */
    [LEGACY_ACTIVITY_NAMES.submitProviderBatch]: submitProviderBatch,
    /** `curatorPollProviderBatches` under its 0.1 name. */
    [LEGACY_ACTIVITY_NAMES.pollProviderBatches]: pollProviderBatches,
    /** `curatorDownloadProviderBatch` under its 0.1 name. */
    [LEGACY_ACTIVITY_NAMES.downloadProviderBatch]: downloadProviderBatch,
    /** `curatorCancelProviderBatch` under its 0.1 name. */
    [LEGACY_ACTIVITY_NAMES.cancelProviderBatch]: cancelProviderBatch,
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
