import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { defineCurator, type CuratorDefinition, type Row } from '../../src/curator';
import type { ProviderAnswer } from '../../src/providers/types';
import { ParseError, PromptError } from '../../src/errors';
import { buildMessages, buildRequest } from '../../src/requests/format';
import { acceptAnswer } from '../../src/requests/accept';
import { DEFAULT_INVALID_FINISH_REASONS } from '../../src/defaults';
import { parseRows } from '../../src/requests/parse';
import { resolveResponseFormat, type JsonSchema } from '../../src/schema';

function curator(overrides: Partial<CuratorDefinition<any, any, any>> = {}) {
  return defineCurator<any, any, any>({
    name: 'stages',
    model: 'gpt-4o-mini',
    prompt: (row: Row) => `Say ${String(row.word)}`,
    ...overrides,
  });
}

function answer(overrides: Partial<ProviderAnswer> = {}): ProviderAnswer {
  return { text: 'hello', finishReason: 'stop', rawFinishReason: 'stop', usage: { input: 3, output: 1 }, ...overrides };
}

function promptError(fn: () => unknown, pattern: RegExp) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof PromptError, `expected a PromptError, got ${String(err)}`);
    assert.equal(err.name, 'PromptError');
    assert.match(err.message, pattern);
    return true;
  });
}

function parseError(fn: () => unknown, pattern: RegExp) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ParseError, `expected a ParseError, got ${String(err)}`);
    assert.equal(err.name, 'ParseError');
    assert.match(err.message, pattern);
    return true;
  });
}

describe('buildMessages', () => {
  test('a prompt string becomes one user message', () => {
    assert.deepEqual(buildMessages(curator(), { word: 'hi' }), [{ role: 'user', content: 'Say hi' }]);
  });

  test('a valid conversation passes through unchanged', () => {
    const conversation = [
      { role: 'system' as const, content: 'Be brief.' },
      { role: 'user' as const, content: 'Hi' },
      { role: 'assistant' as const, content: 'Hello!' },
      { role: 'user' as const, content: 'Again' },
    ];
    assert.deepEqual(buildMessages(curator({ prompt: () => conversation }), {}), conversation);
  });

  test('the prompt receives the row', () => {
    const seen: unknown[] = [];
    buildMessages(
      curator({
        prompt: (row) => {
          seen.push(row);
          return 'x';
        },
      }),
      { a: 1 }
    );
    assert.deepEqual(seen, [{ a: 1 }]);
  });

  test('invalid messages are rejected with their position', () => {
    const bad: [unknown[], RegExp][] = [
      [[{ role: 'tool', content: 'x' }], /position 0/],
      [
        [
          { role: 'user', content: 'ok' },
          { role: 'User', content: 'x' },
        ],
        /position 1/,
      ],
      [[{ role: 'user', content: 42 }], /position 0/],
      [[{ role: 'user' }], /position 0/],
      [[{ content: 'no role' }], /position 0/],
      [[{ role: 'user', content: 'ok' }, null], /position 1/],
      [['just a string'], /position 0/],
    ];
    for (const [messages, pattern] of bad) {
      promptError(() => buildMessages(curator({ prompt: () => messages as never }), {}), pattern);
    }
  });

  test('an empty conversation is rejected', () => {
    promptError(() => buildMessages(curator({ prompt: () => [] }), {}), /no messages/);
    promptError(() => buildMessages(curator({ prompt: () => [], systemPrompt: 'sys' }), {}), /no messages/);
  });

  test('anything but a string or an array is rejected with its type', () => {
    const cases: [unknown, RegExp][] = [
      [undefined, /got undefined/],
      [null, /got object/],
      [42, /got number/],
      [{ role: 'user', content: 'x' }, /got object/],
      [Promise.resolve('async prompt'), /got object/],
    ];
    for (const [value, pattern] of cases) {
      promptError(() => buildMessages(curator({ prompt: () => value as never }), {}), pattern);
    }
  });

  test('a prompt that throws becomes a PromptError naming the message', () => {
    const c = curator({
      prompt: (row) => {
        if (!('topic' in row)) throw new TypeError('row has no topic');
        return 'x';
      },
    });
    promptError(() => buildMessages(c, { word: 'x' }), /prompt\(\) threw: row has no topic/);
    promptError(
      () =>
        buildMessages(
          curator({
            prompt: () => {
              throw 'plain string';
            },
          }),
          {}
        ),
      /plain string/
    );
  });

  test('systemPrompt is prepended', () => {
    assert.deepEqual(buildMessages(curator({ systemPrompt: 'You are terse.' }), { word: 'yo' }), [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Say yo' },
    ]);
    const conversation = [
      { role: 'user' as const, content: 'a' },
      { role: 'assistant' as const, content: 'b' },
      { role: 'user' as const, content: 'c' },
    ];
    const built = buildMessages(curator({ systemPrompt: 'S', prompt: () => conversation }), {});
    assert.deepEqual(built, [{ role: 'system', content: 'S' }, ...conversation]);
    // The curator's array is not modified.
    assert.equal(conversation.length, 3);
  });

  test('a system message in the prompt conflicts with systemPrompt', () => {
    const c = curator({
      systemPrompt: 'S',
      prompt: () => [
        { role: 'user', content: 'a' },
        { role: 'system', content: 'late system' },
      ],
    });
    promptError(() => buildMessages(c, {}), /systemPrompt/);
  });
});

