import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startSimulator, type Simulator } from '../../src/simulator';
import {
  anthropicStreamEvents,
  firstTokenMs,
  openaiStreamEvents,
  pieces,
  sseFrame,
} from '../../src/simulator/streaming';

let sim: Simulator;

before(async () => {
  sim = await startSimulator();
});

after(async () => {
  await sim.close();
});

function openaiClient(baseURL = sim.openaiBaseURL): OpenAI {
  return new OpenAI({ apiKey: 'sk-test', baseURL, maxRetries: 0, timeout: 10_000 });
}

function anthropicClient(): Anthropic {
  return new Anthropic({ apiKey: 'sk-ant-test', baseURL: sim.anthropicBaseURL, maxRetries: 0 });
}

/** The JSON data of SSE frames (`[DONE]` as a string). */
function frames(events: string[]): { event?: string; data: unknown }[] {
  return events.map((text) => {
    const event = /^event: (.*)$/m.exec(text)?.[1];
    const data = /^data: (.*)$/m.exec(text)![1]!;
    return { event, data: data === '[DONE]' ? data : JSON.parse(data) };
  });
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(check());
}

test('time to first token: a share of the latency, bounded', () => {
  assert.equal(firstTokenMs(0), 0);
  assert.equal(firstTokenMs(1000), 100);
  assert.equal(firstTokenMs(30_000), 300);
  assert.equal(firstTokenMs(30_000, { share: 0.5, maxMs: 2000 }), 2000);
  assert.equal(firstTokenMs(100, { share: 2, maxMs: 1000 }), 100);
});

test('SSE frames and pieces', () => {
  assert.equal(sseFrame({ a: 1 }), 'data: {"a":1}\n\n');
  assert.equal(sseFrame({ type: 'ping' }, 'ping'), 'event: ping\ndata: {"type":"ping"}\n\n');
  assert.equal(sseFrame('[DONE]'), 'data: [DONE]\n\n');
  assert.deepEqual(pieces(''), []);
  assert.equal(pieces('abcdefghij', 3).join(''), 'abcdefghij');
  assert.ok(pieces('x'.repeat(1000)).length <= 8);
});

test('OpenAI chunks: role, content pieces, finish reason, usage only when asked, then [DONE]', () => {
  const completion = {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'm',
    system_fingerprint: 'fp',
    choices: [
      { index: 0, message: { role: 'assistant', content: 'hello world' }, finish_reason: 'stop' },
      {
        index: 1,
        message: {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
        },
        finish_reason: 'tool_calls',
      },
    ],
    usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
  };
  const plain = frames(openaiStreamEvents(completion, { stream: true }));
  assert.equal(plain.at(-1)!.data, '[DONE]');
  const chunks = plain.slice(0, -1).map((f) => f.data as OpenAI.ChatCompletionChunk);
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === 'chatcmpl-1' && !('usage' in c)));
  const ofChoice = (i: number) => chunks.filter((c) => c.choices[0]!.index === i).map((c) => c.choices[0]!);
  assert.equal(ofChoice(0)[0]!.delta.role, 'assistant');
  assert.equal(
    ofChoice(0)
      .map((c) => c.delta.content ?? '')
      .join(''),
    'hello world'
  );
  assert.equal(ofChoice(0).at(-1)!.finish_reason, 'stop');
  const calls = ofChoice(1).flatMap((c) => c.delta.tool_calls ?? []);
  assert.equal(calls[0]!.id, 'call_1');
  assert.equal(calls[0]!.function!.name, 'f');
  assert.equal(calls.map((c) => c.function?.arguments ?? '').join(''), '{"a":1}');
  assert.equal(ofChoice(1).at(-1)!.finish_reason, 'tool_calls');

  const withUsage = frames(openaiStreamEvents(completion, { stream: true, stream_options: { include_usage: true } }));
  const last = withUsage.at(-2)!.data as OpenAI.ChatCompletionChunk;
  assert.deepEqual(last.choices, []);
  assert.deepEqual(last.usage, completion.usage);
  assert.ok(withUsage.slice(0, -2).every((f) => (f.data as OpenAI.ChatCompletionChunk).usage === null));
});

test('Anthropic events: message_start, blocks with their deltas, message_delta, message_stop', () => {
  const message = {
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    model: 'claude',
    content: [
      { type: 'thinking', thinking: 'hmm', signature: 'sig' },
      { type: 'text', text: 'hello world' },
      { type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 1 } },
    ],
    stop_reason: 'tool_use',
    stop_sequence: null,
    usage: { input_tokens: 3, output_tokens: 7 },
  };
  const events = frames(anthropicStreamEvents(message));
  assert.ok(events.every((e) => e.event === (e.data as { type: string }).type));
  const types = events.map((e) => e.event);
  assert.equal(types[0], 'message_start');
  assert.deepEqual(types.slice(-2), ['message_delta', 'message_stop']);
  assert.equal(types.filter((t) => t === 'content_block_start').length, 3);
  assert.equal(types.filter((t) => t === 'content_block_stop').length, 3);
  const start = events[0]!.data as { message: { content: unknown[]; stop_reason: unknown } };
  assert.deepEqual(start.message.content, []);
  assert.equal(start.message.stop_reason, null);
  const deltas = events
    .filter((e) => e.event === 'content_block_delta')
    .map((e) => e.data as { index: number; delta: Record<string, string> });
  assert.equal(
    deltas
      .filter((d) => d.index === 0 && d.delta.type === 'thinking_delta')
      .map((d) => d.delta.thinking)
      .join(''),
    'hmm'
  );
  assert.equal(deltas.find((d) => d.delta.type === 'signature_delta')!.delta.signature, 'sig');
  assert.equal(
    deltas
      .filter((d) => d.index === 1)
      .map((d) => d.delta.text)
      .join(''),
    'hello world'
  );
  assert.deepEqual(
    JSON.parse(
      deltas
        .filter((d) => d.index === 2)
        .map((d) => d.delta.partial_json)
        .join('')
    ),
    { a: 1 }
  );
  const end = events.at(-2)!.data as { delta: { stop_reason: string }; usage: { output_tokens: number } };
  assert.equal(end.delta.stop_reason, 'tool_use');
  assert.equal(end.usage.output_tokens, 7);
});

