/** The workflows a curation worker runs. Deterministic orchestration only: no I/O, no Node built-ins. */
export { curateWorkflow, PARTIAL_RESULT_MEMO, type CurateJobState } from './curate';
export { partitionWorkflow } from './partition';
export { jobProgressQuery, partitionProgressQuery, type JobProgress, type PartitionProgress } from './queries';
