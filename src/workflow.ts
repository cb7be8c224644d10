/**
 * Sandbox-safe entry point for users' own workflows: run a curation as a child workflow and compose it into a
 * larger pipeline. Import from `temporal-curator/workflow`, never from the package root, whose worker-side code
 * (files, HTTP, SQLite) the workflow bundler refuses.
 *
 * @example
 * import { executeChild } from '@temporalio/workflow';
 * import { curateWorkflow } from 'temporal-curator/workflow';
 * const poems = await executeChild(curateWorkflow, { args: [{ curator: 'poems', dataset }] });
 * const reviews = await executeChild(curateWorkflow, {
 *   args: [{ curator: 'reviews', dataset: { kind: 'run', runHash: poems.runHash, parseHash: poems.parseHash } }],
 * });
 */
export { curateWorkflow, partitionWorkflow } from './workflows';
export type { CurateJobState } from './workflows/curate';
export type * from './types';
export { NON_RETRYABLE_TYPES, type CurationErrorType, type ProviderFailureType } from './errors';
