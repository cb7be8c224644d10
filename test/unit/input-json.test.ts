/** Reading a user's JSONL line: numbers JavaScript cannot hold stay exact, deep nesting is refused, a BOM dropped. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputLineError } from '../../src/errors';
import { MAX_INPUT_DEPTH, parseInputLine, stripBom } from '../../src/storage/input-json';

test('integers beyond 2^53 and numbers beyond double range become their exact decimal strings', () => {
  assert.deepEqual(parseInputLine('{"id": 9007199254740993, "x": 1e400, "y": -1E+999, "n": [12345678901234567890]}'), {
    id: '9007199254740993',
    x: '1e400',
    y: '-1E+999',
    n: ['12345678901234567890'],
  });
});

test('numbers JavaScript keeps exactly are numbers, and digits inside strings are left alone', () => {
  assert.deepEqual(
    parseInputLine('{"a": 9007199254740991, "b": 2.5e10, "c": -0.125, "s": "99999999999999999999 \\" 1e400"}'),
    {
      a: 9007199254740991,
      b: 2.5e10,
      c: -0.125,
      s: '99999999999999999999 " 1e400',
    }
  );
});

test(`nesting up to ${MAX_INPUT_DEPTH} levels is read; deeper is refused without recursing`, () => {
  const nested = (n: number) => `{"x": ${'['.repeat(n - 1)}${']'.repeat(n - 1)}}`;
  assert.ok(parseInputLine(nested(MAX_INPUT_DEPTH)));
  assert.throws(() => parseInputLine(nested(MAX_INPUT_DEPTH + 1)), InputLineError);
  assert.throws(() => parseInputLine(nested(1_000_000)), /nesting deeper than 100 levels/);
  const brackets = '['.repeat(MAX_INPUT_DEPTH * 2);
  assert.deepEqual(parseInputLine(JSON.stringify({ s: brackets })), { s: brackets });
});

test('invalid JSON still fails as JSON.parse does; a BOM is dropped', () => {
  assert.throws(() => parseInputLine('{"a": 1'), SyntaxError);
  assert.equal(stripBom('\uFEFF{"a":1}'), '{"a":1}');
  assert.equal(stripBom('{"a":1}'), '{"a":1}');
});
