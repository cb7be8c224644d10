/**
 * Running at the provider's limit. The simulator enforces 3,000 requests/min and 500,000 tokens/min over sliding
 * 60-second windows (or OpenAI's per-second quantum, `--enforcement per-second`), with 200-800 ms latency; a
 * 10,000-request job runs on 1 or 2 worker processes that share the limit (learned from the simulator's headers: no
 * limit is configured).
 *
 *   npx tsx bench/rate-limit.ts [--workers 1|2] [--rows 10000] [--rpm 3000] [--tpm 500000]
 *   npx tsx bench/rate-limit.ts --machines 2 [--enforcement per-second] [--rows 6000]
 *   ... [--worker compiled|sources]
 *
 * With `--machines N`, N workers that share nothing but a PostgreSQL (each its own cache directory, so its own
 * `limits.db`, and its own task queue) run one job each, rows / N requests, on the same key: the limit is held between
 * them through `CURATOR_DATABASE_URL` (src/limits/pg-window.ts). The database's commits per second are reported too.
 *
 * The workers run the compiled package on plain node, as users run it (`--worker compiled`, the default, as in
 * compare.ts), or this checkout's sources through tsx (`--worker sources`).
 *
 * Reports steady-state requests per minute (full minutes after the first), completion time over the ideal
 * (rows / limit), and 429s; writes bench/results/rate-limit-<workers>w.json (`-<N>m` with machines).
 */
import { Client, Connection } from '@temporalio/client';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { curate } from '../src';
import { startSimulator } from '../src/simulator';
import { startDevServer } from '../src/temporal/dev-server';
import { compiledWorker, workerFlag } from './lib/compiled-worker';
import { spawnWorker, stopProcess } from './lib/processes';
import { startPgServer, type PgServer } from '../test/helpers/infra-servers';

