/**
 * Batch mode without Temporal: the pure pieces (splitting within limits, custom ids, prices, fingerprint, which
 * requests a round sends) and the activities in a mock activity context against the simulator, to show that a
 * retried submit or download never creates a batch or records an answer twice.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ActivityDeps } from '../../src/activities/deps';
import { createPlan } from '../../src/activities/plan';
import {
  createProviderBatchActivities,
  jobKey,
  requestsToSend,
  type Submission,
} from '../../src/activities/provider-batch';
import { batchPrices, costUsd, pricesFor } from '../../src/cost';
import { renderPanel } from '../../src/cli/progress';
import { formatSummary } from '../../src/cli/summary';
import type { CurationProgress } from '../../src/client';
import { defineCurator } from '../../src/curator';
import type { ProviderBatchTask, RunPlan } from '../../src/types';
import { customIdOf, indexOfCustomId, splitBatches } from '../../src/providers/batch';
import { batchLimits } from '../../src/providers';
import { ANTHROPIC_BATCH_LIMITS } from '../../src/providers/anthropic';
import { OPENAI_BATCH_LIMITS } from '../../src/providers/openai';
import { storeRows } from '../../src/storage/dataset';
import { decideBatchRetries } from '../../src/workflows/request-state';
import { runFingerprint } from '../../src/requests/fingerprint';
import { writeFileAtomic } from '../../src/storage/jsonl';
import { ShardLog } from '../../src/storage/response-log';
import { startSimulator, type Simulator } from '../../src/simulator';
import { tempDir } from '../helpers/temporal';

describe('pure pieces', () => {
  test('splitBatches keeps order and stays within the request and byte limits', () => {
    const items = Array.from({ length: 10 }, (_, i) => i);
    assert.deepEqual(
      splitBatches(items, () => 1, { requests: 4, bytes: 1e9 }),
      [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9],
      ]
    );
    // 64 KiB of framing plus 30 KiB per item: two items fit under 128 KiB, a third does not.
    const parts = splitBatches(items, () => 30 * 1024, { requests: 100, bytes: 128 * 1024 });
    assert.deepEqual(
      parts.map((p) => p.length),
      [2, 2, 2, 2, 2]
    );
    assert.deepEqual(parts.flat(), items);
    // An item above the limit on its own still gets a batch, where the provider rejects it alone.
    assert.deepEqual(
      splitBatches([1, 2, 3], (i) => (i === 2 ? 1e9 : 1), { requests: 100, bytes: 1e6 }),
      [[1], [2], [3]]
    );
    assert.deepEqual(
      splitBatches([], () => 1, OPENAI_BATCH_LIMITS),
      []
    );
  });

  test("custom ids round-trip and fit Anthropic's pattern", () => {
    for (const i of [0, 7, 123_456_789]) {
      assert.match(customIdOf(i), /^[A-Za-z0-9_-]{1,64}$/);
      assert.equal(indexOfCustomId(customIdOf(i)), i);
    }
    assert.equal(indexOfCustomId('other-3'), undefined);
  });

  test("limits: the provider's by default, lowered but never raised by the curator", () => {
    const openai = defineCurator({ name: 'o', model: 'gpt-4o-mini', prompt: () => 'x' });
    const claude = defineCurator({ name: 'c', model: 'claude-3-5-haiku-latest', prompt: () => 'x' });
    assert.deepEqual(batchLimits(openai), { requests: 50_000, bytes: 200 * 1024 * 1024 });
    assert.deepEqual(batchLimits(claude), ANTHROPIC_BATCH_LIMITS);
    assert.deepEqual(batchLimits({ ...openai, backend: { batchMaxRequests: 10, batchMaxBytes: 1e12 } }), {
      requests: 10,
      bytes: OPENAI_BATCH_LIMITS.bytes,
    });
  });

  test('batch mode halves the prices, listed or set on the curator', () => {
    const sync = defineCurator({ name: 's', model: 'gpt-4o-mini', prompt: () => 'x' });
    const batch = defineCurator({ name: 'b', model: 'gpt-4o-mini', prompt: () => 'x', backend: { batch: true } });
    const p = pricesFor(sync)!;
    const b = pricesFor(batch)!;
    assert.equal(b.batch, true);
    assert.equal(p.batch, undefined);
    assert.equal(b.inputPerMillion, p.inputPerMillion / 2);
    assert.equal(b.outputPerMillion, p.outputPerMillion / 2);
    const tokens = { input: 1234, output: 567 };
    assert.ok(Math.abs(costUsd(b, tokens)! - costUsd(p, tokens)! / 2) < 1e-15);
    const custom = defineCurator({
      name: 'c',
      model: 'my-model',
      prompt: () => 'x',
      backend: { batch: true, inputCostPerMillion: 2, outputCostPerMillion: 8 },
    });
    assert.deepEqual(pricesFor(custom), { inputPerMillion: 1, outputPerMillion: 4, source: 'curator', batch: true });
    assert.deepEqual(batchPrices({ inputPerMillion: 3, outputPerMillion: 5, source: 'curator' }).inputPerMillion, 1.5);
  });

  test('batch mode is part of the fingerprint; synchronous fingerprints are unchanged', () => {
    const base = { name: 'f', model: 'gpt-4o-mini', prompt: (r: { a: string }) => r.a };
    const env = {};
    const plain = runFingerprint(defineCurator(base) as never, 'd', env);
    assert.equal(runFingerprint(defineCurator({ ...base, backend: { batch: false } }) as never, 'd', env), plain);
    assert.equal(runFingerprint(defineCurator({ ...base, backend: { maxRetries: 2 } }) as never, 'd', env), plain);
    assert.notEqual(runFingerprint(defineCurator({ ...base, backend: { batch: true } }) as never, 'd', env), plain);
  });

  test('requestsToSend: the whole batch first, then the retryable requests of the groups the workflow retries', () => {
    const log = new ShardLog();
    const job = 'job';
    const expired = { type: 'Expired' as const, message: '', retryable: true };
    log.apply({ i: 10, job: 'earlier', attempt: 1, at: '', ok: true, value: 'cached' }, job);
    log.apply({ i: 11, job, attempt: 1, at: '', ok: false, error: expired }, job);
    assert.deepEqual(requestsToSend(log, 10, 4, undefined), [12, 13], 'cached and attempted requests are not sent');
    assert.deepEqual(requestsToSend(log, 10, 4, [1]), [11]);
    assert.deepEqual(requestsToSend(log, 10, 4, [0, 1]), [11, 12, 13]);
    // A request whose last error is final is never resubmitted.
    const bad = { type: 'BadRequest' as const, message: '', retryable: false, status: 400 };
    log.apply({ i: 12, job, attempt: 1, at: '', ok: false, error: bad }, job);
    assert.deepEqual(requestsToSend(log, 10, 4, [1]), [11]);
    // An attempt the workflow does not know of happened before a crash: it is not repeated.
    log.apply({ i: 11, job, attempt: 2, at: '', ok: false, error: expired }, job);
    assert.deepEqual(requestsToSend(log, 10, 4, [1]), []);
  });

  test('decideBatchRetries: groups within maxRetries are retried after the backoff of their attempts', () => {
    const groups = [
      { attempts: 1, count: 40, type: 'Expired' },
      { attempts: 3, count: 2, type: 'ServerError' },
      { attempts: 4, count: 5, type: 'ServerError' },
    ];
    const decision = decideBatchRetries(groups, 3, () => 0);
    assert.deepEqual(decision, { retryAttempts: [1, 3], retry: 42, exhausted: 5, delayMs: 4000 });
    assert.deepEqual(
      decideBatchRetries([], 3, () => 0),
      { retryAttempts: [], retry: 0, exhausted: 0, delayMs: 0 }
    );
  });
});

describe('display', () => {
  const stats = {
    total: 10,
    succeeded: 10,
    failed: 0,
    cached: 0,
    outputRows: 10,
    retries: 0,
    tokens: { input: 1000, output: 2000 },
  };

  test('the summary says the cost is at batch prices', () => {
    const manifest = {
      curator: 'c',
      runHash: 'r',
      parseHash: 'p',
      workflowId: 'w',
      runDir: '/tmp/r',
      datasetPath: '/tmp/r/p.arrow',
      datasetSha256: 'x',
      failedRequestsPath: '/tmp/r/p.failed_requests.jsonl',
      stats,
      costUsd: 0.0012,
      fromCache: false,
      createdAt: '2026-01-01T00:00:00Z',
    };
    assert.match(formatSummary({ ...manifest, batch: true }), /\$0\.0012 .*batch API: 50% off/);
    assert.doesNotMatch(formatSummary(manifest), /batch API/);
  });

  test('the progress panel prices tokens at the halved batch prices, and says so', () => {
    const progress = {
      curator: 'c',
      runHash: 'r',
      parseHash: 'p',
      totalRequests: 10,
      batchCount: 1,
      partitions: 1,
      partitionsDone: 0,
      runningPartitions: [],
      finished: stats,
      settled: 10,
      inProgress: 0,
      activeBatches: 0,
      startedAt: 0,
      stats,
      prices: { inputPerMillion: 0.075, outputPerMillion: 0.3, batch: true },
    } as CurationProgress;
    const rates = { requestsPerMinute: 0, inputTokensPerMinute: 0, outputTokensPerMinute: 0, costPerMinute: 0 };
    const text = renderPanel(progress, rates, 1000).join('\n');
    assert.match(text, /\$0\.075 in \/ \$0\.3 out per 1M tokens \(batch API: 50% off\)/);
  });
});

describe('batch activities against the simulator', () => {
  let sim: Simulator;
  let deps: ActivityDeps;
  let plan: RunPlan;
  const curator = defineCurator({
    name: 'activity-batch',
    model: 'gpt-4o-mini',
    prompt: (row: { id: number; extra?: string }) => `Activity row ${row.id}${row.extra ?? ''}`,
    parse: (row: { id: number }, response: string) => ({ id: row.id, response }),
    backend: { batch: true, batchMaxRequests: 3 },
  });
  const env = new MockActivityEnvironment();
  const jobId = 'wf@run-1';
  /** Runs an activity function in the mock activity context. */
  const inActivity = <A, R>(fn: (arg: A) => Promise<R>, arg: A): Promise<R> =>
    env.run<[A], R, (arg: A) => Promise<R>>(fn, arg);

  before(async () => {
    sim = await startSimulator({ batches: { processingMs: 0 } });
    deps = new ActivityDeps({
      curators: [curator],
      cacheDir: tempDir('batch-activities'),
      env: { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: sim.openaiBaseURL },
    });
    const rows = Array.from({ length: 8 }, (_, id) => ({ id, ...(id === 4 ? { extra: ' [[sim:status=400]]' } : {}) }));
    const path = await storeRows(rows, deps.cache);
    plan = await inActivity(createPlan(deps), {
      curator: curator.name,
      dataset: { kind: 'jsonl' as const, path },
      options: { batchSize: 8 },
      workflowId: 'wf',
    });
  });
  after(async () => {
    deps.close();
    await sim.close();
  });
  beforeEach(() => sim.reset());

  const task = (round = 1, job = jobId): ProviderBatchTask => ({
    curator: curator.name,
    runHash: plan.runHash,
    parseHash: plan.parseHash,
    jobId: job,
    batch: 0,
    round,
  });
  const submissionFile = () => deps.cache.run(plan.runHash).providerBatch(0, jobKey(jobId), 1);

  test('the plan of a batch-mode job carries the poll interval and batch prices', () => {
    assert.deepEqual(plan.batchMode, { pollIntervalMs: 60_000 });
    assert.equal(plan.prices?.batch, true);
    assert.equal(plan.batchCount, 1);
  });

  test('submit splits within the limits and, run again, creates nothing new', async () => {
    const acts = createProviderBatchActivities(deps);
    const first = await inActivity(acts.submitProviderBatch, task());
    assert.deepEqual({ submitted: first.submitted, parts: first.parts }, { submitted: 8, parts: 3 });
    assert.equal(sim.stats.batchesCreated, 3);
    const again = await inActivity(acts.submitProviderBatch, task());
    assert.deepEqual(again, first);
    assert.equal(sim.stats.batchesCreated, 3, 'a retried submit reads its record');
  });

  test('a creation whose id was never recorded is found by its metadata, not created again', async () => {
    const acts = createProviderBatchActivities(deps);
    const record = JSON.parse(readFileSync(submissionFile(), 'utf8')) as Submission;
    const lostId = record.parts[1]!.id;
    // As if the worker died after the provider created part 1 and before the id reached the file.
    delete record.parts[1]!.id;
    record.parts[1]!.intentAt = Date.now() - 1000;
    await writeFileAtomic(submissionFile(), JSON.stringify(record));
    await inActivity(acts.submitProviderBatch, task());
    assert.equal(sim.stats.batchesCreated, 0);
    const after = JSON.parse(readFileSync(submissionFile(), 'utf8')) as Submission;
    assert.equal(after.parts[1]!.id, lostId);
  });

  test('poll, then download records every result once, however often it runs', async () => {
    const acts = createProviderBatchActivities(deps);
    const polled = await inActivity(acts.pollProviderBatches, {
      curator: curator.name,
      runHash: plan.runHash,
      jobId,
      batches: [{ batch: 0, round: 1 }],
    });
    assert.deepEqual(polled, { ended: [0], done: 8, total: 8 });
    const outcome = await inActivity(acts.downloadProviderBatch, task());
    const again = await inActivity(acts.downloadProviderBatch, task());
    assert.deepEqual(again, outcome);
    assert.equal(outcome.succeeded, 7);
    // A 400 inside a batch fails that request for good, as a synchronous 400 does.
    assert.equal(outcome.failed, 1);
    assert.deepEqual(outcome.retryable, []);
    assert.ok(outcome.tokens.input > 0 && outcome.tokens.output > 0);
    const lines = readFileSync(deps.cache.run(plan.runHash).responses(0), 'utf8').trim().split('\n');
    assert.equal(lines.length, 8, 'one attempt record per request');
    const log = await ShardLog.load(deps.cache.run(plan.runHash).responses(0), jobId);
    assert.equal(log.requests.get(4)?.errors[0]?.type, 'BadRequest');
    assert.equal(log.requests.get(3)?.attempts, 1);
  });

  test('a round with nothing left to send submits nothing and reports the outcome', async () => {
    const acts = createProviderBatchActivities(deps);
    const result = await inActivity(acts.submitProviderBatch, { ...task(2), retryAttempts: [1] });
    assert.equal(result.submitted, 0);
    assert.equal(result.outcome?.succeeded, 7);
    assert.equal(sim.stats.batchesCreated, 0);
  });

  test('cancel cancels the provider batches of a round that still run', async () => {
    sim.setOptions({ batches: { processingMs: 60_000 } });
    const acts = createProviderBatchActivities(deps);
    // A new job: the 7 answers are cached, request 4 (failed for the first job only) is sent again.
    const t = task(1, 'wf@run-2');
    const submitted = await inActivity(acts.submitProviderBatch, t);
    assert.equal(submitted.submitted, 1);
    assert.equal(await inActivity(acts.cancelProviderBatch, t), 1);
    const polled = await inActivity(acts.pollProviderBatches, {
      curator: curator.name,
      runHash: plan.runHash,
      jobId: 'wf@run-2',
      batches: [{ batch: 0, round: 1 }],
    });
    assert.deepEqual(polled.ended, [0]);
    sim.setOptions({ batches: { processingMs: 0 } });
  });
});
