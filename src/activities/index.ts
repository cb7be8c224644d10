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
    [ACTIVITY_NAMES.plan]: plan,
    [ACTIVITY_NAMES.processShard]: processShard,
    [ACTIVITY_NAMES.finalize]: finalize,
    [ACTIVITY_NAMES.submitProviderBatch]: submitProviderBatch,
    [ACTIVITY_NAMES.pollProviderBatches]: pollProviderBatches,
    [ACTIVITY_NAMES.downloadProviderBatch]: downloadProviderBatch,
    [ACTIVITY_NAMES.cancelProviderBatch]: cancelProviderBatch,
    // The same activities under the names of version 0.1 (see `../activity-names`).
    [LEGACY_ACTIVITY_NAMES.plan]: plan,
    [LEGACY_ACTIVITY_NAMES.processShard]: processShard,
    [LEGACY_ACTIVITY_NAMES.finalize]: finalize,
    [LEGACY_ACTIVITY_NAMES.submitProviderBatch]: submitProviderBatch,
    [LEGACY_ACTIVITY_NAMES.pollProviderBatches]: pollProviderBatches,
    [LEGACY_ACTIVITY_NAMES.downloadProviderBatch]: downloadProviderBatch,
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

export type CuratorActivities = ReturnType<typeof createActivities>;
