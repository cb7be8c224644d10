/**
 * The embedded default: a local Temporal dev server with a persistent SQLite file and the Web UI. It uses the CLI
 * that `scripts/setup.sh` installs (or `TEMPORAL_CLI_PATH`, or `temporal` on PATH); without one it falls back to the
 * SDK's own download, which needs internet. A server already listening on the port is reused.
 */
import { Connection } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { CURATOR_SEARCH_ATTRIBUTES, searchAttributeArgs } from '../search-attributes';
import { findTemporalCli } from './cli-path';

export interface DevServerOptions {
  /** SQLite file that keeps workflow histories across restarts. */
  dbFilename: string;
  port?: number;
  uiPort?: number;
  namespace?: string;
  /** Extra `temporal server start-dev` arguments, e.g. `--dynamic-config-value`. */
  extraArgs?: string[];
}

export interface DevServer {
  address: string;
  uiUrl: string;
  /** False when an already running server was reused: stop() then leaves it alone. */
  owned: boolean;
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

async function waitUntilReachable(address: string, child: ChildProcess, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`temporal dev server exited with code ${child.exitCode}`);
    if (await reachable(address, 1000)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`temporal dev server did not accept connections on ${address} within ${deadlineMs / 1000}s`);
}

export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const port = options.port ?? 7233;
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
  const child = spawn(cli, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const kill = () => child.kill('SIGTERM');
  process.once('exit', kill);
  await waitUntilReachable(address, child, 60_000);
  return {
    address,
    uiUrl,
    owned: true,
    async stop() {
      process.removeListener('exit', kill);
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** For users with internet and no CLI installed: the SDK downloads and runs the same dev server. */
async function startDownloadedServer(options: DevServerOptions, port: number, uiPort: number): Promise<DevServer> {
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      dbFilename: options.dbFilename,
      port,
      ui: true,
      uiPort,
      namespace: options.namespace,
      searchAttributes: CURATOR_SEARCH_ATTRIBUTES,
      extraArgs: options.extraArgs,
    },
  });
  return {
    address: `127.0.0.1:${port}`,
    uiUrl: `http://127.0.0.1:${uiPort}`,
    owned: true,
    stop: () => env.teardown(),
  };
}
