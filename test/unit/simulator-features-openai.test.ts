/**
 * The simulator's OpenAI Chat Completions answers beyond plain text, through the real `openai` client over HTTP, in
 * synchronous and Batch-API mode: images and files, tools and tool_choice, `n`, reasoning tokens and logprobs.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import OpenAI, { toFile } from 'openai';
import Ajv2020 from 'ajv/dist/2020';
import { startSimulator, type Simulator } from '../../src/simulator';
import { dataUrl, jpegHead, pdf, png } from '../helpers/media-bytes';

let sim: Simulator;
before(async () => {
  sim = await startSimulator({ batches: { processingMs: 100 } });
});
after(async () => {
  await sim.close();
});
beforeEach(() => sim.reset());

const client = () => new OpenAI({ apiKey: 'sk-test', baseURL: sim.openaiBaseURL, maxRetries: 0, timeout: 60_000 });
type Params = OpenAI.ChatCompletionCreateParamsNonStreaming;
const create = (params: Omit<Params, 'model'> & { model?: string }) =>
  client().chat.completions.create({ model: 'gpt-4o-mini', ...params } as Params);

/** The 400 an SDK call failed with. */
async function refusal(call: Promise<unknown>): Promise<{ message: string; param: unknown; code: unknown }> {
  const err = await call.then(
    () => assert.fail('expected a 400'),
    (e: unknown) => e
  );
  assert.ok(err instanceof OpenAI.BadRequestError, String(err));
  const body = err.error as { message: string; type: string; param: unknown; code: unknown };
  assert.equal(body.type, 'invalid_request_error');
  return body;
}

const imagePart = (url: string, detail?: 'low' | 'high' | 'auto'): OpenAI.ChatCompletionContentPartImage => ({
  type: 'image_url',
  image_url: detail === undefined ? { url } : { url, detail },
});
const withImage = (...parts: OpenAI.ChatCompletionContentPart[]): OpenAI.ChatCompletionMessageParam[] => [
  { role: 'user', content: [{ type: 'text', text: 'describe' }, ...parts] },
];
/** 2 priming + 4 per message + ⌈"describe" / 4⌉ = 8 tokens besides the media. */
const TEXT_TOKENS = 2 + 4 + 2;

const weather = {
  type: 'object',
  properties: { city: { type: 'string' }, unit: { enum: ['c', 'f'] } },
  required: ['city', 'unit'],
  additionalProperties: false,
};
const lookup = {
  type: 'object',
  properties: { id: { type: 'integer', minimum: 1 }, tags: { type: 'array', items: { type: 'string' } } },
  required: ['id', 'tags'],
  additionalProperties: false,
};
const tools: OpenAI.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', parameters: weather } },
  { type: 'function', function: { name: 'lookup', parameters: lookup } },
];
const ajv = new Ajv2020({ strict: false });
const schemaOf = (name: string) => (name === 'get_weather' ? weather : lookup);

