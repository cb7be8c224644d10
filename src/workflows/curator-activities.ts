/**
 * The curation activities as workflows call them: under their own names (`curatorPlan`, ...) in jobs started by
 * this version, under the names of version 0.1 in jobs it started, so their histories replay unchanged.
 */
import { patched, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { CuratorActivities } from '../activities';
import { ACTIVITY_NAMES, LEGACY_ACTIVITY_NAMES } from '../activity-names';

/** The activities of a curation job, with `options`. */
export function curatorActivities(options: ActivityOptions) {
  const acts = proxyActivities<CuratorActivities>(options);
  const names = patched('curator-activity-names') ? ACTIVITY_NAMES : LEGACY_ACTIVITY_NAMES;
  return {
    plan: acts[names.plan],
    processShard: acts[names.processShard],
    finalize: acts[names.finalize],
    submitProviderBatch: acts[names.submitProviderBatch],
    pollProviderBatches: acts[names.pollProviderBatches],
    downloadProviderBatch: acts[names.downloadProviderBatch],
    cancelProviderBatch: acts[names.cancelProviderBatch],
  };
}
