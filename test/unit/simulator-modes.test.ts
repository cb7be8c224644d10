/**
 * The simulator's enforcement modes, transient errors and capacity limit over real HTTP, through the official SDKs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator';

async function withSim(options: SimulatorOptions, body: (sim: Simulator) => Promise<void>): Promise<void> {
  const sim = await startSimulator(options);
  try {
    await body(sim);
  } finally {
    await sim.close();
  }
}

/** A call's status and headers, whether it succeeded or failed with an API error of the SDK. */
async function settle(
  call: Promise<{ response: Response }>
): Promise<{ status: number; headers: Headers; error: unknown }> {
  try {
    const { response } = await call;
    return { status: response.status, headers: response.headers, error: undefined };
  } catch (error) {
    assert.ok(error instanceof OpenAI.APIError || error instanceof Anthropic.APIError, String(error));
    return { status: error.status as number, headers: error.headers as Headers, error };
  }
}

function openaiCall(sim: Simulator, content: string) {
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: sim.openaiBaseURL, maxRetries: 0 });
  return settle(
    client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] }).withResponse()
  );
}

function anthropicCall(sim: Simulator, content: string) {
  const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: sim.anthropicBaseURL, maxRetries: 0 });
  return settle(
    client.messages
      .create({ model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user', content }] })
      .withResponse()
  );
}

async function loadStats(sim: Simulator) {
  const res = await fetch(`${sim.url}/_sim/load-stats`);
  return (await res.json()) as {
    refused: Record<string, number>;
    maxInFlight: number;
    maxServing: number;
    admittedPerSecond: Record<string, number>;
  };
}

test('per-second enforcement: 600 RPM admits 10 at once, the 11th is a 429 with remaining 0 and a sub-second reset', async () => {
  await withSim({ rateLimits: { rpm: 600, enforcement: 'per-second' } }, async (sim) => {
    const results = await Promise.all(Array.from({ length: 11 }, (_, i) => openaiCall(sim, `q${i}`)));
    const ok = results.filter((r) => r.status === 200);
    const limited = results.filter((r) => r.status === 429);
    assert.equal(ok.length, 10);
    assert.equal(limited.length, 1);
    for (const r of results) assert.equal(r.headers.get('x-ratelimit-limit-requests'), '600');
    // The per-minute bucket, until the tenth request spends the second's quantum.
    const remaining = ok.map((r) => Number(r.headers.get('x-ratelimit-remaining-requests'))).sort((a, b) => a - b);
    assert.equal(remaining[0], 0);
    assert.ok(
      remaining.slice(1).every((n) => n >= 590 && n < 600),
      remaining.join(' ')
    );
    const [rejected] = limited;
    assert.equal(rejected?.headers.get('x-ratelimit-remaining-requests'), '0');
    assert.match(rejected?.headers.get('x-ratelimit-reset-requests') ?? '', /^(\d+ms|1s)$/);
    assert.equal(rejected?.headers.get('retry-after'), '1');
    const error = rejected?.error as InstanceType<typeof OpenAI.APIError>;
    assert.equal(error.code, 'rate_limit_exceeded');
    assert.equal(error.type, 'requests');
    assert.match(error.message, /Rate limit reached .* on requests per min \(RPM\): Limit 600/);
    const stats = await loadStats(sim);
    assert.equal(stats.refused.rateLimited, 1);
    assert.equal(
      Object.values(stats.admittedPerSecond).reduce((a, b) => a + b, 0),
      10
    );
  });
});

test('token-bucket enforcement: a bucket of limit/60 with Anthropic headers; the 429 says remaining 0', async () => {
  // 6 RPM: a bucket of one request, refilled every 10 s, so the second and third requests find it empty.
  await withSim({ rateLimits: { rpm: 6, enforcement: 'token-bucket' } }, async (sim) => {
    const results = await Promise.all(Array.from({ length: 3 }, (_, i) => anthropicCall(sim, `q${i}`)));
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 429, 429]);
    const ok = results.find((r) => r.status === 200);
    assert.equal(ok?.headers.get('anthropic-ratelimit-requests-remaining'), '0', 'the one-request bucket is empty');
    const rejected = results.find((r) => r.status === 429);
    assert.ok(rejected);
    assert.equal(rejected.headers.get('anthropic-ratelimit-requests-limit'), '6');
    assert.equal(rejected.headers.get('anthropic-ratelimit-requests-remaining'), '0');
    assert.match(rejected.headers.get('anthropic-ratelimit-requests-reset') ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const retryAfter = Number(rejected.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 10, `retry-after ${retryAfter}`);
    assert.equal((rejected.error as InstanceType<typeof Anthropic.APIError>).type, 'rate_limit_error');
  });
});

test('transient 429s come with budget left: retry-after 1 and the true remaining, nothing debited', async () => {
  await withSim({ rateLimits: { rpm: 600 }, transient: { rate429: 1 } }, async (sim) => {
    const o = await openaiCall(sim, 'busy gateway');
    assert.equal(o.status, 429);
    assert.equal(o.headers.get('retry-after'), '1');
    assert.equal(o.headers.get('x-ratelimit-remaining-requests'), '600');
    assert.equal((o.error as InstanceType<typeof OpenAI.APIError>).code, 'rate_limit_exceeded');
    const a = await anthropicCall(sim, 'busy gateway');
    assert.equal(a.status, 429);
    assert.equal(a.headers.get('retry-after'), '1');
    assert.equal(a.headers.get('anthropic-ratelimit-requests-remaining'), '600');
    const stats = await loadStats(sim);
    assert.deepEqual(stats.refused, { rateLimited: 0, transient429: 2, overloaded529: 0, capacity503: 0 });
  });
});

test('transient 529s are Anthropic overloaded_errors; OpenAI requests do not get them', async () => {
  await withSim({ transient: { rate529: 1, retryAfterSeconds: 2 } }, async (sim) => {
    const a = await anthropicCall(sim, 'overloaded');
    assert.equal(a.status, 529);
    assert.equal(a.headers.get('retry-after'), '2');
    const error = a.error as InstanceType<typeof Anthropic.APIError>;
    assert.equal(error.type, 'overloaded_error');
    assert.equal((await openaiCall(sim, 'fine')).status, 200);
    assert.equal((await loadStats(sim)).refused.overloaded529, 1);
  });
});

test('a 5% transient rate fails about 5% of requests', async () => {
  await withSim({ transient: { rate429: 0.05 } }, async (sim) => {
    const results = await Promise.all(Array.from({ length: 400 }, (_, i) => openaiCall(sim, `r${i}`)));
    const failed = results.filter((r) => r.status === 429).length;
    // Binomial(400, 0.05): mean 20, sd 4.4; the bounds are 3 sd wide.
    assert.ok(failed >= 6 && failed <= 34, `${failed} of 400`);
  });
});

test('capacity mode serves N at once, queues Q, answers 503 beyond, and sends no rate-limit headers', async () => {
  await withSim({ capacity: { concurrent: 2, queue: 1 }, latencyMs: 1000 }, async (sim) => {
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => openaiCall(sim, `c${i}`)));
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 200, 200, 503, 503]);
    for (const r of results) assert.equal(r.headers.get('x-ratelimit-limit-requests'), null);
    const stats = await loadStats(sim);
    assert.equal(stats.maxServing, 2);
    assert.ok(stats.maxInFlight >= 3, `max in flight ${stats.maxInFlight}`);
    assert.equal(stats.refused.capacity503, 2);
  });
});