describe('images and files', () => {
  test('image_url parts are counted by the tile formula, read from the PNG or JPEG header', async () => {
    const wide = dataUrl('image/png', png(1000, 500));
    // 1000×500: one row of two 512-px tiles → 85 + 2 × 170
    let res = await create({ messages: withImage(imagePart(wide, 'high')) });
    assert.equal(res.usage?.prompt_tokens, TEXT_TOKENS + 425);
    assert.equal(res.choices[0]?.finish_reason, 'stop');
    res = await create({ messages: withImage(imagePart(wide, 'low')) });
    assert.equal(res.usage?.prompt_tokens, TEXT_TOKENS + 85);
    // OpenAI's worked example: 2048×4096 → 1024×2048 → 768×1536, six tiles → 1105; `auto` counts as `high`.
    res = await create({ messages: withImage(imagePart(dataUrl('image/jpeg', jpegHead(2048, 4096)), 'auto')) });
    assert.equal(res.usage?.prompt_tokens, TEXT_TOKENS + 1105);
    // A URL is not fetched: it counts as a 1024×1024 image (765), or 85 at low detail.
    res = await create({
      messages: withImage(imagePart('https://example.com/cat.png'), imagePart('http://example.com/d.jpg', 'low')),
    });
    assert.equal(res.usage?.prompt_tokens, TEXT_TOKENS + 765 + 85);
  });

  test('file parts: a PDF counts per page, text by its characters', async () => {
    const res = await create({
      messages: withImage(
        { type: 'file', file: { filename: 'a.pdf', file_data: dataUrl('application/pdf', pdf(3)) } },
        { type: 'file', file: { filename: 'n.txt', file_data: dataUrl('text/plain', Buffer.from('x'.repeat(40))) } }
      ),
    });
    assert.equal(res.usage?.prompt_tokens, TEXT_TOKENS + 3 * 2000 + 10);
  });

  test('refused images get OpenAI 400s: oversize, not an image, wrong MIME type, wrong role, bad detail', async () => {
    // 20 MB + 1 byte of image: a PNG header followed by padding.
    const big = Buffer.concat([png(10, 10), Buffer.alloc(20 * 1024 * 1024 + 1)]);
    let err = await refusal(create({ messages: withImage(imagePart(dataUrl('image/png', big))) }));
    assert.equal(err.code, 'invalid_image_format');
    assert.match(err.message, /below 20 MB in size/);
    err = await refusal(create({ messages: withImage(imagePart(dataUrl('image/png', Buffer.from('not an image')))) }));
    assert.equal(err.code, 'invalid_image_format');
    err = await refusal(create({ messages: withImage(imagePart(dataUrl('text/plain', png(2, 2)))) }));
    assert.equal(err.code, 'invalid_value');
    assert.equal(err.param, 'messages[0].content[1].image_url.url');
    assert.match(err.message, /unsupported MIME type 'text\/plain'/);
    err = await refusal(
      create({
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: [imagePart('https://example.com/a.png')] as never },
        ],
      })
    );
    assert.equal(err.param, 'messages[1]');
    err = await refusal(create({ messages: withImage(imagePart('https://x/a.png', 'ultra' as never)) }));
    assert.equal(err.param, 'messages[0].content[1].image_url.detail');
    assert.equal(sim.stats.byStatus.get(400), 5);
  });
});

describe('tools', () => {
  test('with tools and no tool_choice the answer is a tool call whose arguments follow the schema', async () => {
    const res = await create({ messages: [{ role: 'user', content: 'weather in Paris?' }], tools });
    const choice = res.choices[0]!;
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, null);
    const calls = choice.message.tool_calls ?? [];
    assert.equal(calls.length, 1);
    const call = calls[0]!;
    assert.ok(call.type === 'function');
    assert.match(call.id, /^call_[A-Za-z0-9]{24}$/);
    const args: unknown = JSON.parse(call.function.arguments);
    assert.ok(ajv.validate(schemaOf(call.function.name), args), ajv.errorsText());
    assert.deepEqual(Object.keys(choice.message).sort(), ['annotations', 'content', 'refusal', 'role', 'tool_calls']);
    assert.equal(res.usage?.completion_tokens, Math.ceil(call.function.arguments.length / 4));
    // Deterministic per request.
    const again = await create({ messages: [{ role: 'user', content: 'weather in Paris?' }], tools });
    assert.equal(
      again.choices[0]?.message.tool_calls?.[0]?.type === 'function' &&
        again.choices[0].message.tool_calls[0].function.arguments,
      call.function.arguments
    );
  });

  test('tool_choice: a named function, required, none; an unknown name is refused', async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'look it up' }];
    for (const name of ['get_weather', 'lookup']) {
      const res = await create({ messages, tools, tool_choice: { type: 'function', function: { name } } });
      const call = res.choices[0]?.message.tool_calls?.[0];
      assert.ok(call?.type === 'function');
      assert.equal(call.function.name, name);
      assert.ok(ajv.validate(schemaOf(name), JSON.parse(call.function.arguments)), ajv.errorsText());
    }
    const required = await create({ messages, tools, tool_choice: 'required' });
    assert.equal(required.choices[0]?.finish_reason, 'tool_calls');
    const none = await create({ messages, tools, tool_choice: 'none' });
    assert.equal(none.choices[0]?.finish_reason, 'stop');
    assert.equal(typeof none.choices[0]?.message.content, 'string');
    assert.equal(none.choices[0]?.message.tool_calls, undefined);
    const err = await refusal(
      create({ messages, tools, tool_choice: { type: 'function', function: { name: 'nope' } } })
    );
    assert.equal(err.param, 'tool_choice');
  });

  test("invalid-json=schema gives valid JSON arguments that break the schema, at a rule's rate", async () => {
    const res = await create({ messages: [{ role: 'user', content: 'x [[sim:invalid-json=schema]]' }], tools });
    const call = res.choices[0]?.message.tool_calls?.[0];
    assert.ok(call?.type === 'function');
    assert.equal(ajv.validate(schemaOf(call.function.name), JSON.parse(call.function.arguments)), false);
    // The default `invalid-json` stays what it was: arguments that are not JSON at all.
    const cut = await create({ messages: [{ role: 'user', content: 'x [[sim:invalid-json]]' }], tools });
    const cutCall = cut.choices[0]?.message.tool_calls?.[0];
    assert.ok(cutCall?.type === 'function');
    assert.throws(() => JSON.parse(cutCall.function.arguments));

    sim.setOptions({
      faults: [{ match: 'rated', fault: { kind: 'invalid-json', breaks: 'schema' }, probability: 0.5 }],
    });
    try {
      let broken = 0;
      for (let i = 0; i < 40; i++) {
        const r = await create({ messages: [{ role: 'user', content: `rated ${i}` }], tools, tool_choice: 'required' });
        const c = r.choices[0]?.message.tool_calls?.[0];
        assert.ok(c?.type === 'function');
        if (!ajv.validate(schemaOf(c.function.name), JSON.parse(c.function.arguments))) broken++;
      }
      // 40 draws at 0.5: all-or-nothing has a chance of 2^-39.
      assert.ok(broken > 0 && broken < 40, `broken ${broken} of 40`);
    } finally {
      sim.setOptions({ faults: [] });
    }
  });
});

