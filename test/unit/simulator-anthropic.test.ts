import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import Ajv2020 from 'ajv/dist/2020';
import { z } from 'zod';
import { startSimulator, type Simulator } from '../../src/simulator';

let sim: Simulator;

before(async () => {
  sim = await startSimulator();
});

after(async () => {
  await sim.close();
});

const MODEL = 'claude-sim-1';
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

function client(options: { maxRetries?: number; apiKey?: string; baseURL?: string } = {}): Anthropic {
  return new Anthropic({
    apiKey: options.apiKey ?? 'sk-ant-test',
    baseURL: options.baseURL ?? sim.anthropicBaseURL,
    maxRetries: options.maxRetries ?? 0,
  });
}

function ask(content: string, extra: Partial<Anthropic.MessageCreateParamsNonStreaming> = {}) {
  return client().messages.create({ model: MODEL, max_tokens: 256, messages: [{ role: 'user', content }], ...extra });
}

function rawPost(path: string, body: unknown, headers: Record<string, string>): Promise<Response> {
  return fetch(`${sim.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

test('success body, usage, headers and count_tokens agree', async () => {
  const params = {
    model: MODEL,
    system: 'Answer briefly.',
    messages: [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'hello from anthropic' }] }],
  };
  const { data, response } = await client()
    .messages.create({ ...params, max_tokens: 256 })
    .withResponse();
  assert.match(data.id, /^msg_/);
  assert.equal(data.type, 'message');
  assert.equal(data.role, 'assistant');
  assert.equal(data.model, MODEL);
  assert.equal(data.stop_reason, 'end_turn');
  assert.equal(data.stop_sequence, null);
  assert.equal(data.content.length, 1);
  const block = data.content[0]!;
  assert.ok(block.type === 'text');
  // system + 1 message: 2 × 4 + ⌈15/4⌉ + ⌈20/4⌉ + 2
  assert.equal(data.usage.input_tokens, 8 + 4 + 5 + 2);
  assert.equal(data.usage.output_tokens, Math.ceil(block.text.length / 4));
  assert.equal(data.usage.cache_creation_input_tokens, 0);
  assert.equal(data.usage.cache_read_input_tokens, 0);
  assert.equal(data.usage.service_tier, 'standard');

  const h = response.headers;
  assert.match(h.get('request-id') ?? '', /^req_/);
  for (const kind of ['requests', 'tokens', 'input-tokens', 'output-tokens']) {
    assert.match(h.get(`anthropic-ratelimit-${kind}-limit`) ?? '', /^\d+$/, kind);
    assert.match(h.get(`anthropic-ratelimit-${kind}-remaining`) ?? '', /^\d+$/, kind);
    assert.match(h.get(`anthropic-ratelimit-${kind}-reset`) ?? '', RFC3339, kind);
  }
  assert.ok(Number(h.get('anthropic-ratelimit-requests-remaining')) < 10_000);
  assert.equal(Number(h.get('anthropic-ratelimit-input-tokens-remaining')) % 1000, 0, 'rounded to thousands');
  assert.ok(Date.parse(h.get('anthropic-ratelimit-requests-reset')!) > Date.now());

  const counted = await client().messages.countTokens(params);
  assert.deepEqual(counted, { input_tokens: data.usage.input_tokens });
  assert.equal(sim.callsFor('hello from anthropic'), 1, 'count_tokens is not counted as a completion');

  const again = await client().messages.create({ ...params, max_tokens: 256 });
  assert.deepEqual(again.content, data.content, 'deterministic');
});

const Review = z.object({
  rating: z.int().min(1).max(5),
  summary: z.string().min(10),
  pros: z.array(z.string()).min(1),
  verdict: z.enum(['buy', 'skip']),
  reviewer: z.object({ name: z.string(), email: z.email() }).nullable(),
});

test('forced tool_use returns schema-valid input with stop_reason tool_use', async () => {
  const input_schema = z.toJSONSchema(Review) as Anthropic.Tool.InputSchema;
  const res = await ask('review this', {
    tools: [{ name: 'submit_review', description: 'Submit', input_schema }],
    tool_choice: { type: 'tool', name: 'submit_review' },
  });
  assert.equal(res.stop_reason, 'tool_use');
  const block = res.content[0]!;
  assert.ok(block.type === 'tool_use');
  assert.equal(block.name, 'submit_review');
  assert.match(block.id, /^toolu_/);
  const parsed = Review.safeParse(block.input);
  assert.ok(parsed.success, parsed.success ? '' : parsed.error.message);
  assert.equal(res.usage.output_tokens, Math.ceil(JSON.stringify(block.input).length / 4));

  const broken = await ask('review this [[sim:invalid-json]]', {
    tools: [{ name: 'submit_review', input_schema }],
    tool_choice: { type: 'any' },
  });
  const brokenBlock = broken.content[0]!;
  assert.ok(brokenBlock.type === 'tool_use');
  assert.equal(Review.safeParse(brokenBlock.input).success, false);
});

test('output_config json_schema returns a JSON text block that validates', async () => {
  const schema = z.toJSONSchema(Review);
  const res = await ask('review as json', { output_config: { format: { type: 'json_schema', schema } } });
  const block = res.content[0]!;
  assert.ok(block.type === 'text');
  const value: unknown = JSON.parse(block.text);
  assert.ok(Review.safeParse(value).success);
  const ajv = new Ajv2020({ strict: false, validateFormats: false });
  assert.ok(ajv.validate(schema, value), ajv.errorsText());
});

test('authentication: wrong key and missing key get authentication_error', async () => {
  sim.setOptions({ validApiKeys: ['sk-ant-good'] });
  try {
    const err = await ask('hi').catch((e: unknown) => e);
    assert.ok(err instanceof Anthropic.AuthenticationError);
    assert.equal(err.status, 401);
    assert.deepEqual(err.error, {
      type: 'error',
      error: { type: 'authentication_error', message: 'invalid x-api-key' },
      request_id: err.requestID,
    });
    const ok = await client({ apiKey: 'sk-ant-good' }).messages.create({
      model: MODEL,
      max_tokens: 10,
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(ok.type, 'message');
    const viaHeader = await rawPost(
      '/v1/messages',
      { model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
      { 'x-api-key': 'sk-ant-good', 'anthropic-version': '2023-06-01' }
    );
    assert.equal(viaHeader.status, 200);
  } finally {
    sim.setOptions({ validApiKeys: undefined });
  }
  const missing = await rawPost('/v1/messages', {}, { 'anthropic-version': '2023-06-01' });
  assert.equal(missing.status, 401);
  const body = (await missing.json()) as { type: string; error: { type: string; message: string } };
  assert.equal(body.type, 'error');
  assert.equal(body.error.type, 'authentication_error');
  assert.equal(missing.headers.get('request-id'), (body as unknown as { request_id: string }).request_id);
});

test('validation: missing max_tokens and missing anthropic-version are 400 invalid_request_error', async () => {
  const params = { model: MODEL, messages: [{ role: 'user', content: 'no max' }] };
  const err = await client()
    .messages.create(params as unknown as Anthropic.MessageCreateParamsNonStreaming)
    .catch((e: unknown) => e);
  assert.ok(err instanceof Anthropic.BadRequestError);
  assert.equal(err.type, 'invalid_request_error');
  assert.match(err.message, /max_tokens: Field required/);

  const noVersion = await rawPost('/v1/messages', { ...params, max_tokens: 5 }, { 'x-api-key': 'k' });
  assert.equal(noVersion.status, 400);
  const body = (await noVersion.json()) as { error: { type: string; message: string } };
  assert.equal(body.error.type, 'invalid_request_error');
  assert.match(body.error.message, /anthropic-version/);
});

test('529 overloaded is retried by the SDK and succeeds after `times`', async () => {
  const err = await ask('busy [[sim:status=529]]').catch((e: unknown) => e);
  assert.ok(err instanceof Anthropic.InternalServerError);
  assert.equal(err.status, 529);
  assert.equal(err.type, 'overloaded_error');
  assert.equal(err.apiMessage, 'Overloaded');

  const prompt = 'busy once [[sim:status=529,retryAfter=0.05,times=1]]';
  const res = await client({ maxRetries: 2 }).messages.create({
    model: MODEL,
    max_tokens: 50,
    messages: [{ role: 'user', content: prompt }],
  });
  assert.equal(res.type, 'message');
  assert.deepEqual(
    sim.stats.requests.filter((r) => r.prompt === prompt).map((r) => [r.status, r.retryCount, r.provider]),
    [
      [529, 0, 'anthropic'],
      [200, 1, 'anthropic'],
    ]
  );
});

test('stop reasons: max_tokens, stop_sequence, refusal and mapped finish faults', async () => {
  const full = await ask('tell me a long story');
  const text = (full.content[0] as Anthropic.TextBlock).text;

  const cut = await ask('tell me a long story', { max_tokens: 2 });
  assert.equal(cut.stop_reason, 'max_tokens');
  assert.equal(cut.usage.output_tokens, 2);
  assert.equal((cut.content[0] as Anthropic.TextBlock).text, text.slice(0, 8));

  const word = text.split(' ')[3]!;
  const stopped = await ask('tell me a long story', { stop_sequences: [word] });
  assert.equal(stopped.stop_reason, 'stop_sequence');
  assert.equal(stopped.stop_sequence, word);
  assert.equal((stopped.content[0] as Anthropic.TextBlock).text, text.slice(0, text.indexOf(word)));

  const refused = await ask('do something bad [[sim:refusal=No thanks]]');
  assert.equal(refused.stop_reason, 'refusal');
  assert.equal((refused.content[0] as Anthropic.TextBlock).text, 'No thanks');

  assert.equal((await ask('cut [[sim:finish=length]]')).stop_reason, 'max_tokens');
  assert.equal((await ask('filtered [[sim:finish=content_filter]]')).stop_reason, 'refusal');
  assert.equal((await ask('paused [[sim:finish=pause_turn]]')).stop_reason, 'pause_turn');
});

test('RPM limit: 429 rate_limit_error with retry-after; drop is a connection error', async () => {
  const limited = await startSimulator({ rateLimits: { rpm: 2, windowMs: 2000 } });
  try {
    const c = client({ baseURL: limited.anthropicBaseURL });
    const send = () =>
      c.messages.create({ model: MODEL, max_tokens: 20, messages: [{ role: 'user', content: 'rpm' }] }).withResponse();
    assert.equal((await send()).response.headers.get('anthropic-ratelimit-requests-remaining'), '1');
    assert.equal((await send()).response.headers.get('anthropic-ratelimit-requests-remaining'), '0');
    const err = await send().catch((e: unknown) => e);
    assert.ok(err instanceof Anthropic.RateLimitError);
    assert.equal(err.type, 'rate_limit_error');
    assert.match(err.message, /This request would exceed the rate limit for your organization \(.+\) of 2 requests/);
    assert.ok(['1', '2'].includes(err.headers.get('retry-after') ?? ''), 'whole seconds until a slot frees');
    assert.equal(err.headers.get('anthropic-ratelimit-requests-remaining'), '0');
    assert.match(err.headers.get('anthropic-ratelimit-requests-reset') ?? '', RFC3339);
  } finally {
    await limited.close();
  }

  await assert.rejects(ask('vanish [[sim:drop]]'), Anthropic.APIConnectionError);
});
