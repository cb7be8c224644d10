import { test } from 'node:test';
import assert from 'node:assert/strict';
import Ajv2020 from 'ajv/dist/2020';
import { generateFromSchema, parseDirectives, Rng, formatGoDuration, formatRfc3339 } from '../../src/simulator';
import { FaultBook } from '../../src/simulator/faults';
import { limitSettings, SlidingWindowLimiter } from '../../src/simulator/rate-limits';
import { promptTokens, textTokens } from '../../src/simulator/tokens';
import { optionsFromArgs } from '../../src/simulator/cli';

test('formatGoDuration prints Go-style durations', () => {
  assert.equal(formatGoDuration(0), '0s');
  assert.equal(formatGoDuration(12), '12ms');
  assert.equal(formatGoDuration(11.2), '12ms');
  assert.equal(formatGoDuration(1000), '1s');
  assert.equal(formatGoDuration(1500), '1.5s');
  assert.equal(formatGoDuration(17_283), '17.283s');
  assert.equal(formatGoDuration(360_000), '6m0s');
  assert.equal(formatGoDuration(3_723_500), '1h2m3.5s');
});

test('formatRfc3339 rounds up to whole seconds', () => {
  assert.equal(formatRfc3339(Date.UTC(2025, 7, 21, 12, 40, 58, 1)), '2025-08-21T12:40:59Z');
  assert.equal(formatRfc3339(Date.UTC(2025, 7, 21, 12, 40, 59)), '2025-08-21T12:40:59Z');
});

test('parseDirectives reads every documented form', () => {
  assert.deepEqual(parseDirectives('x [[sim:status=429,retryAfter=0.5,times=2]] y'), [
    { fault: { status: 429, retryAfter: 0.5 }, times: 2 },
  ]);
  assert.deepEqual(parseDirectives('[[sim:status=500]]'), [{ fault: { status: 500 } }]);
  assert.deepEqual(parseDirectives('[[sim:drop,times=1]]'), [{ fault: { kind: 'drop' }, times: 1 }]);
  assert.deepEqual(parseDirectives('[[sim:slow=3000]]'), [{ fault: { kind: 'slow', ms: 3000 } }]);
  assert.deepEqual(parseDirectives('[[sim:malformed]]'), [{ fault: { kind: 'malformed' } }]);
  assert.deepEqual(parseDirectives('[[sim:finish=length]]'), [{ fault: { kind: 'finish', reason: 'length' } }]);
  assert.deepEqual(parseDirectives('[[sim:refusal]]'), [{ fault: { kind: 'refusal' } }]);
  assert.deepEqual(parseDirectives('[[sim:invalid-json,times=1]]'), [{ fault: { kind: 'invalid-json' }, times: 1 }]);
  assert.deepEqual(parseDirectives('[[sim:status=400,message=a%2C b,shouldRetry=true,retryAfter=Wed]]'), [
    { fault: { status: 400, message: 'a, b', shouldRetry: true, retryAfter: 'Wed' } },
  ]);
  assert.deepEqual(parseDirectives('no directive [[sim:unknown]]'), []);
});

test('FaultBook: directive `times` counts per prompt; several directives chain', () => {
  const book = new FaultBook();
  const prompt = 'p [[sim:status=429,times=2]] [[sim:status=500,times=3]]';
  const seen = Array.from({ length: 5 }, () => book.pick('openai', prompt, []));
  assert.deepEqual(seen, [{ status: 429 }, { status: 429 }, { status: 500 }, undefined, undefined]);
  assert.deepEqual(book.pick('openai', 'other [[sim:status=429,times=2]]', []), { status: 429 }, 'counted per prompt');
  book.reset();
  assert.deepEqual(book.pick('openai', prompt, []), { status: 429 });

  const rule = { match: /hit/g, times: 2, fault: { kind: 'drop' as const } };
  assert.deepEqual(book.pick('openai', 'hit', [rule]), { kind: 'drop' });
  assert.deepEqual(book.pick('openai', 'hit', [rule]), { kind: 'drop' }, 'a global regex is not stateful');
  assert.equal(book.pick('openai', 'hit', [rule]), undefined);
  assert.equal(book.pick('anthropic', 'x', [{ provider: 'openai', fault: { status: 500 } }]), undefined);
});

