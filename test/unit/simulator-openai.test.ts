import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
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

function client(options: { maxRetries?: number; apiKey?: string; timeout?: number; baseURL?: string } = {}): OpenAI {
  return new OpenAI({
    apiKey: options.apiKey ?? 'sk-test-key',
    baseURL: options.baseURL ?? sim.openaiBaseURL,
    maxRetries: options.maxRetries ?? 0,
    timeout: options.timeout ?? 10_000,
  });
}

function ask(content: string, extra: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming> = {}) {
  return client().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }], ...extra });
}

const GO_DURATION = /^(\d+h)?(\d+m)?(\d+(\.\d+)?s|\d+ms)$/;

test('success body, usage and headers follow the Chat Completions format', async () => {
  const { data, response } = await client()
    .chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'hello there' },
      ],
    })
    .withResponse();
  assert.match(data.id, /^chatcmpl-[A-Za-z0-9]{29}$/);
  assert.equal(data.object, 'chat.completion');
  assert.equal(data.model, 'gpt-4o-mini');
  assert.equal(typeof data.created, 'number');
  assert.equal(data.service_tier, 'default');
  assert.match(data.system_fingerprint ?? '', /^fp_[0-9a-f]{10}$/);
  assert.equal(data.choices.length, 1);
  const choice = data.choices[0]!;
  assert.equal(choice.index, 0);
  assert.equal(choice.logprobs, null);
  assert.equal(choice.finish_reason, 'stop');
  assert.equal(choice.message.role, 'assistant');
  assert.equal(choice.message.refusal, null);
  const content = choice.message.content ?? '';
  assert.ok(content.length > 0);
  // 2 messages × 4 + ⌈14/4⌉ + ⌈11/4⌉ + 2 priming
  assert.equal(data.usage?.prompt_tokens, 8 + 4 + 3 + 2);
  assert.equal(data.usage?.completion_tokens, Math.ceil(content.length / 4));
  assert.equal(data.usage?.total_tokens, data.usage!.prompt_tokens + data.usage!.completion_tokens);
  assert.deepEqual(data.usage?.prompt_tokens_details, { cached_tokens: 0, audio_tokens: 0 });
  assert.equal(data.usage?.completion_tokens_details?.reasoning_tokens, 0);

  const h = response.headers;
  assert.match(h.get('x-request-id') ?? '', /^req_[0-9a-f]{32}$/);
  assert.equal(h.get('openai-version'), '2020-10-01');
  assert.match(h.get('openai-processing-ms') ?? '', /^\d+$/);
  assert.equal(h.get('x-ratelimit-limit-requests'), '10000');
  assert.equal(h.get('x-ratelimit-limit-tokens'), '2000000');
  assert.ok(Number(h.get('x-ratelimit-remaining-requests')) < 10000);
  assert.ok(Number(h.get('x-ratelimit-remaining-tokens')) <= 2_000_000 - data.usage!.total_tokens);
  assert.match(h.get('x-ratelimit-reset-requests') ?? '', GO_DURATION);
  assert.match(h.get('x-ratelimit-reset-tokens') ?? '', GO_DURATION);
});

test('answers are deterministic per request and seed', async () => {
  const a = await ask('determinism probe');
  const b = await ask('determinism probe');
  const c = await ask('determinism probe, but different');
  assert.equal(a.choices[0]!.message.content, b.choices[0]!.message.content);
  assert.notEqual(a.choices[0]!.message.content, c.choices[0]!.message.content);

  const other = await startSimulator({ seed: 'other-seed' });
  try {
    const d = await client({ baseURL: other.openaiBaseURL }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'determinism probe' }],
    });
    assert.notEqual(a.choices[0]!.message.content, d.choices[0]!.message.content);
  } finally {
    await other.close();
  }
});

