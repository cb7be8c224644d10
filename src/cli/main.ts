/**
 * The `curator` command line.
 *
 *   curator run <module> --curator poems --input topics.jsonl [--output poems.arrow]
 *   curator dev --curators <module>            (dev server + Web UI + simulator + worker, until Ctrl-C)
 *   curator worker --curators <module>
 *   curator status <job> --watch | cancel <job> | runs | show <run> | export <run> --format jsonl|parquet|arrow
 *   curator simulator --port 8787 --latency 200-800
 *
 * Exit codes: 0 done, 1 the job failed (what was saved is printed), 2 bad usage or set-up, 3 the Temporal server was
 * lost mid-job, 130 / 143 interrupted by SIGINT / SIGTERM (the job is kept; see `run-job.ts`).
 *
 * Each command imports what it needs when it runs: `runs` or `show` should not pay for loading the Temporal worker.
 */
import { Command, InvalidArgumentError } from 'commander';
import { resolve } from 'node:path';
import type { Curator } from '../curator';
import { DEFAULT_TASK_QUEUE } from '../defaults';

/**
 * Loads one of this package's modules when a command runs. `require` rather than `import()`: it finds the compiled
 * modules of the installed package, and the TypeScript sources in a checkout (where the bin script registers tsx).
 */
function load<T>(id: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(id) as T;
}

export { EXIT } from './exit-codes';
import { EXIT } from './exit-codes';

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expects a positive integer');
  return n;
};

/**
 * Starts the embedded stack for `run` and `dev`, logging each step to stderr. `run` names the curator it runs; without
 * a worker here the curators are the remote workers' business, but their names still pick the project's task queue.
 */
