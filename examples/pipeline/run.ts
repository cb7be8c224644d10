/**
 * The question → answer → judge pipeline on the embedded default: `npx tsx examples/pipeline/run.ts`. Starts (or
 * reuses) the local Temporal dev server with its UI, the simulator unless `OPENAI_API_KEY` is set, and the pipeline
 * worker in this process, then runs `qaPipelineWorkflow` over examples/pipeline/subjects.jsonl and prints each
 * step's dataset and the answers the judge kept.
 *
 * Options: --input FILE (JSON Lines of `{ "subject": ... }`), --keep (keep the dev server and UI up until Ctrl-C).
 * Run it again: the same pipeline reaches the same three jobs, all cache hits, zero API calls.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { tableFromIPC } from 'apache-arrow';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { endLocalRun, startLocalStack, temporalAddress } from 'temporal-curator';
import { curators, MIN_SCORE, type JudgedRow } from './curators';
import { createPipelineWorker, PIPELINE_TASK_QUEUE } from './worker';
import { qaPipelineWorkflow, type PipelineStep } from './workflows';

async function main() {
  const { values } = parseArgs({
    options: {
      input: { type: 'string', default: join(__dirname, 'subjects.jsonl') },
      keep: { type: 'boolean', default: false },
    },
  });
  const input = resolve(values.input!);

  // The stack brings the dev server, the simulator and a client; the pipeline and its child jobs run on the
  // pipeline's own queue, served by the worker below with the endpoint the stack chose (simulator or real API).
  const stack = await startLocalStack({ curators, noWorker: true, log: (line) => console.log(line) });
  const env = stack.env;
  const connection = await NativeConnection.connect({ address: stack.devServer?.address ?? temporalAddress() });
  const worker = await createPipelineWorker({ connection, cacheDir: stack.cacheDir, env });
  const running = worker.run();
  console.log(`Pipeline worker: running on task queue '${PIPELINE_TASK_QUEUE}'`);

  let failed = false;
  try {
    // Keyed by the input's content: a rerun over the same file reaches the same child jobs, which are cache hits.
    const digest = createHash('sha256').update(readFileSync(input)).digest('hex').slice(0, 16);
    const workflowId = `qa-pipeline/${digest}`;
    const started = Date.now();
    const result = await stack.client.workflow.execute(qaPipelineWorkflow, {
      taskQueue: PIPELINE_TASK_QUEUE,
      workflowId,
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      staticSummary: 'question → answer → judge',
      args: [{ subjects: { kind: 'jsonl', path: input } }],
    });
    console.log('');
    for (const step of [result.questions, result.answers, result.judge]) console.log(formatStep(step));
    console.log(`Time: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (stack.simulator) console.log(`Simulator calls made by this run: ${stack.simulator.stats.total}`);
    if (stack.uiUrl) {
      console.log(`Temporal UI: ${stack.uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`);
    }

    const kept = tableFromIPC(readFileSync(result.judge.datasetPath))
      .toArray()
      .map((r) => r.toJSON() as JudgedRow);
    console.log('');
    console.log(`The judge kept ${kept.length} of ${result.answers.stats.outputRows} answers (score >= ${MIN_SCORE}):`);
    for (const row of kept.slice(0, 5)) {
      console.log(`  [${row.score}] ${row.subject}: ${row.question}\n       ${row.answer}`);
    }
  } catch (err) {
    failed = true;
    console.error(err instanceof WorkflowFailedError ? `Pipeline failed: ${describeFailure(err)}` : err);
  } finally {
    worker.shutdown();
    await running;
    await connection.close();
    await endLocalRun(stack, { keep: values.keep!, failed });
  }
}

function formatStep(step: PipelineStep): string {
  const s = step.stats;
  return (
    `${step.curator.padEnd(9)} ${s.total} requests, ${s.outputRows} rows` +
    `${step.fromCache ? ' (from cache)' : `, ${s.cached} cached, ${s.failed} failed`}  ${step.datasetPath}`
  );
}

/** The innermost message: a failed step shows as a child workflow failure wrapping the job's own error. */
function describeFailure(err: Error): string {
  let cause: Error = err;
  while (cause.cause instanceof Error) cause = cause.cause;
  return cause.message;
}

void main();