describe('buildRequest', () => {
  test('carries the model, the messages and no schema without a response format', () => {
    const request = buildRequest(curator({ model: 'gpt-4.1' }), { word: 'w' });
    assert.deepEqual(request, {
      model: 'gpt-4.1',
      messages: [{ role: 'user', content: 'Say w' }],
      params: {},
      schema: undefined,
    });
  });

  test('generation params: null and undefined are dropped, falsy values kept', () => {
    const generationParams = {
      temperature: 0,
      top_p: null,
      max_tokens: undefined,
      logprobs: false,
      stop: '',
      seed: 7,
      metadata: { a: null },
    };
    const request = buildRequest(curator({ generationParams }), { word: 'w' });
    assert.deepEqual(request.params, { temperature: 0, logprobs: false, stop: '', seed: 7, metadata: { a: null } });
    assert.ok('top_p' in generationParams, 'the curator params are not modified');
  });

  test('the schema is the JSON Schema of the response format, without $schema', () => {
    const request = buildRequest(curator({ responseFormat: z.object({ label: z.enum(['yes', 'no']) }) }), {
      word: 'w',
    });
    assert.ok(request.schema);
    assert.equal(request.schema.$schema, undefined);
    assert.equal(request.schema.type, 'object');
    assert.deepEqual(request.schema.required, ['label']);
  });

  test('a prompt error surfaces from buildRequest too', () => {
    promptError(() => buildRequest(curator({ prompt: () => [] }), {}), /no messages/);
  });
});