test('n > 1 returns n indexed choices and sums their usage', async () => {
  const res = await ask('several answers', { n: 3 });
  assert.deepEqual(
    res.choices.map((c) => c.index),
    [0, 1, 2]
  );
  const tokens = res.choices.reduce((sum, c) => sum + Math.ceil((c.message.content ?? '').length / 4), 0);
  assert.equal(res.usage?.completion_tokens, tokens);
  const single = await ask('several answers');
  assert.equal(single.choices[0]!.message.content, res.choices[0]!.message.content);
});

const Person = z.object({
  id: z.uuid(),
  email: z.email(),
  when: z.iso.datetime(),
  name: z.string().min(12),
  age: z.int().min(18).max(30),
  score: z.number().positive(),
  role: z.enum(['admin', 'user']),
  kind: z.literal('person'),
  nickname: z.string().nullable(),
  tags: z.array(z.string()).min(1).max(2),
  address: z.object({ city: z.string(), zip: z.string() }),
  pair: z.tuple([z.string(), z.number()]),
  extras: z.record(z.string(), z.number()),
  pet: z.union([z.object({ cat: z.string() }), z.object({ dog: z.number() })]),
});

test('json_schema output is JSON that validates (zod schema with formats, tuples, unions)', async () => {
  const schema = z.toJSONSchema(Person);
  const res = await ask('make a person', {
    response_format: { type: 'json_schema', json_schema: { name: 'person', schema, strict: true } },
  });
  const value: unknown = JSON.parse(res.choices[0]!.message.content ?? '');
  const parsed = Person.safeParse(value);
  assert.ok(parsed.success, parsed.success ? '' : parsed.error.message);
  const ajv = new Ajv2020({ strict: false, validateFormats: false });
  assert.ok(ajv.validate(schema, value), ajv.errorsText());
});

test('json_schema output honours $defs, definitions, recursion, allOf, oneOf and const', async () => {
  interface Node {
    label: string;
    children: Node[];
  }
  const Tree: z.ZodType<Node> = z.object({
    label: z.string(),
    get children() {
      return z.array(Tree);
    },
  });
  const treeSchema = z.toJSONSchema(z.object({ root: Tree }));
  const handmade = {
    type: 'object',
    definitions: { color: { type: 'string', enum: ['red', 'green'] } },
    properties: {
      color: { $ref: '#/definitions/color' },
      version: { const: 2 },
      choice: { oneOf: [{ type: 'null' }, { type: 'integer', minimum: 5, maximum: 5 }] },
      merged: { allOf: [{ properties: { a: { type: 'boolean' } }, required: ['a'] }, { required: ['b'] }] },
      unique: { type: 'array', items: { enum: ['x', 'y'] }, uniqueItems: true, minItems: 2 },
      price: { type: 'number', multipleOf: 0.25, exclusiveMinimum: 10 },
    },
    required: ['color', 'version', 'choice', 'merged', 'unique', 'price'],
    additionalProperties: false,
  };
  const ajv = new Ajv2020({ strict: false, validateFormats: false });
  for (const schema of [treeSchema, handmade]) {
    const res = await ask('structured', {
      response_format: { type: 'json_schema', json_schema: { name: 's', schema } },
    });
    const value: unknown = JSON.parse(res.choices[0]!.message.content ?? '');
    assert.ok(ajv.validate(schema, value), `${ajv.errorsText()} for ${JSON.stringify(value)}`);
  }
});

test('json_object returns a JSON object; forced tools return tool_calls', async () => {
  const obj = await ask('json please', { response_format: { type: 'json_object' } });
  assert.equal(typeof JSON.parse(obj.choices[0]!.message.content ?? ''), 'object');

  const tool = await ask('call it', {
    tools: [
      {
        type: 'function',
        function: {
          name: 'record',
          parameters: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
        },
      },
    ],
    tool_choice: { type: 'function', function: { name: 'record' } },
  });
  const choice = tool.choices[0]!;
  assert.equal(choice.finish_reason, 'tool_calls');
  assert.equal(choice.message.content, null);
  const call = choice.message.tool_calls?.[0];
  assert.ok(call && call.type === 'function');
  assert.equal(call.function.name, 'record');
  assert.equal(typeof (JSON.parse(call.function.arguments) as { n: unknown }).n, 'number');
  assert.match(call.id, /^call_/);
});