test('a streamed OpenAI answer: headers (rate limits included) before the body is done, the same answer as unstreamed', async () => {
  sim.setOptions({ latencyMs: 1500, firstToken: { share: 0, maxMs: 0 } });
  try {
    sim.reset();
    const messages = [{ role: 'user' as const, content: 'stream me' }];
    const { data: stream, response } = await openaiClient()
      .chat.completions.create({
        model: 'gpt-4o-mini',
        messages,
        stream: true,
        stream_options: { include_usage: true },
      })
      .withResponse();
    // The headers are here and the simulator is still sending the body.
    assert.equal(sim.stats.inFlight, 1);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type')!, /^text\/event-stream/);
    assert.ok(Number(response.headers.get('x-ratelimit-limit-requests')) > 0);
    assert.ok(response.headers.get('x-ratelimit-remaining-requests') !== null);
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      usage = chunk.usage ?? usage;
    }
    assert.equal(sim.stats.inFlight, 0);
    sim.setOptions({ latencyMs: 0 });
    const whole = await openaiClient().chat.completions.create({ model: 'gpt-4o-mini', messages });
    assert.equal(text, whole.choices[0]!.message.content);
    assert.deepEqual(usage, whole.usage);
    assert.equal(sim.stats.requests[0]!.stream, true);
    assert.equal(sim.stats.requests[1]!.stream, undefined);
  } finally {
    sim.setOptions({ latencyMs: 0, firstToken: undefined });
  }
});

test('a refused stream is a 429 before any body; a client gone mid-stream leaves the simulator serving, counted', async () => {
  const limited = await startSimulator({ rateLimits: { rpm: 1 }, latencyMs: 2000, firstToken: { maxMs: 0 } });
  try {
    const client = openaiClient(limited.openaiBaseURL);
    const controller = new AbortController();
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }], stream: true as const };
    const first = await client.chat.completions.create(body, { signal: controller.signal }).withResponse();
    assert.equal(first.response.status, 200);
    // Gone after the headers: the simulator sees the socket close and stops sending.
    controller.abort();
    const refused = await client.chat.completions.create(body).catch((e: unknown) => e);
    assert.ok(refused instanceof OpenAI.RateLimitError);
    assert.equal(refused.headers.get('x-ratelimit-remaining-requests'), '0');
    assert.equal(refused.headers.get('content-type'), 'application/json');
    await until(() => limited.stats.inFlight === 0);
    // Both counted: the abandoned stream as an admitted request, the refusal as a 429.
    assert.equal(limited.stats.total, 2);
    assert.deepEqual(
      limited.stats.requests.map((r) => [r.status, r.stream]),
      [
        [200, true],
        [429, true],
      ]
    );
    assert.equal(
      [...limited.stats.admittedPerSecond.values()].reduce((a, b) => a + b, 0),
      1
    );
  } finally {
    await limited.close();
  }
});

test('a streamed Anthropic answer: the SDK assembles the same message as unstreamed', async () => {
  sim.reset();
  const params = {
    model: 'claude-sim-1',
    max_tokens: 256,
    messages: [{ role: 'user' as const, content: 'stream me' }],
  };
  const { data: stream, response } = await anthropicClient()
    .messages.create({ ...params, stream: true })
    .withResponse();
  assert.match(response.headers.get('content-type')!, /^text\/event-stream/);
  assert.ok(response.headers.get('anthropic-ratelimit-requests-limit') !== null);
  const types: string[] = [];
  let text = '';
  let outputTokens = 0;
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
    if (event.type === 'message_delta') outputTokens = event.usage.output_tokens;
  }
  const whole = await anthropicClient().messages.create(params);
  assert.equal(types[0], 'message_start');
  assert.equal(types.at(-1), 'message_stop');
  assert.equal(text, (whole.content[0] as Anthropic.TextBlock).text);
  assert.equal(outputTokens, whole.usage.output_tokens);
});

test('stream_options without stream is a 400, as OpenAI answers it', async () => {
  const err = await openaiClient()
    .chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
      stream_options: { include_usage: true },
    })
    .catch((e: unknown) => e);
  assert.ok(err instanceof OpenAI.BadRequestError);
  assert.equal(err.param, 'stream_options');
});