describe('resolveResponseFormat', () => {
  test('undefined and null mean text', () => {
    assert.equal(resolveResponseFormat(undefined), undefined);
    assert.equal(resolveResponseFormat(null as never), undefined);
  });

  test('zod: JSON Schema without $schema, validation through safeParse', () => {
    const schema = z.object({ name: z.string(), score: z.number().int().default(1) });
    const format = resolveResponseFormat(schema);
    assert.ok(format);
    assert.ok(!('$schema' in format.jsonSchema));
    assert.equal(format.jsonSchema.type, 'object');
    assert.deepEqual(Object.keys(format.jsonSchema.properties as object).sort(), ['name', 'score']);
    // The value handed on is zod's output: defaults filled in, unknown keys stripped.
    assert.deepEqual(format.validate({ name: 'a', extra: true }), { ok: true, value: { name: 'a', score: 1 } });
    const bad = format.validate({ name: 5 });
    assert.equal(bad.ok, false);
    assert.match((bad as { error: string }).error, /name/);
    assert.equal(format.validate('not an object').ok, false);
  });

  test('plain JSON Schema (draft 7): $schema removed from what is sent, validation through ajv', () => {
    const schema: JsonSchema = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      properties: { label: { type: 'string', enum: ['a', 'b'] }, n: { type: 'integer', minimum: 0 } },
      required: ['label'],
      additionalProperties: false,
    };
    const format = resolveResponseFormat(schema);
    assert.ok(format);
    assert.deepEqual(format.jsonSchema, {
      type: 'object',
      properties: { label: { type: 'string', enum: ['a', 'b'] }, n: { type: 'integer', minimum: 0 } },
      required: ['label'],
      additionalProperties: false,
    });
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#', 'the curator schema is not modified');
    const value = { label: 'a', n: 2 };
    const ok = format.validate(value);
    assert.deepEqual(ok, { ok: true, value });
    const bad = format.validate({ label: 'c', n: -1, extra: 1 });
    assert.equal(bad.ok, false);
    const error = (bad as { error: string }).error;
    // allErrors: every problem is reported, named after the response.
    assert.match(error, /response/);
    assert.match(error, /enum|allowed values/);
    assert.match(error, /minimum|>= 0/);
    assert.match(error, /additional/);
  });

  test('a JSON Schema without $schema validates too', () => {
    const format = resolveResponseFormat({ type: 'array', items: { type: 'number' } });
    assert.ok(format);
    assert.equal(format.validate([1, 2]).ok, true);
    assert.equal(format.validate([1, 'x']).ok, false);
  });

  test('2020-12 schemas are validated with 2020-12 semantics (prefixItems)', () => {
    const format = resolveResponseFormat({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'array',
      prefixItems: [{ type: 'string' }, { type: 'number' }],
      items: false,
    });
    assert.ok(format);
    assert.ok(!('$schema' in format.jsonSchema));
    assert.equal(format.validate(['a', 1]).ok, true);
    assert.equal(format.validate([1, 'a']).ok, false);
    assert.equal(format.validate(['a', 1, 2]).ok, false);
  });

  test('the same format object resolves once', () => {
    const schema = { type: 'object' };
    assert.equal(resolveResponseFormat(schema), resolveResponseFormat(schema));
    const zodSchema = z.object({ a: z.string() });
    assert.equal(resolveResponseFormat(zodSchema), resolveResponseFormat(zodSchema));
  });

  test('anything else is a TypeError', () => {
    assert.throws(() => resolveResponseFormat('json' as never), TypeError);
    assert.throws(() => resolveResponseFormat(5 as never), TypeError);
  });
});