function localStack(
  curators: Curator[],
  opts: { cacheDir?: string; simulator?: boolean; worker?: boolean },
  run?: string
) {
  const { startLocalStack, embeddedTaskQueue } = load<typeof import('../embedded')>('../embedded');
  const { defaultCacheDir } = load<typeof import('../storage/cache-dir')>('../storage/cache-dir');
  const noWorker = opts.worker === false;
  const cacheDir = resolve(opts.cacheDir ?? defaultCacheDir());
  return startLocalStack({
    curators: noWorker ? [] : curators,
    run: run === undefined ? undefined : [run],
    cacheDir,
    taskQueue:
      noWorker && !process.env.TEMPORAL_ADDRESS
        ? embeddedTaskQueue(
            cacheDir,
            curators.map((c) => c.name)
          )
        : undefined,
    forceSimulator: opts.simulator,
    noWorker,
    log: (line) => console.error(line),
  });
}

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
    .requiredOption('-i, --input <file>', 'input dataset: .jsonl, Arrow IPC (.arrow), Parquet, or a Hugging Face datasets folder')
    .option('-o, --output <file>', 'also copy the Arrow dataset here')
    .option('--batch-size <n>', 'requests per activity', positiveInt)
    .option(
      '--max-concurrent <n>',
      'most requests in flight per worker (default: sized from limit and latency)',
      positiveInt
    )
    .option('--cache-dir <dir>', 'cache root (default CURATOR_CACHE_DIR or ~/.cache/temporal-curator)')
    .option('--simulator', 'use the loopback simulator even if an API key is set')
    .option('--no-worker', 'start no worker here: the job runs on workers already serving the task queue')
    .option('--no-progress', 'no live progress on stderr')
    .action(async (module: string, opts) => {
      const [{ loadCurators }, { runJob }] = [
        load<typeof import('./load-curators')>('./load-curators'),
        load<typeof import('./run-job')>('./run-job'),
      ];
      const curators = await loadCurators(module);
      const stack = await localStack(curators, opts, opts.curator);
      // The curator itself when this process runs it: its whole definition is then part of the job's identity.
      const curator = curators.find((c) => c.name === opts.curator);
      // Exits when the job ends, even if a request abandoned on the way (a full disk, a stop) still holds a socket.
      process.exit(await runJob(stack, curator && opts.worker !== false ? curator : opts.curator, opts));
    });

  program
    .command('dev')
    .description(
      'start a local Temporal dev server with the Web UI, the simulator (unless an API key is set) and a worker for ' +
        'the curators, until Ctrl-C; `curator run` and your code then use them'
    )
    .requiredOption('--curators <module>', 'a .ts or .js module exporting curators')
    .option('--cache-dir <dir>', 'cache root (default CURATOR_CACHE_DIR or ~/.cache/temporal-curator)')
    .option('--simulator', 'use the loopback simulator even if an API key is set')
    .action(async (opts) => {
      const { loadCurators } = load<typeof import('./load-curators')>('./load-curators');
      const curators = await loadCurators(opts.curators);
      const stack = await localStack(curators, opts);
      const address = stack.devServer?.address ?? process.env.TEMPORAL_ADDRESS;
      console.log(
        [
          `Temporal:   ${address}${stack.uiUrl ? `  UI ${stack.uiUrl}` : ''}`,
          `Worker:     ${curators.map((c) => c.name).join(', ')} on task queue '${stack.taskQueue}'`,
          `Provider:   ${stack.providerNote}`,
          `Cache:      ${stack.cacheDir}`,
          `Start jobs: curator run ${opts.curators} --curator <name> --input <file> --no-worker`,
          'Ready. Ctrl-C stops the worker, the simulator and the dev server (its SQLite file keeps the history).',
        ].join('\n')
      );
      await new Promise<void>((done) => {
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
      });
      console.error('stopping...');
      await stack.close();
    });

  program
    .command('worker')
    .description('run a worker for the given curators against TEMPORAL_ADDRESS (default 127.0.0.1:7233)')
    .requiredOption('--curators <module>', 'a .ts or .js module exporting curators')
    .option('--task-queue <name>', 'task queue')
    .option('--cache-dir <dir>', 'cache root (default CURATOR_CACHE_DIR or ~/.cache/temporal-curator)')
    .action(async (opts) => {
      const [{ loadCurators }, { createWorker }, connection, { installQuietRuntime }] = [
        load<typeof import('./load-curators')>('./load-curators'),
        load<typeof import('../worker')>('../worker'),
        load<typeof import('../temporal/connection')>('../temporal/connection'),
        load<typeof import('../temporal/runtime')>('../temporal/runtime'),
      ];
      installQuietRuntime((process.env.CURATOR_LOG_LEVEL as 'INFO') || 'INFO');
      const curators = await loadCurators(opts.curators);
      const taskQueue: string = opts.taskQueue ?? DEFAULT_TASK_QUEUE;
      const worker = await createWorker({
        connection: await connection.connectWorker(),
        curators,
        taskQueue,
        cacheDir: opts.cacheDir,
      });
      console.error(`worker: ${curators.map((c) => c.name).join(', ')} on task queue '${taskQueue}'`);
      await worker.run();
    });

  program
    .command('status')
    .description('show the live progress of a running job (a workflow id printed by run, or seen in the UI)')
    .argument('<job>', 'the job workflow id')
    .option('-w, --watch', 'refresh until the job ends')
    .action(async (job: string, opts) => {
      const [{ connectClient }, { showStatus }] = [
        load<typeof import('../temporal/connection')>('../temporal/connection'),
        load<typeof import('./progress')>('./progress'),
      ];
      await showStatus(await connectClient(), job, !!opts.watch);
    });

  program
    .command('cancel')
    .description('cancel a running job: what is done is saved as a partial dataset, and a new start continues it')
    .argument('<job>', 'the job workflow id')
    .action(async (job: string) => {
      const [{ connectClient }, { cancelCuration }] = [
        load<typeof import('../temporal/connection')>('../temporal/connection'),
        load<typeof import('../client')>('../client'),
      ];
      await cancelCuration(await connectClient(), job);
      console.log(`cancellation requested for ${job}`);
    });

  program
    .command('runs')
    .description('list the runs recorded in metadata.db (or at CURATOR_DATABASE_URL)')
    .option('--cache-dir <dir>', 'cache root')
    .option('-n, --limit <n>', 'how many', positiveInt, 50)
    .action(async (opts) => {
      const { formatRuns, openMetadata } = load<typeof import('./inspect')>('./inspect');
      const db = await openMetadata(opts.cacheDir);
      try {
        console.log(formatRuns(await db.listRuns(opts.limit)));
      } finally {
        await db.close();
      }
    });

  program
    .command('show')
    .description('show one run: counts, tokens, cost, paths, hashes and its history')
    .argument('<run>', 'run hash (or a unique prefix)')
    .option('--cache-dir <dir>', 'cache root')
    .action(async (hash: string, opts) => {
      const { findRun, formatRun, openMetadata } = load<typeof import('./inspect')>('./inspect');
      const db = await openMetadata(opts.cacheDir);
      try {
        console.log(await formatRun(db, await findRun(db, hash)));
      } finally {
        await db.close();
      }
    });

  program
    .command('export')
    .description("write a run's dataset as JSON Lines, Parquet or Arrow (IPC stream)")
    .argument('<run>', 'run hash (or a unique prefix)')
    .requiredOption('-o, --output <file>', 'where to write')
    .option('-f, --format <format>', 'jsonl, parquet or arrow', 'jsonl')
    .option('--cache-dir <dir>', 'cache root')
    .action(async (hash: string, opts) => {
      const { exportRun, findRun, openMetadata } = load<typeof import('./inspect')>('./inspect');
      const db = await openMetadata(opts.cacheDir);
      try {
        const rows = await exportRun(await findRun(db, hash), opts.format, opts.output);
        console.log(`${rows} rows written to ${opts.output}`);
      } finally {
        await db.close();
      }
    });

  program
    .command('simulator')
    .description('run the OpenAI/Anthropic simulator on loopback until Ctrl-C')
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText('after', () => `\n${load<typeof import('../simulator/cli')>('../simulator/cli').SIMULATOR_USAGE}`)
    .action(async (_opts, command: Command) => {
      const { runSimulatorCli } = load<typeof import('../simulator/cli')>('../simulator/cli');
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
    // A failure while starting (the worker, the workflow bundle, the dev server) can leave a connection, a server
    // or a child process behind that would keep the process alive with nothing left to do: exit now. The dev server
    // child is stopped by its exit handler.
    process.exit(EXIT.usage);
  }
}

if (require.main === module) void main();
