import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { LimitsProbe, shouldProbe, type ProbeSend } from '../../src/limits/limits-probe';
import { RateLimiter } from '../../src/limits/rate-limiter';
import { ConcurrencyController, HEADROOM, INITIAL_LATENCY_MS, SPARE } from '../../src/limits/concurrency';
import { SharedWindow } from '../../src/limits/shared-window';
import type { Limits } from '../../src/limits/window';
import { limitsProbe, probesOff } from '../../src/requests/admit';
import type { ProviderClient } from '../../src/providers/types';
import { openai } from '../../src/providers/openai';
import { anthropic } from '../../src/providers/anthropic';
import { bufferedFetch } from '../../src/providers/http-transport';
import { classifierOf } from '../../src/providers/outcome';
import { startSimulator } from '../../src/simulator';

const ONE = { requests: 1, input: 10, output: 5 };
const LIMIT_HEADERS = new Headers({
  'x-ratelimit-limit-requests': '30000',
  'x-ratelimit-limit-tokens': '150000000',
  'x-ratelimit-remaining-requests': '29999',
  'x-ratelimit-remaining-tokens': '149999990',
});

let dir: string;
let n = 0;
const windows: SharedWindow[] = [];
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'limits-probe-test-'));
});
after(async () => {
  for (const w of windows) w.close();
  await rm(dir, { recursive: true, force: true });
});

function limiter(configured: Limits = {}): RateLimiter {
  const window = new SharedWindow(join(dir, `limits-${++n}.db`));
  windows.push(window);
  return new RateLimiter({ bucket: 'b', configured, maxConcurrent: 256, window });
}

/** A probe whose sends the test counts and answers by hand. */
function probeOf(target: RateLimiter) {
  const lines: string[] = [];
  const sends: { resolve: (h: Headers | undefined) => void; reject: (e: unknown) => void }[] = [];
  const send: ProbeSend = () => new Promise((resolve, reject) => sends.push({ resolve, reject }));
  const probe = new LimitsProbe('b', target);
  const start = () => probe.start({ send, log: (line) => lines.push(line), describe: (e) => String(e) });
  return { probe, start, sends, lines };
}

test('shouldProbe: only while limits are wanted, and once', () => {
  assert.equal(shouldProbe({ sent: false, wanted: true }), true);
  assert.equal(shouldProbe({ sent: true, wanted: true }), false);
  assert.equal(shouldProbe({ sent: false, wanted: false }), false);
});

test('no limit known: one probe for every start; its headers are learned and the bucket leaves one-at-a-time', async () => {
  const target = limiter();
  const { start, sends, lines } = probeOf(target);
  assert.equal(target.concurrencyTarget(), 1);
  const outcome = start();
  assert.ok(outcome);
  // Other requests and jobs on the bucket share it.
  assert.equal(start(), undefined);
  assert.equal(start(), undefined);
  assert.equal(sends.length, 1);
  // Until the headers come, the bucket behaves as without a probe.
  assert.equal(target.concurrencyTarget(), 1);
  sends[0]!.resolve(LIMIT_HEADERS);
  assert.equal(await outcome, 'learned');
  assert.deepEqual(target.limits(), { requestsPerMinute: 30_000, tokensPerMinute: 150_000_000 });
  assert.ok(target.concurrencyTarget() > 1);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /limits probe of b: headers after \d+ ms/);
});

test("opened by a probe, before any answer: the latency is at least the first request's age, then as measured", () => {
  const controller = new ConcurrencyController(100_000);
  const target = (latencyMs: number) => Math.ceil(((100 * latencyMs) / 1000) * HEADROOM) + SPARE;
  assert.equal(controller.target(100), target(INITIAL_LATENCY_MS));
  assert.equal(controller.target(100, 500), target(INITIAL_LATENCY_MS));
  assert.equal(controller.target(100, 20_000), target(20_000));
  assert.equal(controller.latencyKnown, false);
  controller.answered(3000, 100, 1);
  assert.equal(controller.latencyKnown, true);
  assert.equal(controller.target(100, 20_000), target(3000));
});

test('a waiting request gets its slot as soon as the probe answers', async () => {
  const target = limiter();
  const { start, sends } = probeOf(target);
  void start();
  const first = await target.acquire(ONE);
  let second = false;
  const pending = target.acquire(ONE).then((p) => ((second = true), p));
  await new Promise((r) => setImmediate(r));
  assert.equal(second, false);
  sends[0]!.resolve(LIMIT_HEADERS);
  (await pending).answered({ input: 10, output: 5 });
  first.answered({ input: 10, output: 5 });
});