describe('acceptAnswer', () => {
  const zodFormat = resolveResponseFormat(z.object({ label: z.enum(['yes', 'no']) }));
  const jsonFormat = resolveResponseFormat({
    type: 'object',
    properties: { label: { type: 'string' } },
    required: ['label'],
  });

  test('a text answer without a format is accepted as is, even when it looks like JSON', () => {
    assert.deepEqual(acceptAnswer(answer(), undefined, DEFAULT_INVALID_FINISH_REASONS), { ok: true, value: 'hello' });
    assert.deepEqual(acceptAnswer(answer({ text: '{"a":1}' }), undefined, DEFAULT_INVALID_FINISH_REASONS), {
      ok: true,
      value: '{"a":1}',
    });
  });

  test('a refusal is retryable, whatever else the answer holds', () => {
    const result = acceptAnswer(
      answer({ refusal: "I can't help with that.", text: '{"label":"yes"}' }),
      zodFormat,
      DEFAULT_INVALID_FINISH_REASONS
    );
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.equal(result.error.type, 'Refusal');
    assert.equal(result.error.retryable, true);
    assert.match(result.error.message, /I can't help with that/);
  });

  test('default invalid finish reasons: length and content_filter', () => {
    assert.deepEqual(DEFAULT_INVALID_FINISH_REASONS, ['length', 'content_filter']);
    for (const [finishReason, rawFinishReason] of [
      ['length', 'max_tokens'],
      ['length', 'length'],
      ['content_filter', 'content_filter'],
    ]) {
      const result = acceptAnswer(answer({ finishReason, rawFinishReason }), undefined, DEFAULT_INVALID_FINISH_REASONS);
      assert.equal(result.ok, false, finishReason);
      if (result.ok) continue;
      assert.equal(result.error.type, 'InvalidFinishReason');
      assert.equal(result.error.retryable, true);
      // The message names the provider's own reason.
      assert.match(result.error.message, new RegExp(`'${rawFinishReason}'`));
    }
    for (const finishReason of ['stop', 'tool_calls']) {
      assert.equal(acceptAnswer(answer({ finishReason }), undefined, DEFAULT_INVALID_FINISH_REASONS).ok, true);
    }
  });

  test('custom invalid finish reasons replace the default list', () => {
    const custom = ['tool_calls'];
    assert.equal(acceptAnswer(answer({ finishReason: 'length' }), undefined, custom).ok, true);
    const result = acceptAnswer(answer({ finishReason: 'tool_calls', rawFinishReason: 'tool_use' }), undefined, custom);
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.error.type, 'InvalidFinishReason');
    assert.equal(acceptAnswer(answer({ finishReason: 'length' }), undefined, []).ok, true);
  });

  test('no content is an empty response, with or without a format', () => {
    for (const format of [undefined, zodFormat, jsonFormat]) {
      const result = acceptAnswer(answer({ text: null }), format, DEFAULT_INVALID_FINISH_REASONS);
      assert.equal(result.ok, false);
      if (result.ok) continue;
      assert.equal(result.error.type, 'EmptyResponse');
      assert.equal(result.error.retryable, true);
    }
  });

  test('structured text that is not JSON is retryable InvalidJson', () => {
    for (const text of ['{"label": "yes"', 'Sure! {"label":"yes"}', '']) {
      const result = acceptAnswer(answer({ text }), zodFormat, DEFAULT_INVALID_FINISH_REASONS);
      assert.equal(result.ok, false, JSON.stringify(text));
      if (result.ok) continue;
      assert.equal(result.error.type, 'InvalidJson');
      assert.equal(result.error.retryable, true);
    }
  });

  test('JSON that breaks the schema is retryable SchemaMismatch', () => {
    for (const format of [zodFormat, jsonFormat]) {
      const result = acceptAnswer(answer({ text: '{"lable":"yes"}' }), format, DEFAULT_INVALID_FINISH_REASONS);
      assert.equal(result.ok, false);
      if (result.ok) continue;
      assert.equal(result.error.type, 'SchemaMismatch');
      assert.equal(result.error.retryable, true);
      assert.match(result.error.message, /label/);
    }
  });

  test('valid structured text is parsed and validated', () => {
    assert.deepEqual(acceptAnswer(answer({ text: '{"label":"no"}' }), zodFormat, DEFAULT_INVALID_FINISH_REASONS), {
      ok: true,
      value: { label: 'no' },
    });
    // zod output is what is kept: unknown keys are stripped.
    assert.deepEqual(
      acceptAnswer(answer({ text: '{"label":"no","why":"x"}' }), zodFormat, DEFAULT_INVALID_FINISH_REASONS),
      { ok: true, value: { label: 'no' } }
    );
  });

  test('an object answer (Anthropic tool input) is used instead of the text', () => {
    const ok = acceptAnswer(
      answer({
        text: 'not json at all',
        object: { label: 'yes' },
        finishReason: 'tool_calls',
        rawFinishReason: 'tool_use',
      }),
      zodFormat,
      DEFAULT_INVALID_FINISH_REASONS
    );
    assert.deepEqual(ok, { ok: true, value: { label: 'yes' } });
    const noText = acceptAnswer(
      answer({ text: null, object: { label: 'no' } }),
      jsonFormat,
      DEFAULT_INVALID_FINISH_REASONS
    );
    assert.deepEqual(noText, { ok: true, value: { label: 'no' } });
    const bad = acceptAnswer(
      answer({ text: '{"label":"yes"}', object: { label: 'maybe' } }),
      zodFormat,
      DEFAULT_INVALID_FINISH_REASONS
    );
    assert.equal(!bad.ok && bad.error.type, 'SchemaMismatch');
  });

  test('a truncated structured answer is reported as the finish reason, not as bad JSON', () => {
    const result = acceptAnswer(
      answer({ text: '{"label":', finishReason: 'length', rawFinishReason: 'length' }),
      zodFormat,
      DEFAULT_INVALID_FINISH_REASONS
    );
    assert.equal(!result.ok && result.error.type, 'InvalidFinishReason');
  });
});

