/**
 * One rate limit across machines: two workers with cache directories of their own (two "machines": their `limits.db`
 * files cannot see each other) and one PostgreSQL (`CURATOR_DATABASE_URL`) run jobs with one key on one model of the
 * simulator, which enforces the limit per second as OpenAI does. Together they stay within it, every row is answered
 * exactly once, and PostgreSQL stopped and started again in the middle of a job does not fail the job. Counts only,
 * never timings.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { pgQuery } from '../helpers/pg-query';
import { createWorker, curate, defineCurator, type Curator } from '../../src';
import { startSimulator, type Simulator } from '../../src/simulator';
import { infraSkipReason, startPgServer, type PgServer } from '../helpers/infra-servers';
import { startTemporal, tempDir } from '../helpers/temporal';

type Item = { id: number };
const MODEL = 'gpt-4o-mini-across-machines';

/** Machine `m`'s curator: its own prompts (so each row's answer is counted apart), the shared model and key. */
const curatorOf = (m: string, model = MODEL) =>
  defineCurator({
    name: `across-${m}`,
    model,
    prompt: (row: Item) => `Across machines ${m} item ${row.id}`,
    parse: (row: Item, answer: string) => ({ id: row.id, answer }),
    backend: { maxRetries: 20 },
  });
const machines = ['a', 'b'] as const;

describe('one rate limit across machines through PostgreSQL', { skip: infraSkipReason('postgres') }, () => {
  let env: TestWorkflowEnvironment;
  let sim: Simulator;
  let server: PgServer;
  let url: string;
  const disks = Object.fromEntries(machines.map((m) => [m, tempDir(`across-${m}`)]));
  const workers: { worker: Worker; done: Promise<void> }[] = [];

  before(async () => {
    [env, sim, server] = await Promise.all([startTemporal(), startSimulator(), startPgServer(tempDir('across-pg'))]);
    url = await server.database('across');
    for (const m of machines) {
      const worker = await createWorker({
        connection: env.nativeConnection,
        taskQueue: `across-${m}`,
        cacheDir: disks[m],
        curators: [curatorOf(m), curatorOf(`${m}-blip`, `${MODEL}-blip`)],
        env: { OPENAI_API_KEY: 'sk-test-across', OPENAI_BASE_URL: sim.openaiBaseURL, CURATOR_DATABASE_URL: url },
      });
      workers.push({ worker, done: worker.run() });
    }
  });

  after(async () => {
    for (const w of workers) w.worker.shutdown();
    await Promise.allSettled(workers.map((w) => w.done));
    await Promise.allSettled([sim?.close(), env?.teardown(), server?.stop()]);
  });

  /** Runs `n` rows of `curator` on machine `m`, planned on that machine's disk. */
  const run = (curator: Curator<any, any, any>, m: string, n: number) =>
    curate(env.client, curator.name, {
      dataset: Array.from({ length: n }, (_, id) => ({ id })),
      taskQueue: `across-${m}`,
      cacheDir: disks[m],
      batchSize: 50,
    });

  /** Both jobs of `n` rows succeeded, and the simulator answered every row's prompt exactly once. */
  function assertEveryRowOnce(results: { stats: { succeeded: number } }[], n: number): void {
    const ok = new Map<string, number>();
    for (const r of sim.stats.requests) if (r.status === 200) ok.set(r.prompt, (ok.get(r.prompt) ?? 0) + 1);
    assert.deepEqual(
      results.map((r) => r.stats.succeeded),
      [n, n]
    );
    assert.equal(ok.size, 2 * n, 'every row answered');
    assert.ok(
      [...ok.values()].every((c) => c === 1),
      'no row answered twice'
    );
  }

  test('two machines on one key keep the per-second limit between them', async () => {
    sim.setOptions({ latencyMs: { min: 20, max: 60 }, rateLimits: { rpm: 6000, enforcement: 'per-second' } });
    sim.reset();
    const n = 400;
    const results = await Promise.all(machines.map((m) => run(curatorOf(m), m, n)));
    assertEveryRowOnce(results, n);
    const refused = sim.stats.refused.rateLimited;
    const most = Math.max(...sim.stats.admittedPerSecond.values());
    const start = Math.min(...sim.stats.requests.map((r) => r.at));
    const early = sim.stats.requests.filter((r) => r.status === 429 && r.at < start + 2000).length;
    console.log(
      `across machines: ${2 * n} rows, ${sim.stats.total} calls, 429 ${refused} (${early} in the first 2 s), ` +
        `most in a second ${most}`
    );
    // Each machine alone in its limits.db (no shared window) paces to the whole 100/s, and together they draw
    // hundreds of 429s; sharing the window through PostgreSQL, a few.
    assert.ok(refused <= 0.08 * 2 * n, `429s: ${refused}`);
    assert.ok(most <= 100);
    // The window the machines shared is PostgreSQL's: both counted their sends there.
    const rows = await pgQuery<{ n: string }>(
      url,
      "SELECT COUNT(DISTINCT sender) AS n FROM curator_limit_loads WHERE bucket LIKE '%' || $1",
      [MODEL]
    );
    assert.equal(Number(rows[0]!.n), 2, 'both machines reported on the bucket');
  });

  test('PostgreSQL stopped and started again mid-job: the job finishes, every row once', async () => {
    sim.setOptions({ latencyMs: { min: 50, max: 150 }, rateLimits: { rpm: 3000, enforcement: 'per-second' } });
    sim.reset();
    const n = 300;
    const jobs = machines.map((m) => run(curatorOf(`${m}-blip`, `${MODEL}-blip`), m, n));
    // Mid-job: once a quarter of the rows were answered.
    while (sim.stats.total < (2 * n) / 4) await delay(50);
    await server.stop();
    const answeredAtStop = sim.stats.total;
    await delay(3000);
    const answeredInOutage = sim.stats.total - answeredAtStop;
    await server.start();
    const results = await Promise.all(jobs);
    console.log(
      `blip: ${2 * n} rows, ${sim.stats.total} calls, 429 ${sim.stats.refused.rateLimited}, ` +
        `${answeredInOutage} calls during the 3 s outage`
    );
    assertEveryRowOnce(results, n);
    assert.ok(Math.max(...sim.stats.admittedPerSecond.values()) <= 50);
  });
});