test('a failed probe or a server that does not stream leaves one request at a time, with one log line', async () => {
  for (const fail of [(s: { reject: (e: unknown) => void }) => s.reject(new Error('401')), undefined]) {
    const target = limiter();
    const { start, sends, lines } = probeOf(target);
    const outcome = start();
    if (fail) fail(sends[0]!);
    else sends[0]!.resolve(undefined);
    assert.equal(await outcome, fail ? 'failed' : 'not-streamed');
    assert.equal(target.concurrencyTarget(), 1);
    assert.deepEqual(target.limits(), {});
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /one request at a time until the first answer/);
    // Not sent again: the first answer tells the limits, as without a probe.
    assert.equal(start(), undefined);
    assert.equal(sends.length, 1);
  }
});

test('no probe with a configured limit, or once a request was answered', async () => {
  const configured = probeOf(limiter({ requestsPerMinute: 600 }));
  assert.equal(configured.start(), undefined);
  const tokensOnly = probeOf(limiter({ tokensPerMinute: 100_000 }));
  assert.equal(tokensOnly.start(), undefined);

  const target = limiter();
  const answered = probeOf(target);
  (await target.acquire(ONE)).answered({ input: 10, output: 5 });
  assert.equal(answered.start(), undefined);
  assert.equal(configured.sends.length + tokensOnly.sends.length + answered.sends.length, 0);
});

test('limitsProbe: off with backend.probeLimits false, CURATOR_PROBE_LIMITS=off or a client that cannot probe; errors described as classified', async () => {
  const base: ProviderClient = {
    provider: 'openai',
    baseURL: 'http://127.0.0.1:1/v1',
    call: () => Promise.reject(new Error('unused')),
  };
  const err = new OpenAI.AuthenticationError(401, { message: 'Incorrect API key sk-secret' }, 'x', new Headers());
  const client: ProviderClient = { ...base, probeLimits: () => Promise.reject(err) };
  const redact = (text: string) => text.replace('sk-secret', '***');
  assert.equal(
    limitsProbe(base, { model: 'm' }, redact, () => undefined),
    undefined
  );
  assert.equal(
    limitsProbe(client, { model: 'm', backend: { probeLimits: false } }, redact, () => undefined),
    undefined
  );
  for (const off of ['off', '0', 'FALSE']) assert.equal(probesOff({ CURATOR_PROBE_LIMITS: off }), true);
  for (const on of [undefined, '', 'on', '1']) assert.equal(probesOff({ CURATOR_PROBE_LIMITS: on }), false);
  const options = limitsProbe(client, { model: 'm' }, redact, () => undefined)!;
  const thrown = await options.send(AbortSignal.timeout(1000), 1000).catch((e: unknown) => e);
  const described = options.describe(thrown);
  assert.match(described, /HTTP 401/);
  assert.doesNotMatch(described, /sk-secret/);
});

test('the providers probe with a stream: headers while the answer is still coming, the stream given up', async () => {
  // Answers take 5 s; the headers come after the time to first token (300 ms).
  const sim = await startSimulator({ latencyMs: 5000, validApiKeys: ['sk-good'] });
  try {
    const clients = [
      openai.createClient({ baseURL: sim.openaiBaseURL, apiKey: 'sk-good', fetch: bufferedFetch }),
      anthropic.createClient({ baseURL: sim.anthropicBaseURL, apiKey: 'sk-good', fetch: bufferedFetch }),
    ];
    for (const [k, client] of clients.entries()) {
      const headers = await client.probeLimits!(k === 0 ? 'gpt-4o-mini' : 'claude-sim-1', { timeoutMs: 10_000 });
      // The simulator is still streaming the answer: the probe did not wait for it, through the engine's fetch or not.
      assert.equal(sim.stats.inFlight, 1);
      assert.ok(headers);
      assert.ok(headers.get(k === 0 ? 'x-ratelimit-limit-requests' : 'anthropic-ratelimit-requests-limit'));
      const recorded = sim.stats.requests.at(-1)!;
      assert.equal(recorded.stream, true);
      assert.equal(recorded.prompt, 'hi');
      assert.equal(recorded.status, 200);
      // Given up: the simulator sees the client gone and stops.
      for (let i = 0; i < 200 && sim.stats.inFlight > 0; i++) await new Promise((r) => setTimeout(r, 25));
      assert.equal(sim.stats.inFlight, 0);
    }
    // A wrong key fails the probe as it fails a call: classified, fatal.
    const wrong = openai.createClient({ baseURL: sim.openaiBaseURL, apiKey: 'sk-bad' });
    const err = await wrong.probeLimits!('gpt-4o-mini', { timeoutMs: 10_000 }).catch((e: unknown) => e);
    const classified = classifierOf(wrong)(err);
    assert.equal(classified.type, 'AuthenticationFailed');
    assert.equal(classified.fatal, true);
    // A server that does not stream (here: a 200 with a JSON body) gives no headers.
    sim.setOptions({ latencyMs: 0, faults: [{ match: 'hi', fault: { kind: 'malformed' } }] });
    assert.equal(await clients[0]!.probeLimits!('gpt-4o-mini', { timeoutMs: 10_000 }), undefined);
  } finally {
    await sim.close();
  }
});
