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

export function createActivities(options: ActivityDepsOptions | ActivityDeps) {
  const deps = options instanceof ActivityDeps ? options : new ActivityDeps(options);
  const guard = <A extends [{ curator: string; apiKeyId?: string }, ...unknown[]], R>(
    activity: (...args: A) => Promise<R>
  ) => withApplicationFailures(failClearlyOnDiskFull(deps.cache.root, keyChecked(deps, activity)));
  const batchMode = createProviderBatchActivities(deps);
  return {
    plan: guard(createPlan(deps)),
    processBatch: guard(createProcessBatch(deps)),
    finalize: guard(createFinalize(deps)),
    // Batch mode: requests through the provider's batch API.
    submitProviderBatch: guard(batchMode.submitProviderBatch),
    pollProviderBatches: guard(batchMode.pollProviderBatches),
    downloadProviderBatch: guard(batchMode.downloadProviderBatch),
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

export type CuratorActivities = ReturnType<typeof createActivities>;
