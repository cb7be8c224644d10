/**
 * The `curator` command line.
 *
 *   curator run <module> --curator poems --input topics.jsonl [--output poems.arrow]
 *   curator worker --curators <module>
 *   curator simulator --port 8787 --latency 200-800
 *
 * Exit codes: 0 done, 1 the job failed (what was saved is printed), 2 bad usage or set-up.
 */
import { Command, InvalidArgumentError } from 'commander';
import { copyFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { cancelCuration, curate, CurationError } from '../client';
import { exportRun, findRun, formatRun, formatRuns, openMetadata, showStatus } from './inspect';
import { startLocalStack } from '../embedded';
import { connectClient, connectWorker, DEFAULT_TASK_QUEUE } from '../temporal/connection';
import { installQuietRuntime } from '../temporal/runtime';
import { runSimulatorCli } from '../simulator/cli';
import { createWorker } from '../worker';
import { loadCurators } from './load-curators';
import { formatSummary } from './summary';

export const EXIT = { ok: 0, jobFailed: 1, usage: 2 } as const;

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expects a positive integer');
  return n;
};

export function buildProgram(): Command {
  const program = new Command('curator')
    .description('Durable LLM dataset curation on Temporal')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('run')
    .description('run a curator over a dataset file on the embedded default (or TEMPORAL_ADDRESS) and wait for it')
    .argument('<module>', 'a .ts or .js module exporting curators')
    .requiredOption('-c, --curator <name>', 'which exported curator to run')
    .requiredOption('-i, --input <file>', 'input dataset: .jsonl or .arrow')
    .option('-o, --output <file>', 'also copy the Arrow dataset here')
    .option('--batch-size <n>', 'requests per activity', positiveInt)
    .option('--max-concurrent <n>', 'requests in flight across the job', positiveInt)
    .option('--cache-dir <dir>', 'cache root (default CURATOR_CACHE_DIR or ~/.cache/temporal-curator)')
    .option('--simulator', 'use the loopback simulator even if an API key is set')
    .action(async (module: string, opts) => {
      const curators = loadCurators(module);
      const stack = await startLocalStack({
        curators,
        cacheDir: opts.cacheDir,
        forceSimulator: opts.simulator,
        log: (line) => console.error(line),
      });
      const started = Date.now();
      try {
        const result = await curate(stack.client, opts.curator, {
          dataset: resolve(opts.input),
          taskQueue: stack.taskQueue,
          cacheDir: stack.cacheDir,
          batchSize: opts.batchSize,
          maxConcurrentRequests: opts.maxConcurrent,
          searchAttributes: stack.searchAttributes,
        });
        if (opts.output) await copyFile(result.datasetPath, resolve(opts.output));
        console.log(formatSummary(result, Date.now() - started));
        if (stack.uiUrl)
          console.log(
            `Temporal UI: ${stack.uiUrl}/namespaces/default/workflows/${encodeURIComponent(result.workflowId)}`
          );
      } catch (err) {
        if (err instanceof CurationError) {
          console.error(`curation failed (${err.type}): ${err.message}`);
          process.exitCode = EXIT.jobFailed;
        } else {
          throw err;
        }
      } finally {
        await stack.close();
      }
    });

  program
    .command('worker')
    .description('run a worker for the given curators against TEMPORAL_ADDRESS (default 127.0.0.1:7233)')
    .requiredOption('--curators <module>', 'a .ts or .js module exporting curators')
    .option('--task-queue <name>', 'task queue', DEFAULT_TASK_QUEUE)
    .option('--cache-dir <dir>', 'cache root (default CURATOR_CACHE_DIR or ~/.cache/temporal-curator)')
    .action(async (opts) => {
      installQuietRuntime((process.env.CURATOR_LOG_LEVEL as 'INFO') || 'INFO');
      const curators = loadCurators(opts.curators);
      const worker = await createWorker({
        connection: await connectWorker(),
        curators,
        taskQueue: opts.taskQueue,
        cacheDir: opts.cacheDir,
      });
      console.error(`worker: ${curators.map((c) => c.name).join(', ')} on task queue '${opts.taskQueue}'`);
      await worker.run();
    });

  program
    .command('status')
    .description('show the live progress of a running job (a workflow id printed by run, or seen in the UI)')
    .argument('<job>', 'the job workflow id')
    .option('-w, --watch', 'refresh until the job ends')
    .action(async (job: string, opts) => {
      const client = await connectClient();
      await showStatus(client, job, !!opts.watch);
    });

  program
    .command('cancel')
    .description('cancel a running job: what is done is saved as a partial dataset, and a new start continues it')
    .argument('<job>', 'the job workflow id')
    .action(async (job: string) => {
      const client = await connectClient();
      await cancelCuration(client, job);
      console.log(`cancellation requested for ${job}`);
    });

  program
    .command('runs')
    .description('list the runs recorded in metadata.db')
    .option('--cache-dir <dir>', 'cache root')
    .option('-n, --limit <n>', 'how many', positiveInt, 50)
    .action((opts) => {
      const db = openMetadata(opts.cacheDir);
      try {
        console.log(formatRuns(db.listRuns(opts.limit)));
      } finally {
        db.close();
      }
    });

  program
    .command('show')
    .description('show one run: counts, tokens, paths, hashes and its history')
    .argument('<run>', 'run hash (or a unique prefix)')
    .option('--cache-dir <dir>', 'cache root')
    .action((hash: string, opts) => {
      const db = openMetadata(opts.cacheDir);
      try {
        console.log(formatRun(db, findRun(db, hash)));
      } finally {
        db.close();
      }
    });

  program
    .command('export')
    .description("write a run's dataset as JSON Lines or Arrow")
    .argument('<run>', 'run hash (or a unique prefix)')
    .requiredOption('-o, --output <file>', 'where to write')
    .option('-f, --format <format>', 'jsonl or arrow', 'jsonl')
    .option('--cache-dir <dir>', 'cache root')
    .action(async (hash: string, opts) => {
      const db = openMetadata(opts.cacheDir);
      try {
        const rows = await exportRun(findRun(db, hash), opts.format, opts.output);
        console.log(`${rows} rows written to ${opts.output}`);
      } finally {
        db.close();
      }
    });

  program
    .command('simulator')
    .description('run the OpenAI/Anthropic simulator on loopback (options: see src/simulator/cli.ts)')
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption(false)
    .action(async (_opts, command: Command) => {
      await runSimulatorCli(command.args);
    });

  return program;
}

export async function main(argv = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    const code = (err as { exitCode?: number; code?: string }).exitCode;
    if (typeof code === 'number') {
      process.exitCode = code === 0 ? 0 : EXIT.usage;
      return;
    }
    console.error((err as Error).message ?? err);
    process.exitCode = EXIT.usage;
  }
}

if (require.main === module) void main();