test('max_tokens truncates the answer with finish_reason length; stop cuts it', async () => {
  const full = (await ask('a long answer please')).choices[0]!.message.content ?? '';
  const cut = await ask('a long answer please', { max_tokens: 2 });
  assert.equal(cut.choices[0]!.finish_reason, 'length');
  assert.equal(cut.usage?.completion_tokens, 2);
  assert.equal(cut.choices[0]!.message.content, full.slice(0, 8));
  const viaNewName = await ask('a long answer please', { max_completion_tokens: 2 });
  assert.equal(viaNewName.choices[0]!.finish_reason, 'length');

  const word = full.split(' ')[2]!;
  const stopped = await ask('a long answer please', { stop: [word] });
  assert.equal(stopped.choices[0]!.finish_reason, 'stop');
  assert.equal(stopped.choices[0]!.message.content, full.slice(0, full.indexOf(word)));
});

test('wrong API key gets 401 invalid_api_key with rate-limit headers', async () => {
  sim.setOptions({ validApiKeys: ['sk-good-key-123'] });
  try {
    const err = await ask('x').then(
      () => assert.fail('expected 401'),
      (e: unknown) => e
    );
    assert.ok(err instanceof OpenAI.AuthenticationError);
    assert.equal(err.status, 401);
    assert.equal(err.code, 'invalid_api_key');
    assert.equal(err.type, 'invalid_request_error');
    assert.match(err.message, /Incorrect API key provided: sk-\*+-key\./);
    const ok = await client({ apiKey: 'sk-good-key-123' }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
    });
    assert.equal(ok.choices.length, 1);
  } finally {
    sim.setOptions({ validApiKeys: undefined });
  }
  const missing = await fetch(`${sim.openaiBaseURL}/chat/completions`, { method: 'POST', body: '{}' });
  assert.equal(missing.status, 401);
});

