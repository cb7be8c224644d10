/**
 * The simulator's Anthropic Messages answers beyond plain text, through the real `@anthropic-ai/sdk` client over
 * HTTP, in synchronous and Message-Batches mode: images and documents, tools and tool_choice, `n` refused, extended
 * thinking.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import Anthropic from '@anthropic-ai/sdk';
import Ajv2020 from 'ajv/dist/2020';
import { startSimulator, type Simulator } from '../../src/simulator';
import { jpegHead, pdf, png } from '../helpers/media-bytes';

let sim: Simulator;
before(async () => {
  sim = await startSimulator({ batches: { processingMs: 100 } });
});
after(async () => {
  await sim.close();
});
beforeEach(() => sim.reset());

const client = () => new Anthropic({ apiKey: 'sk-ant-test', baseURL: sim.anthropicBaseURL, maxRetries: 0 });
type Params = Anthropic.MessageCreateParamsNonStreaming;
const MODEL = 'claude-sonnet-4-5';
const create = (params: Omit<Params, 'model' | 'max_tokens'> & { model?: string; max_tokens?: number }) =>
  client().messages.create({ model: MODEL, max_tokens: 1024, ...params } as Params);

/** The 400 (or 413) an SDK call failed with: its error type and message. */
async function refusal(call: Promise<unknown>, status = 400): Promise<{ type: string; message: string }> {
  const err = await call.then(
    () => assert.fail(`expected a ${status}`),
    (e: unknown) => e
  );
  assert.ok(err instanceof Anthropic.APIError, String(err));
  assert.equal(err.status, status);
  return (err.error as { error: { type: string; message: string } }).error;
}

const image = (mediaType: string, bytes: Buffer): Anthropic.ImageBlockParam => ({
  type: 'image',
  source: { type: 'base64', media_type: mediaType as 'image/png', data: bytes.toString('base64') },
});
const withBlocks = (...blocks: Anthropic.ContentBlockParam[]): Anthropic.MessageParam[] => [
  { role: 'user', content: [...blocks, { type: 'text', text: 'describe' }] },
];
/** 2 priming + 4 per message + ⌈"describe" / 4⌉ = 8 tokens besides the media. */
const TEXT_TOKENS = 2 + 4 + 2;

const weather = {
  type: 'object' as const,
  properties: { city: { type: 'string' }, unit: { enum: ['c', 'f'] } },
  required: ['city', 'unit'],
  additionalProperties: false,
};
const lookup = {
  type: 'object' as const,
  properties: { id: { type: 'integer', minimum: 1 } },
  required: ['id'],
  additionalProperties: false,
};
const tools: Anthropic.Tool[] = [
  { name: 'get_weather', input_schema: weather },
  { name: 'lookup', input_schema: lookup },
];
const ajv = new Ajv2020({ strict: false });
const schemaOf = (name: string) => (name === 'get_weather' ? weather : lookup);

describe('images and documents', () => {
  test('image blocks count width × height / 750 from the PNG or JPEG header; count_tokens agrees', async () => {
    const messages = withBlocks(
      image('image/png', png(1000, 500)), // ⌈500,000 / 750⌉ = 667
      image('image/jpeg', jpegHead(800, 600)), // 480,000 / 750 = 640
      image('image/jpeg', jpegHead(4000, 3000)), // scaled down to the 1,600-token maximum
      { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } } // not fetched: the maximum
    );
    const res = await create({ messages });
    assert.equal(res.usage.input_tokens, TEXT_TOKENS + 667 + 640 + 1600 + 1600);
    const counted = await client().messages.countTokens({ model: MODEL, messages });
    assert.equal(counted.input_tokens, res.usage.input_tokens);
  });

  test('document blocks: a PDF counts per page, plain text by its characters', async () => {
    const res = await create({
      messages: withBlocks(
        {
          type: 'document',
          source: { type: 'base64', media_type: 'application/pdf', data: pdf(2).toString('base64') },
        },
        { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'y'.repeat(400) } },
        { type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } }
      ),
    });
    assert.equal(res.usage.input_tokens, TEXT_TOKENS + 2 * 2000 + 100 + 2000);
  });

  test('refused images: over 5 MB of base64, a media type the bytes contradict, not an image', async () => {
    // Base64 of 3.9 MB is over 5 MB: the API measures the encoded text.
    const big = Buffer.concat([png(10, 10), Buffer.alloc(3_950_000)]);
    const encoded = big.toString('base64').length;
    let err = await refusal(create({ messages: withBlocks(image('image/png', big)) }));
    assert.deepEqual(err, {
      type: 'invalid_request_error',
      message: `messages.0.content.0.image.source.base64: image exceeds 5 MB maximum: ${encoded} bytes > 5242880 bytes`,
    });
    err = await refusal(create({ messages: withBlocks(image('image/jpeg', png(4, 4))) }));
    assert.equal(
      err.message,
      'messages.0.content.0.image.source.base64.data: The image was specified using the image/jpeg media type, but ' +
        'the image appears to be a image/png image'
    );
    err = await refusal(create({ messages: withBlocks(image('image/png', Buffer.from('text'))) }));
    assert.match(err.message, /Could not process image/);
    err = await refusal(create({ messages: withBlocks(image('image/bmp', png(4, 4))) }));
    assert.match(err.message, /media_type: Input should be/);
  });

  test('a batch request whose images exceed 32 MB is refused as request_too_large', async () => {
    const block = image('image/png', Buffer.concat([png(2, 2), Buffer.alloc(3_000_000)]));
    const messages = withBlocks(...Array.from({ length: 9 }, () => block)); // 9 × 4 MB of base64
    const created = await client().messages.batches.create({
      requests: [{ custom_id: 'huge', params: { model: MODEL, max_tokens: 100, messages } }],
    });
    const result = (await results(created.id)).get('huge');
    assert.equal(result?.result.type, 'errored');
    assert.ok(result?.result.type === 'errored');
    assert.equal(result.result.error.error.type, 'request_too_large');
  });
});

