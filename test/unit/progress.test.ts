import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CurationProgress } from '../../src/client';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  formatDuration,
  formatWait,
  learnedLimits,
  oldestWaiting,
  RateMeter,
  renderLine,
  renderPanel,
  sampleOf,
  workerLoad,
} from '../../src/cli/progress';
import { SharedWindow } from '../../src/limits/shared-window';
import { WaitingRequests } from '../../src/providers/waiting-requests';
import type { ProviderAnswer, ProviderClient } from '../../src/providers/types';

function progress(overrides: Partial<CurationProgress> = {}): CurationProgress {
  return {
    curator: 'poems',
    runHash: 'r',
    parseHash: 'p',
    totalRequests: 1000,
    batchCount: 10,
    partitions: 1,
    partitionsDone: 0,
    runningPartitions: ['job/p0'],
    finished: emptyStats(),
    settled: 400,
    inProgress: 64,
    activeBatches: 4,
    startedAt: 0,
    stats: {
      ...emptyStats(),
      total: 400,
      succeeded: 390,
      failed: 10,
      cached: 5,
      retries: 7,
      tokens: { input: 40_000, output: 80_000 },
    },
    ...overrides,
  };
}

function emptyStats() {
  return { total: 0, succeeded: 0, failed: 0, cached: 0, outputRows: 0, retries: 0, tokens: { input: 0, output: 0 } };
}