describe('n, reasoning and logprobs', () => {
  test('n choices: distinct deterministic answers, usage counts them all', async () => {
    const res = await create({ messages: [{ role: 'user', content: 'three please' }], n: 3 });
    assert.deepEqual(
      res.choices.map((c) => c.index),
      [0, 1, 2]
    );
    const texts = res.choices.map((c) => c.message.content ?? '');
    assert.equal(new Set(texts).size, 3);
    const tokens = texts.reduce((sum, t) => sum + Math.ceil(t.length / 4), 0);
    assert.equal(res.usage?.completion_tokens, tokens);
    const again = await create({ messages: [{ role: 'user', content: 'three please' }], n: 3 });
    assert.deepEqual(
      again.choices.map((c) => c.message.content),
      texts
    );
    const withTools = await create({ messages: [{ role: 'user', content: 'tools' }], n: 2, tools });
    assert.deepEqual(
      withTools.choices.map((c) => c.finish_reason),
      ['tool_calls', 'tool_calls']
    );
  });

  test('reasoning_effort on a reasoning model: reasoning tokens counted in completion tokens', async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'think hard' }];
    const high = await create({ model: 'o4-mini', messages, reasoning_effort: 'high' });
    const reasoning = high.usage?.completion_tokens_details?.reasoning_tokens ?? 0;
    assert.ok(reasoning >= 1024 && reasoning <= 4096, `reasoning ${reasoning}`);
    const text = high.choices[0]?.message.content ?? '';
    assert.equal(high.usage?.completion_tokens, reasoning + Math.ceil(text.length / 4));
    const low = await create({ model: 'o4-mini', messages, reasoning_effort: 'low' });
    const lowReasoning = low.usage?.completion_tokens_details?.reasoning_tokens ?? 0;
    assert.ok(lowReasoning >= 64 && lowReasoning <= 256, `low ${lowReasoning}`);
    // The visible answer does not depend on the effort.
    assert.equal(low.choices[0]?.message.content, text);
    // Unset effort on a reasoning model is `medium`; a non-reasoning model reasons not at all.
    const medium = await create({ model: 'gpt-5-mini', messages });
    const mediumReasoning = medium.usage?.completion_tokens_details?.reasoning_tokens ?? 0;
    assert.ok(mediumReasoning >= 256 && mediumReasoning <= 1024);
    const plain = await create({ messages });
    assert.equal(plain.usage?.completion_tokens_details?.reasoning_tokens, 0);
    // max_completion_tokens covers reasoning: a limit below it leaves an empty answer cut for length.
    const starved = await create({ model: 'o4-mini', messages, reasoning_effort: 'high', max_completion_tokens: 100 });
    assert.equal(starved.choices[0]?.finish_reason, 'length');
    assert.equal(starved.choices[0]?.message.content, '');
    assert.equal(starved.usage?.completion_tokens, 100);
    assert.equal(starved.usage?.completion_tokens_details?.reasoning_tokens, 100);

    let err = await refusal(create({ messages, reasoning_effort: 'high' }));
    assert.equal(err.code, 'unsupported_parameter');
    assert.equal(err.param, 'reasoning_effort');
    err = await refusal(create({ model: 'o3', messages, reasoning_effort: 'extreme' as never }));
    assert.equal(err.param, 'reasoning_effort');
  });

  test('logprobs: one entry per billed token with top_logprobs alternatives', async () => {
    const res = await create({ messages: [{ role: 'user', content: 'raw' }], logprobs: true, top_logprobs: 3 });
    const choice = res.choices[0]!;
    const content = choice.logprobs?.content ?? [];
    assert.equal(content.map((t) => t.token).join(''), choice.message.content);
    assert.equal(content.length, res.usage?.completion_tokens);
    for (const entry of content) {
      assert.ok(entry.logprob <= 0 && entry.logprob > -3);
      assert.deepEqual(entry.bytes, [...Buffer.from(entry.token)]);
      assert.equal(entry.top_logprobs.length, 3);
      assert.equal(entry.top_logprobs[0]?.token, entry.token);
      assert.equal(entry.top_logprobs[0]?.logprob, entry.logprob);
      const probs = entry.top_logprobs.map((t) => t.logprob);
      assert.deepEqual(
        probs,
        [...probs].sort((a, b) => b - a)
      );
    }
    assert.equal(choice.logprobs?.refusal, null);
    const plain = await create({ messages: [{ role: 'user', content: 'raw' }] });
    assert.equal(plain.choices[0]?.logprobs, null);
    assert.equal(plain.choices[0]?.message.content, choice.message.content);
    let err = await refusal(create({ messages: [{ role: 'user', content: 'raw' }], logprobs: true, top_logprobs: 21 }));
    assert.equal(err.param, 'top_logprobs');
    err = await refusal(create({ messages: [{ role: 'user', content: 'raw' }], top_logprobs: 2 }));
    assert.equal(err.param, 'logprobs');
  });
});

