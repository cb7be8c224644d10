/**
 * Running at the provider's limit. The simulator enforces 3,000 requests/min and 500,000 tokens/min over sliding
 * 60-second windows, with 200-800 ms latency; a 10,000-request job runs on 1 or 2 worker processes that share the
 * limit (learned from the simulator's headers: no limit is configured).
 *
 *   npx tsx bench/rate-limit.ts [--workers 1|2] [--rows 10000] [--rpm 3000] [--tpm 500000]
 *
 * Reports steady-state requests per minute (full minutes after the first), completion time over the ideal
 * (rows / limit), and 429s; writes bench/results/rate-limit-<workers>w.json.
 */
import { Client, Connection } from '@temporalio/client';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { curate } from '../src';
import { startSimulator } from '../src/simulator';
import { startDevServer } from '../src/temporal/dev-server';
import { spawnWorker, stopProcess } from './lib/processes';

async function main() {
  const { values } = parseArgs({
    options: {
      workers: { type: 'string', default: '1' },
      rows: { type: 'string', default: '10000' },
      rpm: { type: 'string', default: '3000' },
      tpm: { type: 'string', default: '500000' },
    },
  });
  const workers = Number(values.workers);
  const rows = Number(values.rows);
  const rpm = Number(values.rpm);
  const cacheDir = mkdtempSync(join(tmpdir(), 'curator-ratelimit-'));
  const sim = await startSimulator({ latencyMs: { min: 200, max: 800 }, rateLimits: { rpm, tpm: Number(values.tpm) } });
  const server = await startDevServer({ dbFilename: join(cacheDir, 'temporal.db'), port: 17233 + workers });
  const env = { OPENAI_API_KEY: 'sim-bench-key', OPENAI_BASE_URL: sim.openaiBaseURL };
  const children = Array.from({ length: workers }, () =>
    spawnWorker({ curators: join(__dirname, 'curators.ts'), address: server.address, cacheDir, env })
  );
  const connection = await Connection.connect({ address: server.address });
  try {
    const client = new Client({ connection });
    const started = Date.now();
    const result = await curate(client, 'bench-text', {
      dataset: Array.from({ length: rows }, (_, id) => ({ id })),
      cacheDir,
      maxConcurrentRequests: 64,
    });
    const ended = Date.now();
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
      rows,
      limits: { rpm, tpm: Number(values.tpm) },
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
    writeFileSync(join(__dirname, 'results', `rate-limit-${workers}w.json`), JSON.stringify(figures, null, 2) + '\n');
  } finally {
    await Promise.all(children.map((c) => stopProcess(c)));
    await connection.close();
    await server.stop();
    await sim.close();
  }
}

void main();
