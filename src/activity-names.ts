/**
 * The names the curation activities are registered under. Each says whose it is, so it never meets a user's own
 * `plan` or `finalize` on a shared worker. The names of version 0.1 stay registered beside them: a job started by a
 * 0.1 worker schedules those, and its history replays with them (workflows choose by the `curator-activity-names`
 * patch). No imports: workflow code reads this file.
 */
export const ACTIVITY_NAMES = {
  plan: 'curatorPlan',
  processShard: 'curatorProcessShard',
  finalize: 'curatorFinalize',
  submitProviderBatch: 'curatorSubmitProviderBatch',
  pollProviderBatches: 'curatorPollProviderBatches',
  downloadProviderBatch: 'curatorDownloadProviderBatch',
  cancelProviderBatch: 'curatorCancelProviderBatch',
} as const;

/** The names of version 0.1, kept registered so its jobs finish and its histories replay. */
export const LEGACY_ACTIVITY_NAMES = {
  plan: 'plan',
  processShard: 'processBatch',
  finalize: 'finalize',
  submitProviderBatch: 'submitProviderBatch',
  pollProviderBatches: 'pollProviderBatches',
  downloadProviderBatch: 'downloadProviderBatch',
  cancelProviderBatch: 'cancelProviderBatch',
} as const satisfies Record<keyof typeof ACTIVITY_NAMES, string>;

/** One activity set's names, new or legacy. */
export type ActivityNames = typeof ACTIVITY_NAMES | typeof LEGACY_ACTIVITY_NAMES;