describe('parseRows', () => {
  test('default parse: text becomes { response }', () => {
    assert.deepEqual(parseRows(curator(), { word: 'x' }, 'the answer'), [{ response: 'the answer' }]);
  });

  test('default parse: an object answer is the row itself', () => {
    const value = { label: 'yes', score: 3 };
    const rows = parseRows(curator(), {}, value);
    assert.deepEqual(rows, [value]);
  });

  test('default parse: a non-object structured answer is wrapped', () => {
    assert.deepEqual(parseRows(curator(), {}, [1, 2]), [{ response: [1, 2] }]);
    assert.deepEqual(parseRows(curator(), {}, 42), [{ response: 42 }]);
    assert.deepEqual(parseRows(curator(), {}, null), [{ response: null }]);
  });

  test('parse receives the row and the answer', () => {
    const c = curator({ parse: (row, response) => ({ ...row, response }) });
    assert.deepEqual(parseRows(c, { id: 1 }, 'r'), [{ id: 1, response: 'r' }]);
  });

  test('an array fans out', () => {
    const c = curator({
      parse: (row, response: { items: string[] }) => response.items.map((item) => ({ id: row.id, item })),
    });
    assert.deepEqual(parseRows(c, { id: 7 }, { items: ['a', 'b', 'c'] }), [
      { id: 7, item: 'a' },
      { id: 7, item: 'b' },
      { id: 7, item: 'c' },
    ]);
  });

  test('null, undefined and [] give no rows', () => {
    for (const result of [null, undefined, []]) {
      assert.deepEqual(parseRows(curator({ parse: () => result as never }), {}, 'x'), [], JSON.stringify(result));
    }
  });

  test('non-object rows are a ParseError naming the item', () => {
    const cases: [unknown, RegExp][] = [
      ['just text', /item 0 is string/],
      [42, /item 0 is number/],
      [true, /item 0 is boolean/],
      [[{ ok: 1 }, 'two'], /item 1 is string/],
      [[{ ok: 1 }, [{ nested: true }]], /item 1 is an array/],
    ];
    for (const [result, pattern] of cases) {
      parseError(() => parseRows(curator({ parse: () => result as never }), {}, 'x'), pattern);
    }
  });

  test('a null item inside the array is a ParseError', () => {
    parseError(() => parseRows(curator({ parse: () => [{ a: 1 }, null] as never }), {}, 'x'), /item 1/);
  });

  test('a parse that throws becomes a ParseError naming the message', () => {
    const c = curator({
      parse: (_row, response: { items?: unknown[] }) => {
        if (!response.items) throw new Error('answer has no items');
        return [];
      },
    });
    parseError(() => parseRows(c, {}, {}), /parse\(\) threw: answer has no items/);
    parseError(
      () =>
        parseRows(
          curator({
            parse: () => {
              throw 404;
            },
          }),
          {},
          'x'
        ),
      /404/
    );
  });

  test('an async parse (a Promise) is a ParseError, not a row', () => {
    const c = curator({ parse: (async (row: Row) => ({ ...row })) as never });
    parseError(() => parseRows(c, { a: 1 }, 'x'), /Promise/);
  });
});
