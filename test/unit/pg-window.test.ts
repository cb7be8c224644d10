/** The pure parts of the PostgreSQL send window: grant sizes, the share kept during an outage, clock bounds. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { clockBounds, grantRequests, outageLimits, PG_GRANT_MS } from '../../src/limits/pg-window';

describe('grantRequests', () => {
  test('twice the demand seen, from the last grant or the last second, at least a few', () => {
    assert.equal(grantRequests({ lastUse: 0, perSecond: 0 }, Infinity), 4);
    assert.equal(grantRequests({ lastUse: 30, perSecond: 0 }, Infinity), 60);
    // 500/s over a grant's reach, doubled.
    assert.equal(grantRequests({ lastUse: 10, perSecond: 500 }, Infinity), Math.ceil((2 * 500 * PG_GRANT_MS) / 1000));
    assert.equal(grantRequests({ lastUse: 1e6, perSecond: 0 }, Infinity), 1000, 'capped');
    // A grant that reaches further (a database further away) covers the demand of its whole reach.
    assert.equal(grantRequests({ lastUse: 0, perSecond: 100 }, Infinity, 1000), 200);
  });

  test('at most a quarter of what the limits leave, so other machines keep room; at least one', () => {
    assert.equal(grantRequests({ lastUse: 100, perSecond: 0 }, 40), 10);
    assert.equal(grantRequests({ lastUse: 100, perSecond: 0 }, 2), 1);
    assert.equal(grantRequests({ lastUse: 100, perSecond: 0 }, 1), 1);
  });
});

describe('outageLimits', () => {
  test('each limit split between the senders last seen and one more', () => {
    const limits = { requestsPerMinute: 600, tokensPerMinute: 90_000, requestsPerSecond: 30 };
    assert.deepEqual(outageLimits(limits, 0), {
      requestsPerMinute: 300,
      tokensPerMinute: 45_000,
      inputTokensPerMinute: undefined,
      outputTokensPerMinute: undefined,
      // The minute's rate (10/s) is the tighter one.
      requestsPerSecond: 5,
    });
    const three = outageLimits(limits, 2);
    assert.equal(three.requestsPerMinute, 150);
    // Three machines that knew of each other stay within the limit together.
    assert.ok(3 * three.requestsPerSecond! <= limits.requestsPerMinute / 60);
  });

  test('a per-minute limit alone is also held to its share of a second, from the first second of the outage', () => {
    assert.equal(outageLimits({ requestsPerMinute: 6000 }, 2).requestsPerSecond, 25);
    assert.equal(outageLimits({ tokensPerMinute: 6000 }, 1).requestsPerSecond, undefined);
  });
});

describe('clockBounds', () => {
  test('the offset lies within the round trip, whatever the clocks', () => {
    // The database's clock is 5 s ahead; the read took 20 ms and happened somewhere in it.
    const b = clockBounds(1000, 1020, 6010);
    assert.deepEqual(b, { low: 4990, high: 5010 });
    // A grant counted at 6300 (database) is drawn on until 1290 here: a send then is at most 6300 there.
    assert.equal(6300 - b.high, 1290);
  });
});
