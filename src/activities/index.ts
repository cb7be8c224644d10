/**
 * The activities of a curation job, built from the worker's dependencies. Workflows see only their types.
 *
 * @example
 * const activities = createActivities({ curators: [poems], cacheDir: '/data/curator' });
 */
import { ActivityDeps, type ActivityDepsOptions } from './deps';
import { createFinalize } from './finalize';
import { createPlan } from './plan';
import { createProcessBatch } from './process-batch';
import { createProviderBatchActivities } from './provider-batch';

export type { ActivityDepsOptions } from './deps';

export function createActivities(options: ActivityDepsOptions | ActivityDeps) {
  const deps = options instanceof ActivityDeps ? options : new ActivityDeps(options);
  return {
    plan: createPlan(deps),
    processBatch: createProcessBatch(deps),
    finalize: createFinalize(deps),
    // Batch mode: requests through the provider's batch API.
    ...createProviderBatchActivities(deps),
  };
}

export type CuratorActivities = ReturnType<typeof createActivities>;
