/**
 * The real servers behind the storage backends, started by a test from the machine's cached builds
 * (scripts/infra/build.sh; the versions and paths come from scripts/infra/lib.sh): versitygw (S3) over a scratch
 * directory and a scratch PostgreSQL cluster, each on a free loopback port, stopped by the test. A build that is
 * missing is made first, once per machine; only when it cannot be made (no Go toolchain or module proxy, no root for
 * apt) do the tests skip, with the reason.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ROOT } from './cli-process';

const INFRA = join(ROOT, 'scripts', 'infra');

/** Where lib.sh says the builds are. */
function infraPaths(): { versitygw: string; pgBin: string } {
  const out = spawnSync(
    'bash',
    [
      '-c',
      `source '${INFRA}/lib.sh' && printf '%s\\n' "$VERSITYGW_BIN_DIR/versitygw" "/usr/lib/postgresql/$PG_MAJOR/bin"`,
    ],
    { encoding: 'utf8' }
  );
  if (out.status !== 0) throw new Error(`scripts/infra/lib.sh: ${out.stderr}`);
  const [versitygw, pgBin] = out.stdout.trim().split('\n');
  return { versitygw, pgBin };
}

/** Runs `build.sh <what>` (output to stderr); the reason it failed, or undefined. */
function build(what: string): string | undefined {
  process.stderr.write(`[infra-servers] ${what} missing: scripts/infra/build.sh ${what}\n`);
  const run = spawnSync('bash', [join(INFRA, 'build.sh'), what], { stdio: ['ignore', 2, 2] });
  return run.status === 0 ? undefined : `scripts/infra/build.sh ${what} failed (exit ${run.status}); see its output`;
}

const checked = new Map<string, string | undefined>();

/**
 * Makes sure `server` is built (versitygw) or installed (PostgreSQL); returns why its tests must skip, or undefined.
 * Synchronous, so that a suite can pass it as `describe`'s `skip`.
 */
export function infraSkipReason(server: 'versitygw' | 'postgres'): string | undefined {
  if (checked.has(server)) return checked.get(server);
  const { versitygw, pgBin } = infraPaths();
  const binary = server === 'versitygw' ? versitygw : join(pgBin, 'postgres');
  let reason = existsSync(binary) ? undefined : build(server === 'versitygw' ? 'versitygw' : 'packages');
  if (!reason && !existsSync(binary)) reason = `no ${binary} after the build`;
  checked.set(server, reason);
  return reason;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

async function waitForPort(port: number, child: ChildProcess, what: string, log: () => string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}): ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await delay(50);
  }
  child.kill('SIGKILL'); // the caller never gets a handle to stop it with
  throw new Error(`${what} not listening on ${port} after 30 s: ${log()}`);
}

function startLogged(cmd: string, args: string[], env?: NodeJS.ProcessEnv): { child: ChildProcess; log: () => string } {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (c: Buffer) => (log = (log + c.toString()).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, log: () => log };
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** A running versitygw. */
export interface S3Server {
  /** For `AWS_ENDPOINT_URL_S3`. */
  endpoint: string;
  /** `AWS_*` variables that reach it. */
  env: NodeJS.ProcessEnv;
  /** SIGTERM and start again on the same data and port (the store restarted). */
  restart(whileDown?: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

/** Starts versitygw over `dir`/data with one bucket, `bucket`. */
export async function startS3Server(dir: string, bucket: string): Promise<S3Server> {
  const { versitygw } = infraPaths();
  const port = await freePort();
  const data = join(dir, 'data');
  mkdirSync(data, { recursive: true });
  const keys = { ROOT_ACCESS_KEY_ID: 'curator', ROOT_SECRET_ACCESS_KEY: 'curator-secret' };
  const endpoint = `http://127.0.0.1:${port}`;
  let proc: ReturnType<typeof startLogged>;
  const start = async () => {
    proc = startLogged(versitygw, ['--port', `127.0.0.1:${port}`, 'posix', data], keys);
    await waitForPort(port, proc.child, 'versitygw', proc.log);
  };
  await start();
  const env = {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ACCESS_KEY_ID: keys.ROOT_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: keys.ROOT_SECRET_ACCESS_KEY,
    AWS_REGION: 'us-east-1',
  };
  const { CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const { s3ClientFromEnv } = await import('../../src/storage/object-store/s3-store');
  const client = s3ClientFromEnv(env);
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    await stopChild(proc!.child); // the caller never gets a handle to stop it with
    throw err;
  } finally {
    client.destroy();
  }
  return {
    endpoint,
    env,
    async restart(whileDown) {
      await stopChild(proc.child);
      await whileDown?.();
      await start();
    },
    stop: () => stopChild(proc.child),
  };
}

/** A running PostgreSQL cluster. */
export interface PgServer {
  /** A URL of a fresh database on it, named `name`. */
  database(name: string): Promise<string>;
  stop(): Promise<void>;
  /** Starts it again after `stop`, on the same data and port (a database outage and its end). */
  start(): Promise<void>;
}

/**
 * initdb + postgres in `dir`. PostgreSQL refuses to run as root: as root it runs in a user namespace as the
 * `postgres` user mapped onto root (as scripts/infra/stack.sh does), so the files stay the caller's.
 */
export async function startPgServer(dir: string): Promise<PgServer> {
  const { pgBin } = infraPaths();
  const asPostgres = (cmd: string, args: string[]): [string, string[]] => {
    if (process.getuid?.() !== 0) return [cmd, args];
    const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim();
    return ['unshare', ['--user', `--map-user=${id('-u')}`, `--map-group=${id('-g')}`, cmd, ...args]];
  };
  const data = join(dir, 'pgdata');
  const init = spawnSync(
    ...asPostgres(join(pgBin, 'initdb'), [
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--locale=C.UTF-8',
    ]),
    { encoding: 'utf8' }
  );
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await freePort();
  // fsync=off: scratch data of one test.
  const [cmd, args] = asPostgres(join(pgBin, 'postgres'), [
    '-D',
    data,
    '-c',
    'listen_addresses=127.0.0.1',
    '-p',
    String(port),
    '-c',
    `unix_socket_directories=${dir}`,
    '-c',
    'fsync=off',
  ]);
  let proc = startLogged(cmd, args);
  await waitForPort(port, proc.child, 'postgres', proc.log);
  const admin = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const pg = (await import('pg')).default;
  return {
    async database(name) {
      // The port answers before the server accepts logins: retry the first connection briefly.
      for (let i = 0; ; i++) {
        const client = new pg.Client({ connectionString: admin });
        try {
          await client.connect();
          await client.query(`CREATE DATABASE "${name}"`);
          return `postgres://postgres@127.0.0.1:${port}/${name}`;
        } catch (err) {
          if (i >= 50 || !/starting up/.test((err as Error).message)) throw err;
          await delay(100);
        } finally {
          await client.end().catch(() => undefined);
        }
      }
    },
    // SIGINT: PostgreSQL's fast shutdown.
    stop: () => stopChild(proc.child, 'SIGINT'),
    async start() {
      proc = startLogged(cmd, args);
      await waitForPort(port, proc.child, 'postgres', proc.log);
    },
  };
}