describe('Batch API', () => {
  test('a batch answers images, tools, n, reasoning and logprobs as the synchronous API does', async () => {
    const c = client();
    const bodies: Record<string, Record<string, unknown>> = {
      image: {
        model: 'gpt-4o-mini',
        messages: withImage(imagePart(dataUrl('image/png', png(1000, 500)), 'high')),
      },
      tools: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'weather' }], tools },
      n: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'two' }], n: 2 },
      reasoning: { model: 'o4-mini', messages: [{ role: 'user', content: 'think' }], reasoning_effort: 'low' },
      logprobs: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'lp' }], logprobs: true, top_logprobs: 2 },
      oversize: {
        model: 'gpt-4o-mini',
        messages: withImage(imagePart(dataUrl('image/png', Buffer.from('nope')))),
      },
    };
    const text =
      Object.entries(bodies)
        .map(([id, body]) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body }))
        .join('\n') + '\n';
    const file = await c.files.create({ file: await toFile(Buffer.from(text), 'in.jsonl'), purpose: 'batch' });
    const created = await c.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    let batch = created;
    while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch.status)) {
      await delay(30);
      batch = await c.batches.retrieve(created.id);
    }
    assert.equal(batch.status, 'completed');
    assert.deepEqual(batch.request_counts, { total: 6, completed: 5, failed: 1 });
    const read = async (id: string | null | undefined) =>
      id
        ? (await (await c.files.content(id)).text())
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l))
        : [];
    const out = new Map<string, any>(
      (await read(batch.output_file_id)).map((l: any) => [l.custom_id, l.response.body])
    );
    const errors = await read(batch.error_file_id);

    // Each body equals the synchronous answer to the same request (ids and times aside).
    for (const [id, body] of Object.entries(bodies)) {
      if (id === 'oversize') continue;
      const sync = await create(body as never);
      assert.deepEqual(strip(out.get(id)), strip(sync), id);
    }
    assert.equal(out.get('image').usage.prompt_tokens, TEXT_TOKENS + 425);
    assert.equal(out.get('tools').choices[0].finish_reason, 'tool_calls');
    assert.equal(out.get('n').choices.length, 2);
    const reasoning = out.get('reasoning').usage.completion_tokens_details.reasoning_tokens;
    assert.ok(reasoning >= 64);
    assert.equal(out.get('logprobs').choices[0].logprobs.content[0].top_logprobs.length, 2);
    assert.equal(batch.usage?.output_tokens_details.reasoning_tokens, reasoning);
    assert.equal(errors.length, 1);
    assert.equal(errors[0].custom_id, 'oversize');
    assert.equal(errors[0].response.status_code, 400);
    assert.equal(errors[0].response.body.error.code, 'invalid_image_format');
  });
});

/** A completion body without its random ids and times. */
function strip(body: any): unknown {
  const copy = JSON.parse(JSON.stringify(body));
  delete copy.id;
  delete copy.created;
  delete copy.service_tier;
  for (const choice of copy.choices ?? []) for (const call of choice.message.tool_calls ?? []) delete call.id;
  return copy;
}