test('generateFromSchema: $ref to root, nested $defs, enums, bounds, and determinism', () => {
  const schema = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    properties: {
      name: { type: 'string', minLength: 30, maxLength: 40 },
      code: { type: 'string', maxLength: 3 },
      parent: { anyOf: [{ $ref: '#' }, { type: 'null' }] },
      ratio: { type: 'number', minimum: 0.5, maximum: 0.75 },
      big: { type: 'integer', minimum: 1000 },
      negative: { type: 'integer', maximum: -50 },
      step: { type: 'integer', multipleOf: 7, minimum: 1 },
      level: { $ref: '#/$defs/level' },
      maybe: { type: ['null', 'boolean'] },
      items: { type: 'array', items: { $ref: '#/$defs/item' }, minItems: 4 },
      none: { type: 'array', items: { type: 'string' }, maxItems: 0 },
      dict: { type: 'object', additionalProperties: { type: 'integer' } },
      date: { type: 'string', format: 'date' },
      host: { type: 'string', format: 'hostname' },
    },
    required: ['name', 'parent'],
    additionalProperties: false,
    $defs: {
      level: { enum: ['low', 'high'] },
      item: { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'] },
    },
  };
  const value = generateFromSchema(schema, new Rng('seed'));
  const ajv = new Ajv2020({ strict: false });
  ajv.addFormat('date', /^\d{4}-\d\d-\d\d$/);
  ajv.addFormat('hostname', /^[a-z.]+$/);
  assert.ok(ajv.validate(schema, value), `${ajv.errorsText()} for ${JSON.stringify(value)}`);
  assert.deepEqual(generateFromSchema(schema, new Rng('seed')), value);
  assert.notDeepEqual(generateFromSchema(schema, new Rng('other')), value);
});

test('SlidingWindowLimiter debits, rejects with a precise wait, and slides', () => {
  const settings = limitSettings({ rpm: 2, tpm: 100, windowMs: 1000 });
  const limiter = new SlidingWindowLimiter();
  assert.equal(limiter.admit(0, { input: 30, output: 10 }, settings), undefined);
  assert.equal(limiter.admit(400, { input: 30, output: 10 }, settings), undefined);
  const rpm = limiter.admit(500, { input: 1, output: 1 }, settings);
  assert.deepEqual(rpm, { dimension: 'requests', limit: 2, used: 2, requested: 1, retryAfterMs: 500 });
  const snapshot = limiter.snapshot(500, settings);
  assert.deepEqual(snapshot.requests, { limit: 2, remaining: 0, resetMs: 900, enforced: true });
  assert.deepEqual(snapshot.tokens, { limit: 100, remaining: 20, resetMs: 900, enforced: true });
  assert.equal(snapshot.inputTokens.enforced, false);

  // At t=1000 the first event expired: one request slot, 60 tokens free.
  const tpm = limiter.admit(1000, { input: 50, output: 20 }, settings);
  assert.deepEqual(tpm, { dimension: 'tokens', limit: 100, used: 40, requested: 70, retryAfterMs: 400 });
  const tooLarge = limiter.admit(1000, { input: 150, output: 1 }, settings);
  assert.equal(tooLarge?.retryAfterMs, undefined);
  assert.equal(limiter.admit(1400, { input: 50, output: 20 }, settings), undefined);

  const unlimited = limitSettings(undefined);
  assert.deepEqual(
    [unlimited.windowMs, unlimited.buckets.requests, unlimited.buckets.tokens],
    [60_000, { limit: 10_000, enforced: false }, { limit: 2_000_000, enforced: false }]
  );
});

test('token arithmetic', () => {
  assert.equal(textTokens(''), 1);
  assert.equal(textTokens('abcde'), 2);
  assert.equal(promptTokens(['abcd']), 4 + 1 + 2);
  assert.equal(promptTokens([[{ type: 'text', text: 'abcd' }], 'abcdefgh'], [{ a: 1 }]), 4 + 1 + 4 + 2 + 2 + 2);
});

test('CLI options', () => {
  assert.deepEqual(optionsFromArgs(['--port', '8787', '--latency', '200-800', '--rpm', '3000', '--tpm', '500000']), {
    port: 8787,
    latencyMs: { min: 200, max: 800 },
    rateLimits: { rpm: 3000, tpm: 500000 },
  });
  assert.deepEqual(optionsFromArgs(['--latency', '50', '--keys', 'a,b', '--omit-rate-limit-headers']), {
    port: 0,
    latencyMs: 50,
    validApiKeys: ['a', 'b'],
    omitRateLimitHeaders: true,
  });
  assert.throws(() => optionsFromArgs(['--rpm', 'lots']), /--rpm expects/);
});
