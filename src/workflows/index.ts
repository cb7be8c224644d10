/** The workflows a curation worker runs. Deterministic orchestration only: no I/O, no Node built-ins. */
export { curateWorkflow, partitionLayout, type CurateJobState } from './curate';
export { partitionWorkflow } from './partition';
