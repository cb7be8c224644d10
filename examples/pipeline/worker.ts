/**
 * A worker for the question → answer → judge pipeline: the user's own worker (own workflows file, own task queue)
 * with curation added by `CuratorPlugin`, the way an application embeds temporal-curator.
 *
 * Standalone: `npx tsx examples/pipeline/worker.ts` serves the `qa-pipeline` task queue of `TEMPORAL_ADDRESS`
 * (default 127.0.0.1:7233), with API keys and base URLs from the environment. `run.ts` starts one in-process.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { CuratorPlugin, installQuietRuntime, temporalAddress, temporalNamespace } from 'temporal-curator';
import { curators } from './curators';

/**
 * Not the curation default (`temporal-curator`): a worker on a queue serves every workflow type started there, and
 * a plain curation worker there would fail the pipeline's tasks for want of `qaPipelineWorkflow`.
 */
export const PIPELINE_TASK_QUEUE = 'qa-pipeline';

export interface PipelineWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  /** Cache root shared with the clients (default `CURATOR_CACHE_DIR`, else `~/.cache/temporal-curator`). */
  cacheDir?: string;
  /** API keys and base URLs (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

export function createPipelineWorker(options: PipelineWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? temporalNamespace(),
    taskQueue: options.taskQueue ?? PIPELINE_TASK_QUEUE,
    // The pipeline's workflows, which re-export curateWorkflow and partitionWorkflow; the plugin adds the activities.
    workflowsPath: require.resolve('./workflows'),
    plugins: [new CuratorPlugin({ curators, cacheDir: options.cacheDir, env: options.env })],
  });
}

async function main() {
  installQuietRuntime();
  const connection = await NativeConnection.connect({ address: temporalAddress() });
  const worker = await createPipelineWorker({ connection });
  console.log(`Pipeline worker on task queue '${PIPELINE_TASK_QUEUE}' at ${temporalAddress()}; Ctrl-C to stop.`);
  // Worker.run() shuts down on SIGINT and SIGTERM by itself.
  await worker.run();
  await connection.close();
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