describe('live progress', () => {
  test('rates cover the last minute of samples, not the whole job', () => {
    const meter = new RateMeter(60_000);
    const at = (s: number, settled: number) => ({
      at: s * 1000,
      settled,
      succeeded: settled,
      input: 0,
      output: 0,
      cost: 0,
    });
    meter.add(at(0, 0));
    assert.equal(meter.add(at(30, 300)).requestsPerMinute, 600);
    meter.add(at(60, 600));
    // A stall: 30 s with nothing settled halves the rate over the last minute; a minute of it shows zero.
    assert.equal(meter.add(at(90, 600)).requestsPerMinute, 300);
    assert.equal(meter.add(at(150, 600)).requestsPerMinute, 0);
  });

  test('the panel shows counts, in-progress, rates against the limits, time left and cost', () => {
    const p = progress({
      limits: { requestsPerMinute: 3000, tokensPerMinute: 500_000 },
      prices: { inputPerMillion: 0.15, outputPerMillion: 0.6 },
    });
    const rates = {
      requestsPerMinute: 600,
      inputTokensPerMinute: 60_000,
      outputTokensPerMinute: 120_000,
      costPerMinute: 0.1,
    };
    const text = renderPanel(p, rates, 60_000).join('\n');
    assert.match(text, /40\.0%\s+400\/1,000 requests/);
    assert.match(text, /elapsed 1:00/);
    assert.match(text, /remaining ~1:00/); // 600 left at 600 per minute
    assert.match(text, /succeeded 390\s+failed 10\s+cached 5\s+in progress 64\s+retries 7/);
    assert.match(text, /600 req\/min \(limit 3,000 RPM\)/);
    assert.match(text, /180,000 TPM \(limit 500,000 TPM\)/);
    assert.match(text, /in 40,000 \(avg 100\)\s+out 80,000 \(avg 200\)/);
    // 40k in at $0.15/M + 80k out at $0.60/M = $0.054 so far, over 400 requests -> $0.135 for 1,000.
    assert.match(text, /\$0\.0540 so far\s+~\$0\.1350 projected/);
  });

  test('without prices or limits the panel says so instead of inventing numbers', () => {
    const rates = { requestsPerMinute: 0, inputTokensPerMinute: 0, outputTokensPerMinute: 0, costPerMinute: 0 };
    const text = renderPanel(progress(), rates, 1000).join('\n');
    assert.match(text, /remaining \?/);
    assert.doesNotMatch(text, /limit/);
    assert.match(text, /Cost\s+unknown/);
  });

  test('the log line carries the same counts in one line', () => {
    const line = renderLine(progress(), {
      requestsPerMinute: 120,
      inputTokensPerMinute: 0,
      outputTokensPerMinute: 0,
      costPerMinute: 0,
    });
    assert.equal(line.includes('\n'), false);
    assert.match(line, /400\/1000 requests \(40\.0%\), ok 390, failed 10, cached 5, in progress 64, 120 req\/min/);
  });

  test('samples price the tokens; durations read as clocks', () => {
    const s = sampleOf(progress({ prices: { inputPerMillion: 1, outputPerMillion: 2 } }), 5);
    assert.equal(s.cost, (40_000 * 1 + 80_000 * 2) / 1_000_000);
    assert.equal(formatDuration(65_000), '1:05');
    assert.equal(formatDuration(3_723_000), '1:02:03');
  });

  test('limits learned from headers are read from the workers limits.db and shown as such; settings win', () => {
    const root = mkdtempSync(join(tmpdir(), 'progress-'));
    const window = new SharedWindow(join(root, 'limits.db'));
    window.learn('openai http://sim/v1 gpt-4o-mini', { requestsPerMinute: 5000, tokensPerMinute: 2_000_000 });
    window.close();
    const where = { runDir: join(root, 'abc123'), rateBucket: 'openai http://sim/v1 gpt-4o-mini' };
    const learned = learnedLimits(where)!;
    assert.equal(learned.requestsPerMinute, 5000);
    assert.equal(learnedLimits({ ...where, rateBucket: 'other' }), undefined);
    assert.equal(learnedLimits({ runDir: join(tmpdir(), 'nowhere', 'x'), rateBucket: 'b' }), undefined);
    const rates = { requestsPerMinute: 600, inputTokensPerMinute: 0, outputTokensPerMinute: 0, costPerMinute: 0 };
    const text = renderPanel(progress({ limits: { tokensPerMinute: 900_000 } }), rates, 1000, learned).join('\n');
    assert.match(text, /600 req\/min \(limit 5,000 RPM from headers\)/);
    assert.match(text, /\(limit 900,000 TPM\)/);
  });

  test('requests in flight and the target are read from the workers reports in limits.db, fresh ones only', () => {
    const root = mkdtempSync(join(tmpdir(), 'progress-'));
    const window = new SharedWindow(join(root, 'limits.db'));
    const bucket = 'openai http://sim/v1 gpt-4o-mini';
    window.report(bucket, { inFlight: 1200, target: 1516 }, 50_000);
    window.close();
    const where = { runDir: join(root, 'abc123'), rateBucket: bucket };
    assert.deepEqual(workerLoad(where, 52_000), { inFlight: 1200, target: 1516 });
    assert.equal(workerLoad(where, 60_000), undefined, 'a report older than a few seconds is from a stopped worker');
    assert.equal(workerLoad({ ...where, rateBucket: 'other' }, 52_000), undefined);
    const rates = { requestsPerMinute: 600, inputTokensPerMinute: 0, outputTokensPerMinute: 0, costPerMinute: 0 };
    const text = renderPanel(progress({}), rates, 1000, {}, workerLoad(where, 52_000)).join('\n');
    assert.match(text, /in flight 1,200 \(target 1,516\)/);
    assert.doesNotMatch(renderPanel(progress({}), rates, 1000).join('\n'), /in flight \d/);
  });

  test('a request waiting long shows in the panel with its time limit, from the workers reports, no sooner', async () => {
    const root = mkdtempSync(join(tmpdir(), 'progress-'));
    const bucket = 'openai http://sim/v1 gpt-4o-mini';
    const where = { runDir: join(root, 'abc123'), rateBucket: bucket };
    let now = 100_000;
    const waiting = new WaitingRequests(root, () => now);
    // A server that answers only when told: the request stays in flight meanwhile.
    let answer!: () => void;
    const server: ProviderClient = {
      provider: 'openai',
      baseURL: 'http://sim/v1',
      call: () => new Promise<ProviderAnswer>((resolve) => (answer = () => resolve({} as ProviderAnswer))),
    };
    const client = waiting.track(bucket, server);
    const call = client.call({ model: 'gpt-4o-mini', messages: [] } as never, { timeoutMs: 180_000 });
    now += 5_000;
    waiting.report();
    assert.equal(oldestWaiting(where, now), undefined, 'a request answered within seconds is not news');
    now += 42_000;
    waiting.report();
    assert.deepEqual(oldestWaiting(where, now), { since: 100_000, timeoutMs: 180_000 });
    assert.equal(oldestWaiting({ ...where, rateBucket: 'other' }, now), undefined);
    assert.equal(oldestWaiting(where, now + 10_000), undefined, 'a report not renewed is from a stopped worker');
    const rates = { requestsPerMinute: 0, inputTokensPerMinute: 0, outputTokensPerMinute: 0, costPerMinute: 0 };
    const text = renderPanel(progress({}), rates, now, {}, undefined, oldestWaiting(where, now)).join('\n');
    assert.match(text, /oldest request waiting 47 s \(times out after 3 min\)/);
    assert.match(renderLine(progress({}), rates, now, oldestWaiting(where, now)), /, oldest request waiting 47 s/);
    answer();
    await call;
    waiting.report();
    assert.equal(oldestWaiting(where, now), undefined, 'answered: the report is removed');
    assert.doesNotMatch(renderPanel(progress({}), rates, now).join('\n'), /oldest request/);
    assert.equal(formatWait(125_000), '2 min 5 s');
    assert.equal(formatWait(600_000), '10 min');
    waiting.close();
  });
});