describe('tools', () => {
  test('with tools and no tool_choice the answer is a tool_use block following the schema', async () => {
    const res = await create({ messages: [{ role: 'user', content: 'weather?' }], tools });
    assert.equal(res.stop_reason, 'tool_use');
    assert.equal(res.content.length, 1);
    const block = res.content[0]!;
    assert.ok(block.type === 'tool_use');
    assert.match(block.id, /^toolu_01[A-Za-z0-9]{22}$/);
    assert.ok(ajv.validate(schemaOf(block.name), block.input), ajv.errorsText());
    assert.deepEqual(Object.keys(block).sort(), ['id', 'input', 'name', 'type']);
    assert.equal(res.usage.output_tokens, Math.ceil(JSON.stringify(block.input).length / 4));
  });

  test('tool_choice tool, any, auto and none', async () => {
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'pick' }];
    const named = await create({ messages, tools, tool_choice: { type: 'tool', name: 'lookup' } });
    assert.ok(named.content[0]?.type === 'tool_use' && named.content[0].name === 'lookup');
    const any = await create({ messages, tools, tool_choice: { type: 'any' } });
    assert.equal(any.stop_reason, 'tool_use');
    const auto = await create({ messages, tools, tool_choice: { type: 'auto' } });
    assert.equal(auto.stop_reason, 'tool_use');
    const none = await create({ messages, tools, tool_choice: { type: 'none' } });
    assert.equal(none.stop_reason, 'end_turn');
    assert.equal(none.content[0]?.type, 'text');
  });

  test('invalid-json=schema breaks the tool input and the structured text, as valid JSON', async () => {
    const res = await create({ messages: [{ role: 'user', content: 'x [[sim:invalid-json=schema]]' }], tools });
    const block = res.content[0]!;
    assert.ok(block.type === 'tool_use');
    assert.equal(ajv.validate(schemaOf(block.name), block.input), false);
    const text = await create({
      messages: [{ role: 'user', content: 'y [[sim:invalid-json=schema]]' }],
      output_config: { format: { type: 'json_schema', schema: weather } },
    });
    const out = text.content[0]!;
    assert.ok(out.type === 'text');
    assert.equal(ajv.validate(weather, JSON.parse(out.text)), false);
  });
});

