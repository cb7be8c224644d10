import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { ResponseHeaders } from '../../src/providers/response-headers';

const raw = [
  'X-RateLimit-Remaining-Requests',
  '499',
  'Content-Type',
  'application/json',
  'Set-Cookie',
  'a=1',
  'Vary',
  'Accept',
  'set-cookie',
  'b=2',
  'vary',
  'Origin',
];

describe('ResponseHeaders', () => {
  test('reads as fetch Headers do: any case, repeated names joined, name order, cookies apart', () => {
    const ours = new ResponseHeaders(raw);
    const theirs = new Headers();
    for (let i = 0; i < raw.length; i += 2) theirs.append(raw[i]!, raw[i + 1]!);
    assert.equal(ours.get('x-ratelimit-remaining-requests'), '499');
    assert.equal(ours.get('X-RATELIMIT-REMAINING-REQUESTS'), '499');
    assert.equal(ours.get('vary'), 'Accept, Origin');
    assert.equal(ours.get('retry-after'), null);
    assert.equal(ours.has('Content-Type'), true);
    assert.deepEqual([...ours], [...theirs]);
    assert.deepEqual([...ours.keys()], [...theirs.keys()]);
    assert.deepEqual([...ours.values()], [...theirs.values()]);
    assert.deepEqual(ours.getSetCookie(), theirs.getSetCookie());
    const seen: [string, string][] = [];
    ours.forEach((value, name) => seen.push([name, value]));
    assert.deepEqual(seen, [...theirs.entries()]);
    // What `new Headers(...)` and `new Response(..., { headers })` make of it.
    assert.deepEqual([...new Headers(ours)], [...theirs]);
  });

  test('immutable, as a fetched response’s headers', () => {
    const ours = new ResponseHeaders(raw);
    assert.throws(() => ours.set('vary', 'x'), TypeError);
    assert.throws(() => ours.append('vary', 'x'), TypeError);
    assert.throws(() => ours.delete('vary'), TypeError);
    assert.equal(ours.get('vary'), 'Accept, Origin');
  });

  test('the SDKs’ per-response debug entry takes nothing of it; inspect shows the headers', () => {
    const ours = new ResponseHeaders(raw);
    // The SDKs copy the entries of Headers instances only, and take Object.entries of anything else.
    assert.equal(ours instanceof Headers, false);
    assert.deepEqual(Object.entries(ours), []);
    assert.match(inspect(ours), /'x-ratelimit-remaining-requests': '499'/);
  });
});
