/** Issue #15 part 6: per-row generation params, merged over the curator's, in the fingerprint, checked per row. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { defineCurator, type CuratorDefinition, type Row } from '../../src/curator';
import { buildRequest, formatRequests } from '../../src/requests/format';
import { runFingerprint } from '../../src/requests/fingerprint';
import { openaiBody } from '../../src/providers/openai';
import { anthropicBody } from '../../src/providers/anthropic';

const env = { OPENAI_API_KEY: 'k' };

function curator(overrides: Partial<CuratorDefinition<any, any, any>> = {}) {
  return defineCurator<any, any, any>({
    name: 'row-params',
    model: 'gpt-4o-mini',
    prompt: (row: Row) => `Say ${String(row.word)}`,
    generationParams: { temperature: 0.5, max_tokens: 20, seed: 1 },
    ...overrides,
  });
}

describe('per-row generation params: the merge', () => {
  test("a function of the row: its keys win over the curator's, null drops a key", () => {
    const c = curator({ rowGenerationParams: (row: Row) => ({ temperature: row.t, seed: null, top_p: 0.9 }) });
    assert.deepEqual(buildRequest(c, { word: 'a', t: 1.2 }).params, { temperature: 1.2, max_tokens: 20, top_p: 0.9 });
    assert.deepEqual(c.generationParams, { temperature: 0.5, max_tokens: 20, seed: 1 }, 'the curator is unchanged');
  });

  test("a field of the row; a row without it gets the curator's params", () => {
    const c = curator({ rowGenerationParams: 'params' });
    assert.deepEqual(buildRequest(c, { word: 'a', params: { max_tokens: 99 } }).params, {
      temperature: 0.5,
      max_tokens: 99,
      seed: 1,
    });
    assert.deepEqual(buildRequest(c, { word: 'b' }).params, { temperature: 0.5, max_tokens: 20, seed: 1 });
    assert.deepEqual(buildRequest(c, { word: 'b', params: null }).params, {
      temperature: 0.5,
      max_tokens: 20,
      seed: 1,
    });
  });

  test('the exact wire body carries the merged params, the same in both transports (one format stage)', () => {
    const c = curator({ rowGenerationParams: () => ({ temperature: 0 }) });
    const request = buildRequest(c, { word: 'w' });
    assert.deepEqual(openaiBody(request), {
      temperature: 0,
      max_tokens: 20,
      seed: 1,
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Say w' }],
    });
    const a = anthropicBody(
      buildRequest(curator({ model: 'claude-x', rowGenerationParams: () => ({ max_tokens: 7 }) }), { word: 'w' })
    );
    assert.equal(a.max_tokens, 7);
  });

  test('defineCurator refuses a rowGenerationParams that is neither a function nor a field name', () => {
    assert.throws(() => curator({ rowGenerationParams: 3 as never }), /rowGenerationParams must be a function/);
    assert.throws(() => curator({ rowGenerationParams: '' }), /rowGenerationParams must be a function/);
  });
});

describe('per-row generation params: bad params fail their row alone, naming it', () => {
  const rows: Row[] = [
    { word: 'a', p: { temperature: 1 } },
    { word: 'b', p: 'hot' },
    { word: 'c', p: [1] },
    { word: 'd', p: { temperature: Number.NaN } },
    { word: 'e', p: { model: 'gpt-5' } },
    { word: 'f', p: { logit_bias: { x: () => 1 } } },
    { word: 'g' },
  ];

  test('by field', () => {
    const { requests, errors } = formatRequests(
      curator({ rowGenerationParams: 'p' }),
      rows,
      10,
      [10, 11, 12, 13, 14, 15, 16]
    );
    assert.deepEqual([...requests.keys()], [10, 16]);
    assert.equal(requests.get(10)?.params.temperature, 1);
    const message = (i: number) => errors.get(i)?.message ?? '';
    assert.match(message(11), /^row 11: generation params from the field 'p' must be an object, got a string/);
    assert.match(message(12), /^row 12: .*must be an object, got an array/);
    assert.match(message(13), /^row 13: .*params\.temperature is NaN, not a JSON number/);
    assert.match(message(14), /^row 14: .*may not set 'model'/);
    assert.match(message(15), /^row 15: .*params\.logit_bias\.x is a function/);
    for (const e of errors.values()) assert.equal(e.retryable, false);
  });

  test('by a function that throws for one row', () => {
    const c = curator({
      rowGenerationParams: (row: Row) => {
        if (row.word === 'b') throw new Error('no params for b');
        return { temperature: 0 };
      },
    });
    const { requests, errors } = formatRequests(c, rows.slice(0, 3), 0, [0, 1, 2]);
    assert.deepEqual([...requests.keys()], [0, 2]);
    assert.match(errors.get(1)?.message ?? '', /^row 1: rowGenerationParams\(\) threw: no params for b/);
  });
});

describe('per-row generation params: the fingerprint', () => {
  test('covers where the params come from; a curator without them keeps its fingerprint', () => {
    const plain = runFingerprint(curator(), 'd', env);
    const withUndefined = runFingerprint(curator({ rowGenerationParams: undefined }), 'd', env);
    assert.equal(withUndefined, plain);
    const byField = runFingerprint(curator({ rowGenerationParams: 'p' }), 'd', env);
    const byOtherField = runFingerprint(curator({ rowGenerationParams: 'q' }), 'd', env);
    const byFunction = runFingerprint(curator({ rowGenerationParams: () => ({ temperature: 1 }) }), 'd', env);
    const byOtherFunction = runFingerprint(curator({ rowGenerationParams: () => ({ temperature: 2 }) }), 'd', env);
    assert.equal(new Set([plain, byField, byOtherField, byFunction, byOtherFunction]).size, 5);
    assert.equal(runFingerprint(curator({ rowGenerationParams: 'p' }), 'd', env), byField, 'stable');
    // A row's values come from the dataset: another dataset, another run.
    assert.notEqual(runFingerprint(curator({ rowGenerationParams: 'p' }), 'd2', env), byField);
  });
});