describe('n and thinking', () => {
  test('n is refused as the Messages API refuses unknown fields', async () => {
    const err = await refusal(create({ messages: [{ role: 'user', content: 'hi' }], n: 2 } as never));
    assert.deepEqual(err, { type: 'invalid_request_error', message: 'n: Extra inputs are not permitted' });
  });

  test('thinking: a signed thinking block before the text, counted in output tokens', async () => {
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'think' }];
    const res = await create({ messages, max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 2048 } });
    assert.deepEqual(
      res.content.map((b) => b.type),
      ['thinking', 'text']
    );
    const [thinking, text] = res.content;
    assert.ok(thinking?.type === 'thinking' && text?.type === 'text');
    assert.deepEqual(Object.keys(thinking).sort(), ['signature', 'thinking', 'type']);
    assert.match(thinking.signature, /^[A-Za-z0-9+/]{100,}={0,2}$/);
    const thinkingTokens = Math.ceil(thinking.thinking.length / 4);
    assert.ok(thinkingTokens >= 256 && thinkingTokens <= 1024, `thinking ${thinkingTokens}`);
    assert.equal(res.usage.output_tokens, thinkingTokens + Math.ceil(text.text.length / 4));
    assert.equal(res.stop_reason, 'end_turn');
    // The visible answer is the one a request without thinking gets; the whole answer is deterministic.
    const plain = await create({ messages, max_tokens: 4096 });
    assert.ok(plain.content[0]?.type === 'text');
    assert.equal(text.text, plain.content[0].text);
    const again = await create({ messages, max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 2048 } });
    assert.deepEqual(again.content, res.content);
    // With tools, thinking comes before the tool_use block.
    const tooled = await create({
      messages,
      tools,
      max_tokens: 4096,
      thinking: { type: 'enabled', budget_tokens: 1024 },
    });
    assert.deepEqual(
      tooled.content.map((b) => b.type),
      ['thinking', 'tool_use']
    );
  });

  test('the thinking budget is validated as the API does', async () => {
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'think' }];
    let err = await refusal(create({ messages, max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 1000 } }));
    assert.equal(err.message, 'thinking.enabled.budget_tokens: Input should be greater than or equal to 1024');
    err = await refusal(create({ messages, max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 2048 } }));
    assert.match(err.message, /^`max_tokens` must be greater than `thinking.budget_tokens`/);
    err = await refusal(
      // `temperature` is a real API field, though this SDK version leaves it out of its types.
      create({
        messages,
        max_tokens: 4096,
        temperature: 0.2,
        thinking: { type: 'enabled', budget_tokens: 1024 },
      } as never)
    );
    assert.match(err.message, /^`temperature` may only be set to 1 when thinking is enabled/);
    err = await refusal(
      create({
        messages,
        tools,
        tool_choice: { type: 'any' },
        max_tokens: 4096,
        thinking: { type: 'enabled', budget_tokens: 1024 },
      })
    );
    assert.equal(err.message, 'Thinking may not be enabled when tool_choice forces tool use.');
    const off = await create({ messages, thinking: { type: 'disabled' } });
    assert.equal(off.content[0]?.type, 'text');
  });
});

async function results(id: string): Promise<Map<string, Anthropic.Messages.MessageBatchIndividualResponse>> {
  const c = client();
  for (;;) {
    const batch = await c.messages.batches.retrieve(id);
    if (batch.processing_status === 'ended') break;
    await delay(30);
  }
  const out = new Map<string, Anthropic.Messages.MessageBatchIndividualResponse>();
  for await (const line of await c.messages.batches.results(id)) out.set(line.custom_id, line);
  return out;
}

describe('Message Batches', () => {
  test('a batch answers images, tools and thinking as the synchronous API does, and errors n', async () => {
    const params: Record<string, Params> = {
      image: { model: MODEL, max_tokens: 512, messages: withBlocks(image('image/png', png(1000, 500))) },
      tools: { model: MODEL, max_tokens: 512, messages: [{ role: 'user', content: 'weather' }], tools },
      thinking: {
        model: MODEL,
        max_tokens: 4096,
        messages: [{ role: 'user', content: 'think' }],
        thinking: { type: 'enabled', budget_tokens: 1024 },
      },
      n: { model: MODEL, max_tokens: 512, messages: [{ role: 'user', content: 'hi' }], n: 2 } as never,
    };
    const created = await client().messages.batches.create({
      requests: Object.entries(params).map(([custom_id, p]) => ({ custom_id, params: p })),
    });
    const out = await results(created.id);
    for (const id of ['image', 'tools', 'thinking']) {
      const line = out.get(id);
      assert.ok(line?.result.type === 'succeeded', id);
      const sync = await client().messages.create(params[id]!);
      assert.deepEqual(strip(line.result.message), strip(sync), id);
    }
    const image0 = out.get('image');
    assert.ok(image0?.result.type === 'succeeded');
    assert.equal(image0.result.message.usage.input_tokens, TEXT_TOKENS + 667);
    const n = out.get('n');
    assert.ok(n?.result.type === 'errored');
    assert.equal(n.result.error.error.message, 'n: Extra inputs are not permitted');
  });
});

/** A message without its random ids and its service tier (batch answers say `batch`). */
function strip(message: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(message));
  delete copy.id;
  delete copy.usage.service_tier;
  for (const block of copy.content) if (block.type === 'tool_use') delete block.id;
  return copy;
}