test('400 for empty messages or a missing model still carries rate-limit headers', async () => {
  const err = await client()
    .chat.completions.create({ model: 'gpt-4o-mini', messages: [] })
    .then(
      () => assert.fail('expected 400'),
      (e: unknown) => e
    );
  assert.ok(err instanceof OpenAI.BadRequestError);
  assert.equal(err.param, 'messages');
  assert.equal(err.code, 'empty_array');
  assert.equal(err.headers.get('x-ratelimit-limit-requests'), '10000');
  assert.equal(err.headers.get('x-ratelimit-limit-tokens'), '2000000');

  const raw = await fetch(`${sim.url}/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-x', 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(raw.status, 400);
  const body = (await raw.json()) as { error: { type: string; param: unknown; code: unknown } };
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(body.error.type, 'invalid_request_error');
});

test('in-band 429 with retry-after, then success after `times`; retry counts are recorded', async () => {
  const prompt = 'row 17 [[sim:status=429,retryAfter=0.1,times=2]]';
  const { data, response } = await client({ maxRetries: 2 })
    .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: prompt }] })
    .withResponse();
  assert.equal(data.choices[0]!.finish_reason, 'stop');
  assert.equal(response.status, 200);
  const mine = sim.stats.requests.filter((r) => r.prompt === prompt);
  assert.deepEqual(
    mine.map((r) => [r.status, r.retryCount]),
    [
      [429, 0],
      [429, 1],
      [200, 2],
    ]
  );
  assert.equal(sim.callsFor('row 17'), 3);
  assert.ok(mine[1]!.at - mine[0]!.at >= 90, 'the client waited for retry-after');

  const err = await ask('row 18 [[sim:status=429,retryAfter=7]]').then(
    () => assert.fail('expected 429'),
    (e: unknown) => e
  );
  assert.ok(err instanceof OpenAI.RateLimitError);
  assert.equal(err.headers.get('retry-after'), '7');
  assert.equal(err.headers.get('x-ratelimit-remaining-requests'), '0');
  assert.equal(err.code, 'rate_limit_exceeded');
  assert.equal(err.type, 'requests');
});

test('in-band 500, drop, malformed and slow faults', async () => {
  const e500 = await ask('boom [[sim:status=500]]').catch((e: unknown) => e);
  assert.ok(e500 instanceof OpenAI.InternalServerError);
  assert.equal(e500.status, 500);
  assert.equal(e500.type, 'server_error');
  assert.equal(e500.code, null);
  assert.match(e500.message, /The server had an error while processing your request/);

  await assert.rejects(ask('gone [[sim:drop]]'), OpenAI.APIConnectionError);
  assert.equal(sim.stats.byStatus.get(0)! >= 1, true);

  // A retrying client gets through once the drop is used up.
  const recovered = await client({ maxRetries: 1 }).chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'flaky [[sim:drop,times=1]]' }],
  });
  assert.equal(recovered.choices.length, 1);

  await assert.rejects(ask('garbled [[sim:malformed]]'), (e: unknown) => !(e instanceof OpenAI.APIError));

  await assert.rejects(
    client({ timeout: 150 }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'sleepy [[sim:slow=3000]]' }],
    }),
    OpenAI.APIConnectionTimeoutError
  );
});

test('finish, refusal and invalid-json faults', async () => {
  const length = await ask('cut me [[sim:finish=length]]');
  assert.equal(length.choices[0]!.finish_reason, 'length');
  const filtered = await ask('filter me [[sim:finish=refusal]]');
  assert.equal(filtered.choices[0]!.finish_reason, 'content_filter');

  const refused = await ask('refuse me [[sim:refusal]]');
  assert.equal(refused.choices[0]!.message.content, null);
  assert.equal(typeof refused.choices[0]!.message.refusal, 'string');
  assert.equal(refused.choices[0]!.finish_reason, 'stop');

  const schema = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] };
  const format = { type: 'json_schema' as const, json_schema: { name: 'a', schema } };
  const bad = await ask('broken json [[sim:invalid-json,times=1]]', { response_format: format });
  assert.throws(() => JSON.parse(bad.choices[0]!.message.content ?? ''));
  const good = await ask('broken json [[sim:invalid-json,times=1]]', { response_format: format });
  assert.equal(typeof (JSON.parse(good.choices[0]!.message.content ?? '') as { a: unknown }).a, 'string');
});

test('programmatic fault rules: regex match, provider, times and x-should-retry', async () => {
  sim.setOptions({
    faults: [
      { match: /^rule-target \d+$/, provider: 'openai', times: 1, fault: { status: 503, shouldRetry: false } },
      { match: 'anthropic-only', provider: 'anthropic', fault: { status: 500 } },
    ],
  });
  try {
    const err = await client({ maxRetries: 2 })
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'rule-target 1' }] })
      .catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.InternalServerError);
    assert.equal(err.status, 503);
    assert.match(err.message, /overloaded/);
    assert.equal(sim.callsFor('rule-target 1'), 1, 'x-should-retry: false stops SDK retries');
    const ok = await ask('rule-target 2');
    assert.equal(ok.choices.length, 1);
    assert.equal((await ask('anthropic-only')).choices.length, 1);
  } finally {
    sim.setOptions({ faults: [] });
  }
});

test('RPM limit: 429 with retry-after, retry-after-ms and exact body; window slides', async () => {
  const limited = await startSimulator({ rateLimits: { rpm: 3, windowMs: 1000 } });
  try {
    const c = client({ baseURL: limited.openaiBaseURL });
    const send = () =>
      c.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'rpm' }] }).withResponse();
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) remaining.push((await send()).response.headers.get('x-ratelimit-remaining-requests')!);
    assert.deepEqual(remaining, ['2', '1', '0']);
    const err = await send().catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.RateLimitError);
    assert.equal(err.type, 'requests');
    assert.equal(err.code, 'rate_limit_exceeded');
    assert.match(
      err.message,
      /Rate limit reached for gpt-4o-mini in organization org-sim on requests per min \(RPM\): Limit 3, Used 3, Requested 1\. Please try again in (\d+ms|1s)\./
    );
    const retryMs = Number(err.headers.get('retry-after-ms'));
    assert.ok(retryMs > 0 && retryMs <= 1000);
    assert.equal(err.headers.get('retry-after'), '1');
    assert.equal(err.headers.get('x-ratelimit-remaining-requests'), '0');
    assert.equal(limited.stats.byStatus.get(429), 1);
    await new Promise((r) => setTimeout(r, retryMs + 20));
    assert.equal((await send()).response.status, 200);
  } finally {
    await limited.close();
  }
});

test('TPM limit debits actual usage; a request larger than the limit is "too large"', async () => {
  const limited = await startSimulator({ rateLimits: { tpm: 60 } });
  try {
    const c = client({ baseURL: limited.openaiBaseURL });
    const first = await c.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(100) }], max_tokens: 5 })
      .withResponse();
    const used = first.data.usage!.total_tokens;
    assert.equal(first.response.headers.get('x-ratelimit-remaining-tokens'), String(60 - used));
    const err = await c.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'y'.repeat(100) }], max_tokens: 5 })
      .catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.RateLimitError);
    assert.equal(err.type, 'tokens');
    assert.match(err.message, new RegExp(`on tokens per min \\(TPM\\): Limit 60, Used ${used}, Requested \\d+\\.`));
    assert.equal(err.headers.get('x-ratelimit-remaining-tokens'), '0');

    const huge = await c.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'z'.repeat(400) }] })
      .catch((e: unknown) => e);
    assert.ok(huge instanceof OpenAI.RateLimitError);
    assert.match(huge.message, /^429 Request too large for gpt-4o-mini .* The input or output tokens must be reduced/);
    assert.equal(huge.headers.get('retry-after'), null);
  } finally {
    await limited.close();
  }
});

test('latency delays responses; omitRateLimitHeaders drops the headers', async () => {
  const slow = await startSimulator({ latencyMs: { min: 120, max: 150 }, omitRateLimitHeaders: true });
  try {
    const started = Date.now();
    const { response } = await client({ baseURL: slow.openaiBaseURL })
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'latency' }] })
      .withResponse();
    assert.ok(Date.now() - started >= 115);
    assert.equal(response.headers.get('x-ratelimit-limit-requests'), null);
    assert.ok(Number(response.headers.get('openai-processing-ms')) >= 115);
  } finally {
    await slow.close();
  }
});

test('callsFor, the /chat/completions alias and the HTTP control API', async () => {
  const local = await startSimulator();
  try {
    const c = client({ baseURL: local.url });
    await c.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'alpha one' }] });
    await c.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'alpha one' }] });
    await c.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'alpha two' }] });
    assert.equal(local.stats.requests[0]!.path, '/chat/completions');
    assert.equal(local.callsFor('alpha one'), 2);
    assert.equal(local.callsFor('alpha'), 3);
    assert.equal(local.callsFor('beta'), 0);

    const stats = (await (await fetch(`${local.url}/_sim/stats`)).json()) as {
      total: number;
      byStatus: Record<string, number>;
      byPrompt: Record<string, number>;
    };
    assert.deepEqual(stats, { total: 3, byStatus: { '200': 3 }, byPrompt: { 'alpha one': 2, 'alpha two': 1 } });
    const calls = (await (await fetch(`${local.url}/_sim/calls?prompt=alpha`)).json()) as { calls: number };
    assert.equal(calls.calls, 3);

    assert.equal((await fetch(`${local.url}/_sim/reset`, { method: 'POST' })).status, 200);
    assert.equal(local.stats.total, 0);
    assert.equal(local.stats.requests.length, 0);
    assert.equal(local.callsFor('alpha'), 0);
  } finally {
    await local.close();
  }
});
