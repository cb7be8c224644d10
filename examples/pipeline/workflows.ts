/**
 * The question → answer → judge pipeline as one workflow: three curation jobs run as child workflows, each reading
 * the previous one's dataset by reference (run hash and parse hash), so no row ever crosses Temporal.
 *
 * Workflow code: bundled into Temporal's sandbox, so it imports only `@temporalio/workflow` and the sandbox-safe
 * `temporal-curator/workflow`.
 */
import { executeChild, workflowInfo } from '@temporalio/workflow';
import { curateWorkflow, type CurationManifest, type CurationStats, type DatasetRef } from 'temporal-curator/workflow';

// A worker registers the workflows its workflowsPath exports. The curation job and its partitions run as child
// workflows on this worker's task queue, so ours must be exported beside the pipeline.
export * from 'temporal-curator/workflow';

export interface QaPipelineInput {
  /** Rows of the form `{ subject: string }`. */
  subjects: DatasetRef;
}

/** One step's dataset and counts: the small part of its manifest. */
export interface PipelineStep {
  curator: string;
  workflowId: string;
  runHash: string;
  parseHash: string;
  datasetPath: string;
  datasetSha256: string;
  stats: CurationStats;
  fromCache: boolean;
}

export interface QaPipelineResult {
  questions: PipelineStep;
  answers: PipelineStep;
  judge: PipelineStep;
}

export async function qaPipelineWorkflow(input: QaPipelineInput): Promise<QaPipelineResult> {
  const pipelineId = workflowInfo().workflowId;

  // Child ids derive from the pipeline's: running the same pipeline again reaches the same jobs, whose finished
  // datasets are cache hits.
  const run = (curator: string, dataset: DatasetRef) =>
    executeChild(curateWorkflow, {
      args: [{ curator, dataset }],
      workflowId: `${pipelineId}/${curator}`,
      staticSummary: `pipeline step: ${curator}`,
    });
  const next = (previous: CurationManifest): DatasetRef => ({
    kind: 'run',
    runHash: previous.runHash,
    parseHash: previous.parseHash,
  });

  const questions = await run('questions', input.subjects);
  const answers = await run('answers', next(questions));
  const judge = await run('judge', next(answers));
  return { questions: step(questions), answers: step(answers), judge: step(judge) };
}

function step(manifest: CurationManifest): PipelineStep {
  const { curator, workflowId, runHash, parseHash, datasetPath, datasetSha256, stats, fromCache } = manifest;
  return { curator, workflowId, runHash, parseHash, datasetPath, datasetSha256, stats, fromCache };
}