async function main() {
  const { values } = parseArgs({
    options: {
      workers: { type: 'string', default: '1' },
      rows: { type: 'string', default: '10000' },
      rpm: { type: 'string', default: '3000' },
      tpm: { type: 'string', default: '500000' },
      machines: { type: 'string', default: '0' },
      enforcement: { type: 'string', default: 'sliding-window' },
      worker: { type: 'string', default: 'compiled' },
    },
  });
  const compiled = workerFlag(values.worker) === 'compiled' ? compiledWorker() : undefined;
  const machines = Number(values.machines);
  const workers = machines > 0 ? machines : Number(values.workers);
  const rows = Number(values.rows);
  const rpm = Number(values.rpm);
  const enforcement = values.enforcement as 'sliding-window' | 'per-second';
  const cacheDir = mkdtempSync(join(tmpdir(), 'curator-ratelimit-'));
  const sim = await startSimulator({
    latencyMs: { min: 200, max: 800 },
    rateLimits: { rpm, tpm: Number(values.tpm), enforcement },
  });
  const server = await startDevServer({ dbFilename: join(cacheDir, 'temporal.db'), port: 17233 + workers });
  let pg: PgServer | undefined;
  let databaseUrl: string | undefined;
  if (machines > 0) {
    pg = await startPgServer(join(cacheDir, 'pg'));
    databaseUrl = await pg.database('limits');
  }
  const env = {
    OPENAI_API_KEY: 'sim-bench-key',
    OPENAI_BASE_URL: sim.openaiBaseURL,
    ...(databaseUrl ? { CURATOR_DATABASE_URL: databaseUrl } : {}),
  };
  /** Machine k's disk and task queue; with one shared cache (no `--machines`), the default queue. */
  const disk = (k: number) => (machines > 0 ? join(cacheDir, `machine-${k}`) : cacheDir);
  const queue = (k: number) => (machines > 0 ? `bench-machine-${k}` : undefined);
  const children = Array.from({ length: workers }, (_, k) =>
    spawnWorker({
      curators: compiled?.curators ?? join(__dirname, 'curators.ts'),
      cli: compiled?.cli,
      address: server.address,
      cacheDir: disk(k),
      env,
      taskQueue: queue(k),
    })
  );
  const connection = await Connection.connect({ address: server.address });
  try {
    const client = new Client({ connection });
    const commitsBefore = databaseUrl ? await commits(databaseUrl) : 0;
    const started = Date.now();
    const jobs = machines > 0 ? machines : 1;
    const share = Math.ceil(rows / jobs);
    const results = await Promise.all(
      Array.from({ length: jobs }, (_, k) =>
        curate(client, 'bench-text', {
          dataset: Array.from({ length: Math.min(share, rows - k * share) }, (_, i) => ({ id: k * share + i })),
          cacheDir: disk(k),
          ...(queue(k) ? { taskQueue: queue(k) } : {}),
          maxConcurrentRequests: 64,
        })
      )
    );
    const result = {
      stats: {
        succeeded: results.reduce((n, r) => n + r.stats.succeeded, 0),
        failed: results.reduce((n, r) => n + r.stats.failed, 0),
      },
    };
    const ended = Date.now();
    const databaseCommitsPerSecond = databaseUrl
      ? Math.round(((await commits(databaseUrl)) - commitsBefore) / ((ended - started) / 1000))
      : undefined;
    const ok = sim.stats.requests.filter((r) => r.status === 200).map((r) => r.at);
    const t0 = Math.min(...sim.stats.requests.map((r) => r.at));
    const perMinute: number[] = [];
    for (let k = 1; t0 + (k + 1) * 60_000 <= ended; k++) {
      perMinute.push(ok.filter((at) => at >= t0 + k * 60_000 && at < t0 + (k + 1) * 60_000).length);
    }
    const steady = perMinute.length ? perMinute.reduce((a, b) => a + b, 0) / perMinute.length : NaN;
    const idealSeconds = (rows / rpm) * 60;
    const wallSeconds = (ended - started) / 1000;
    const tooMany = sim.stats.byStatus.get(429) ?? 0;
    const figures = {
      workers,
      worker: values.worker,
      ...(machines > 0
        ? { machines, sharedThrough: 'PostgreSQL (CURATOR_DATABASE_URL)', databaseCommitsPerSecond }
        : {}),
      rows,
      limits: { rpm, tpm: Number(values.tpm), enforcement },
      latencyMs: '200-800',
      wallSeconds: Number(wallSeconds.toFixed(1)),
      idealSeconds,
      completionOverIdeal: Number((wallSeconds / idealSeconds).toFixed(3)),
      steadyStateRequestsPerMinute: Math.round(steady),
      steadyStateShareOfLimit: Number((steady / rpm).toFixed(3)),
      fullMinutes: perMinute,
      requestsMade: sim.stats.total,
      rateLimited429: tooMany,
      rateLimitedShare: Number((tooMany / rows).toFixed(4)),
      succeeded: result.stats.succeeded,
      failed: result.stats.failed,
      targets: { steadyShare: '>= 0.97', completionOverIdeal: '<= 1.05', rateLimitedShare: '<= 0.005' },
      machine: `${cpus().length} cores, node ${process.version}`,
      at: new Date().toISOString(),
    };
    console.log(JSON.stringify(figures, null, 2));
    mkdirSync(join(__dirname, 'results'), { recursive: true });
    const name =
      machines > 0
        ? `rate-limit-${machines}m${enforcement === 'per-second' ? '-per-second' : ''}`
        : `rate-limit-${workers}w`;
    writeFileSync(join(__dirname, 'results', `${name}.json`), JSON.stringify(figures, null, 2) + '\n');
  } finally {
    await Promise.all(children.map((c) => stopProcess(c)));
    await connection.close();
    await server.stop();
    await sim.close();
    await pg?.stop();
  }
}

/** Transactions committed in the database so far (PostgreSQL's statistics; they lag by up to half a second). */
async function commits(url: string): Promise<number> {
  const { default: pgClient } = await import('pg');
  const client = new pgClient.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      'SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()'
    );
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}

void main();
