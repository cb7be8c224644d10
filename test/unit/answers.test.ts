/**
 * Issue #15 parts 2, 3 and 5: tools and tool choice, `n` completions and the raw answer. The exact wire bodies per
 * provider, the answers mapped back, accept's checks of every choice and tool call, and the typed answer `parse`
 * receives, read back from what the response log records.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import type Anthropic from '@anthropic-ai/sdk';
import type OpenAI from 'openai';
import { defineCurator, type CuratorDefinition, type Row } from '../../src/curator';
import { buildRequest } from '../../src/requests/format';
import { runFingerprint } from '../../src/requests/fingerprint';
import { answerAcceptor } from '../../src/requests/accept';
import { answerView } from '../../src/requests/answer-view';
import { answeredFields, completeAnswer, stillToAsk } from '../../src/requests/choices';
import { ShardLog } from '../../src/storage/response-log';
import { parseRows } from '../../src/requests/parse';
import { openaiAnswer, openaiBody } from '../../src/providers/openai';
import { anthropic, anthropicAnswer, anthropicAnswers, anthropicBody, splitN } from '../../src/providers/anthropic';
import type { ProviderAnswer } from '../../src/providers/types';

const weather = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };

function curator(overrides: Partial<CuratorDefinition<any, any, any>> = {}) {
  return defineCurator<any, any, any>({
    name: 'answers',
    model: 'gpt-4o-mini',
    prompt: (row: Row) => `Weather in ${String(row.city)}?`,
    tools: [
      { name: 'get_weather', description: 'The weather of a city.', parameters: weather },
      { name: 'get_time', parameters: z.object({ zone: z.string() }) },
    ],
    toolChoice: { name: 'get_weather' },
    ...overrides,
  });
}

const message = [{ role: 'user', content: 'Weather in Oslo?' }];

describe('wire bodies', () => {
  test('OpenAI: tools as functions, the tool choice by name, n as a param', () => {
    const body = openaiBody(buildRequest(curator({ generationParams: { n: 3 } }), { city: 'Oslo' }));
    assert.deepEqual(body, {
      n: 3,
      model: 'gpt-4o-mini',
      messages: message,
      tools: [
        {
          type: 'function',
          function: { name: 'get_weather', description: 'The weather of a city.', parameters: weather },
        },
        {
          type: 'function',
          function: {
            name: 'get_time',
            parameters: {
              type: 'object',
              properties: { zone: { type: 'string' } },
              required: ['zone'],
              additionalProperties: false,
            },
          },
        },
      ],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    const auto = openaiBody(buildRequest(curator({ toolChoice: 'required' }), { city: 'Oslo' }));
    assert.equal(auto.tool_choice, 'required');
  });

  test("Anthropic: tools with input_schema, the choice in its words; n stays in the body and goes out as n calls' bodies", () => {
    const c = curator({ model: 'claude-x', toolChoice: 'required', generationParams: { n: 2, max_tokens: 50 } });
    const body = anthropicBody(buildRequest(c, { city: 'Oslo' }));
    assert.deepEqual(body, {
      max_tokens: 50,
      n: 2,
      model: 'claude-x',
      messages: message,
      tools: [
        { name: 'get_weather', description: 'The weather of a city.', input_schema: weather },
        {
          name: 'get_time',
          input_schema: {
            type: 'object',
            properties: { zone: { type: 'string' } },
            required: ['zone'],
            additionalProperties: false,
          },
        },
      ],
      tool_choice: { type: 'any' },
    });
    const { n: _n, ...wire } = body;
    assert.deepEqual(splitN(body), { body: wire, n: 2 });
    assert.deepEqual(splitN(wire), { body: wire, n: 1 });
    const one = buildRequest(curator({ model: 'claude-x' }), { city: 'Oslo' });
    assert.equal(
      anthropic.estimateInputTokens(buildRequest(c, { city: 'Oslo' })),
      2 * anthropic.estimateInputTokens(one),
      'n calls bill n inputs'
    );
    const named = anthropicBody(buildRequest(curator({ model: 'claude-x' }), { city: 'Oslo' }));
    assert.deepEqual(named.tool_choice, { type: 'tool', name: 'get_weather' });
  });

  test('Anthropic structured output keeps its forced tool; beside tools of the curator, any tool must be used', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } } };
    const alone = anthropicBody(
      buildRequest(curator({ model: 'claude-x', tools: undefined, toolChoice: undefined, responseFormat: schema }), {
        city: 'Oslo',
      })
    );
    assert.deepEqual(alone.tools, [
      { name: 'output_schema', description: 'Answer with this structure.', input_schema: schema },
    ]);
    assert.deepEqual(alone.tool_choice, { type: 'tool', name: 'output_schema' });
    const both = anthropicBody(
      buildRequest(curator({ model: 'claude-x', toolChoice: undefined, responseFormat: schema }), { city: 'Oslo' })
    );
    assert.deepEqual(
      (both.tools as { name: string }[]).map((t) => t.name),
      ['get_weather', 'get_time', 'output_schema']
    );
    assert.deepEqual(both.tool_choice, { type: 'any' });
  });

  test('tools, tool choice and includeRawAnswer are part of the fingerprint; a curator without them keeps its own', () => {
    const env = { OPENAI_API_KEY: 'k' };
    const plain = curator({ tools: undefined, toolChoice: undefined });
    const prints = [
      plain,
      curator(),
      curator({ toolChoice: 'auto' }),
      curator({ tools: [{ name: 'get_weather', parameters: { ...weather, required: [] } }], toolChoice: undefined }),
      curator({ tools: undefined, toolChoice: undefined, includeRawAnswer: true }),
    ].map((c) => runFingerprint(c, 'd', env));
    assert.equal(new Set(prints).size, prints.length);
    assert.equal(
      runFingerprint(curator({ tools: undefined, toolChoice: undefined, includeRawAnswer: false }), 'd', env),
      prints[0]
    );
  });

  test('defineCurator refuses bad tools and a tool choice naming no tool, naming the curator', () => {
    assert.throws(
      () => curator({ tools: [{ name: 'a b', parameters: weather }] }),
      /curator 'answers': tool 0 needs a name/
    );
    assert.throws(
      () =>
        curator({
          tools: [
            { name: 'a', parameters: weather },
            { name: 'a', parameters: weather },
          ],
          toolChoice: undefined,
        }),
      /two tools are named 'a'/
    );
    assert.throws(
      () => curator({ toolChoice: { name: 'nope' } }),
      /toolChoice names 'nope', which is not one of its tools/
    );
    assert.throws(() => curator({ tools: undefined }), /toolChoice is set but no tools are declared/);
    assert.throws(
      () => curator({ tools: [{ name: 'a' } as never], toolChoice: undefined }),
      /tool 'a': parameters are required/
    );
  });
});

function completion(choices: Partial<OpenAI.ChatCompletion.Choice>[]): OpenAI.ChatCompletion {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o-mini',
    choices: choices.map((c, index) => ({
      index,
      finish_reason: 'stop',
      logprobs: null,
      message: { role: 'assistant', content: null, refusal: null },
      ...c,
    })) as OpenAI.ChatCompletion.Choice[],
    usage: { prompt_tokens: 10, completion_tokens: 30, total_tokens: 40 },
  };
}

const call = (id: string, name: string, args: string) => ({
  id,
  type: 'function' as const,
  function: { name, arguments: args },
});

function anthropicMessage(content: unknown[], stop = 'end_turn', output = 5): Anthropic.Message {
  return {
    id: `msg_${output}`,
    type: 'message',
    role: 'assistant',
    model: 'claude-x',
    content,
    stop_reason: stop,
    stop_sequence: null,
    usage: { input_tokens: 10, output_tokens: output },
  } as unknown as Anthropic.Message;
}

describe('answers mapped back, accepted, recorded and viewed', () => {
  const accept = answerAcceptor(curator({ includeRawAnswer: true }));

  test('OpenAI: every choice with its tool calls; parse gets them parsed, checked, and the raw body', () => {
    const data = completion([
      {
        finish_reason: 'tool_calls',
        message: {
          role: 'assistant',
          content: null,
          refusal: null,
          tool_calls: [call('c1', 'get_weather', '{"city":"Oslo"}')],
        },
      },
      {
        message: {
          role: 'assistant',
          content: 'Sunny.',
          refusal: null,
          tool_calls: [call('c2', 'get_time', '{"zone":"CET"}')],
        },
      },
    ]);
    const answer = openaiAnswer(data);
    assert.equal(answer.choices?.length, 2);
    assert.deepEqual(answer.toolCalls, [{ id: 'c1', name: 'get_weather', arguments: '{"city":"Oslo"}' }]);
    const fields = accept(answer);
    assert.deepEqual(fields, {
      finish: 'tool_calls',
      usage: { input: 10, output: 30 },
      requestId: undefined,
      ok: true,
      value: null,
      toolCalls: [{ id: 'c1', name: 'get_weather', arguments: { city: 'Oslo' } }],
      moreChoices: [
        { value: 'Sunny.', finish: 'stop', toolCalls: [{ id: 'c2', name: 'get_time', arguments: { zone: 'CET' } }] },
      ],
      raw: data,
    });
    // What the log keeps is all parse needs: a JSON round trip, as a rerun reads it.
    const recorded = JSON.parse(JSON.stringify({ i: 0, job: 'j', attempt: 1, at: 't', ...fields }));
    const view = answerView(recorded);
    assert.deepEqual(view.choices, [
      {
        index: 0,
        value: null,
        text: null,
        toolCalls: [{ id: 'c1', name: 'get_weather', arguments: { city: 'Oslo' } }],
        finishReason: 'tool_calls',
      },
      {
        index: 1,
        value: 'Sunny.',
        text: 'Sunny.',
        toolCalls: [{ id: 'c2', name: 'get_time', arguments: { zone: 'CET' } }],
        finishReason: 'stop',
      },
    ]);
    assert.deepEqual(view.usage, { input: 10, output: 30 });
    assert.deepEqual(view.raw, JSON.parse(JSON.stringify(data)));
    const c = curator({
      parse: (row: Row, first: unknown, a: typeof view) =>
        a.choices.map((ch) => ({ city: row.city, first, k: ch.index, calls: ch.toolCalls.map((t) => t.name).join() })),
    });
    assert.deepEqual(parseRows(c, { city: 'Oslo' }, recorded.value, view), [
      { city: 'Oslo', first: null, k: 0, calls: 'get_weather' },
      { city: 'Oslo', first: null, k: 1, calls: 'get_time' },
    ]);
  });

  test('the raw body is kept only for a curator that asks for it', () => {
    const fields = answerAcceptor(curator())(
      openaiAnswer(completion([{ message: { role: 'assistant', content: 'x', refusal: null } }]))
    );
    assert.equal(fields.ok, true);
    assert.equal('raw' in fields, false);
    assert.equal('moreChoices' in fields, false);
    assert.equal('toolCalls' in fields, false);
  });

  test('a tool call that breaks its parameters, is not JSON, or calls no declared tool is rejected as retryable', () => {
    const cases: [string, RegExp, string][] = [
      ['{"city":42}', /tool call 'get_weather' breaks the tool's parameters: .*city/, 'SchemaMismatch'],
      ['{"city":', /tool call 'get_weather': arguments are not JSON/, 'InvalidJson'],
    ];
    for (const [args, message, type] of cases) {
      const fields = accept(
        openaiAnswer(
          completion([
            {
              message: {
                role: 'assistant',
                content: null,
                refusal: null,
                tool_calls: [call('c', 'get_weather', args)],
              },
            },
          ])
        )
      );
      assert.equal(fields.ok, false);
      assert.equal(fields.error?.type, type);
      assert.equal(fields.error?.retryable, true);
      assert.match(fields.error!.message, message);
      assert.equal('raw' in fields, false, 'nothing of a rejected answer but its usage is kept');
    }
    const zodBreak = accept(
      anthropicAnswer(
        anthropicMessage([{ type: 'tool_use', id: 't', name: 'get_time', input: { zone: 1 } }], 'tool_use')
      )
    );
    assert.equal(zodBreak.error?.type, 'SchemaMismatch');
    const unknown = accept(
      openaiAnswer(
        completion([
          { message: { role: 'assistant', content: null, refusal: null, tool_calls: [call('c', 'rm_rf', '{}')] } },
        ])
      )
    );
    assert.match(unknown.error!.message, /the model called 'rm_rf', which is not one of the tools/);
  });

  test('with n, every choice must pass: one bad choice rejects the answer, naming it', () => {
    const fields = answerAcceptor(curator({ tools: undefined, toolChoice: undefined }))(
      openaiAnswer(
        completion([
          { message: { role: 'assistant', content: 'a', refusal: null } },
          { finish_reason: 'length', message: { role: 'assistant', content: 'b', refusal: null } },
        ])
      )
    );
    assert.equal(fields.ok, false);
    assert.match(fields.error!.message, /^choice 1 of 2: finish reason 'length'/);
    assert.deepEqual(fields.usage, { input: 10, output: 30 }, 'every choice counted');
  });

  test("Anthropic: tool_use blocks are tool calls, the answer tool's input the structured answer; n messages make one answer", () => {
    const used = anthropicAnswer(
      anthropicMessage(
        [
          { type: 'text', text: 'Let me look.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } },
        ],
        'tool_use'
      )
    );
    assert.equal(used.text, 'Let me look.');
    assert.deepEqual(used.toolCalls, [{ id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } }]);
    assert.equal(used.object, undefined);
    const structured = anthropicAnswer(
      anthropicMessage([{ type: 'tool_use', id: 't', name: 'output_schema', input: { a: 'x' } }], 'tool_use')
    );
    assert.deepEqual([structured.object, structured.text, structured.toolCalls], [{ a: 'x' }, '{"a":"x"}', undefined]);

    const messages = [
      anthropicMessage([{ type: 'text', text: 'one' }], 'end_turn', 5),
      anthropicMessage([{ type: 'text', text: 'two' }], 'end_turn', 7),
    ];
    const both: Omit<ProviderAnswer, 'headers'> = anthropicAnswers(messages);
    assert.deepEqual(both.usage, { input: 20, output: 12 }, 'every call counted');
    assert.deepEqual(both.raw, messages);
    const fields = answerAcceptor(curator({ tools: undefined, toolChoice: undefined }))(both);
    assert.deepEqual([fields.value, fields.moreChoices], ['one', [{ value: 'two', finish: 'end_turn' }]]);
  });
});

describe("Anthropic's n: each choice paid once", () => {
  const choice = (text: string) => ({ text, finishReason: 'stop', rawFinishReason: 'end_turn' });

  test('a failed attempt records the choices that came; the retry asks for the rest and completes the answer', async () => {
    const request = buildRequest(curator({ model: 'claude-x', generationParams: { n: 3 } }), { city: 'Oslo' });
    // Attempt 1: one of three calls answered.
    const partial = { ...choice('a'), usage: { input: 10, output: 4 }, raw: { id: 'm1' } };
    const first = answeredFields(undefined, partial);
    assert.deepEqual(first, {
      answered: { choices: [choice('a')], raw: [{ id: 'm1' }] },
      usage: { input: 10, output: 4 },
    });
    assert.equal(stillToAsk(request, first.answered).params.n, 2);
    // Attempt 2: one more answered, one failed again: both kept, one left to ask.
    const second = answeredFields(first.answered, {
      ...choice('b'),
      usage: { input: 10, output: 5 },
      raw: { id: 'm2' },
    });
    assert.deepEqual(second.answered, { choices: [choice('a'), choice('b')], raw: [{ id: 'm1' }, { id: 'm2' }] });
    assert.equal(second.usage?.output, 5, 'what this attempt paid');
    const last = stillToAsk(request, second.answered);
    assert.equal(last.params.n, 1);
    assert.equal('n' in anthropicBody(last), false, 'one call, no n on the wire');
    // Attempt 3 answers the last: the whole answer, in order.
    const whole = completeAnswer(
      { ...choice('c'), usage: { input: 10, output: 6 }, raw: { id: 'm3' } },
      second.answered
    );
    const fields = answerAcceptor(curator({ tools: undefined, toolChoice: undefined, includeRawAnswer: true }))(whole);
    assert.deepEqual(
      [fields.value, fields.moreChoices?.map((c) => c.value), fields.raw],
      ['a', ['b', 'c'], [{ id: 'm1' }, { id: 'm2' }, { id: 'm3' }]]
    );
    assert.equal(stillToAsk(request, undefined), request);
  });

  test('the response log keeps the choices answered, from whichever job paid for them', () => {
    const log = new ShardLog();
    const answered = { choices: [choice('a')], raw: [] };
    log.apply({ i: 0, job: 'old', attempt: 1, at: 't', ok: false, answered, usage: { input: 1, output: 1 } }, 'new');
    log.apply({ i: 0, job: 'new', attempt: 1, at: 't', ok: false }, 'new');
    assert.deepEqual(log.state(0).answered, answered);
  });
});
