/**
 * The PostgreSQL send window (src/limits/pg-window.ts) against a real PostgreSQL: two windows stand for two machines
 * sharing one key. Counts only: what they admitted together in any second and in the minute, what the table holds
 * once they closed, and that admission goes on through a database outage and comes back to grants after it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as yieldNow, setTimeout as delay } from 'node:timers/promises';
import { pgQuery } from '../helpers/pg-query';
import { openLimitsReadout } from '../../src/cli/progress';
import { PgWindow } from '../../src/limits/pg-window';
import type { Cost, Limits } from '../../src/limits/window';
import { infraSkipReason, startPgServer, type PgServer } from '../helpers/infra-servers';
import { tempDir } from '../helpers/temporal';

const ONE: Cost = { requests: 1, input: 10, output: 5 };

/** Admits as fast as the window lets until `until`; the admission times (this process's clock). */
async function drive(window: PgWindow, bucket: string, limits: Limits, until: number, times: number[]) {
  while (Date.now() < until) {
    window.state(bucket);
    const r = window.tryAdmit(bucket, ONE, limits, Date.now());
    if ('ref' in r) {
      times.push(Date.now());
      await yieldNow();
    } else await delay(Math.min(r.waitMs, 20));
  }
}

/** The most admissions within any `ms` (sliding, over sorted times). */
function mostWithin(times: number[], ms: number): number {
  const t = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; j < t.length; j++) {
    while (t[j]! - t[i]! >= ms) i++;
    most = Math.max(most, j - i + 1);
  }
  return most;
}

describe('PgWindow on PostgreSQL', { skip: infraSkipReason('postgres') }, () => {
  let server: PgServer;
  let url: string;

  before(async () => {
    server = await startPgServer(tempDir('pg-window'));
    url = await server.database('limits');
  });
  after(async () => {
    await server?.stop();
  });

  async function sentInTable(bucket: string): Promise<number> {
    const rows = await pgQuery<{ n: number }>(
      url,
      'SELECT COALESCE(SUM(requests), 0)::float8 AS n FROM curator_limit_slots WHERE bucket = $1',
      [bucket]
    );
    return rows[0]!.n;
  }

  test('two machines never admit more than the limit between them, in any second or the minute', async () => {
    const bucket = 'two-machines';
    const limits: Limits = { requestsPerMinute: 150, requestsPerSecond: 40 };
    const a = new PgWindow(url);
    const b = new PgWindow(url);
    const [ta, tb]: number[][] = [[], []];
    const until = Date.now() + 5000;
    await Promise.all([drive(a, bucket, limits, until, ta), drive(b, bucket, limits, until, tb)]);
    a.close();
    b.close();
    await Promise.all([a.ended, b.ended]);
    const all = [...ta, ...tb];
    console.log(`two machines: a ${ta.length}, b ${tb.length}, most in a second ${mostWithin(all, 1000)}`);
    assert.ok(ta.length > 0 && tb.length > 0, 'both admitted');
    assert.ok(all.length <= 150, `the minute, between them: ${all.length}`);
    assert.ok(all.length > 40, 'more than one second admitted');
    assert.ok(mostWithin(all, 1000) <= 40, `most in a second: ${mostWithin(all, 1000)}`);
    // Unused grants went back at close: the table holds exactly what was admitted.
    assert.equal(await sentInTable(bucket), all.length);
  });

  test('a cost that is not a number is counted as 0: the bucket stays usable', async () => {
    const bucket = 'not-a-number';
    const limits: Limits = { requestsPerSecond: 40, tokensPerMinute: 100_000 };
    const messages: string[] = [];
    const w = new PgWindow(url, { log: (m) => messages.push(m) });
    const times: number[] = [];
    const bad = { requests: 1, input: 10, output: NaN };
    while (times.length === 0) {
      w.state(bucket);
      const r = w.tryAdmit(bucket, bad, limits, Date.now());
      if ('ref' in r) {
        times.push(Date.now());
        w.settle(r.ref, 10, NaN);
      } else await delay(r.waitMs);
    }
    await drive(w, bucket, limits, Date.now() + 500, times);
    w.close();
    await w.ended;
    assert.ok(times.length > 1, 'admitted after the bad cost');
    assert.equal(await sentInTable(bucket), times.length);
    assert.equal(messages.filter((m) => /not a number/.test(m)).length, 1, 'reported once');
  });

  test('a database outage: admission goes on at a local share, then grants resume and the table has it all', async () => {
    const bucket = 'outage';
    const limits: Limits = { requestsPerSecond: 40 };
    const messages: string[] = [];
    const w = new PgWindow(url, { log: (m) => messages.push(m) });
    const [before, during, afterwards]: number[][] = [[], [], []];
    await drive(w, bucket, limits, Date.now() + 1000, before);
    await server.stop();
    const outageStart = Date.now();
    await drive(w, bucket, limits, Date.now() + 2000, during);
    await server.start();
    await drive(w, bucket, limits, Date.now() + 2000, afterwards);
    w.close();
    await w.ended;
    console.log(`outage: before ${before.length}, during ${during.length}, after ${afterwards.length}`, messages);
    assert.ok(before.length > 0, 'admitted before');
    assert.ok(during.length > 0, 'admitted during the outage');
    // A lone machine takes half of the limit while it cannot see the others (after the grant it held ran out).
    const outageOnly = during.filter((t) => t > outageStart + 1000);
    assert.ok(
      mostWithin(outageOnly, 1000) <= 20,
      `most in a second during the outage: ${mostWithin(outageOnly, 1000)}`
    );
    assert.ok(mostWithin([...before, ...during, ...afterwards], 1000) <= 40);
    assert.ok(afterwards.length > 0, 'admitted after');
    assert.ok(
      messages.some((m) => / is out /.test(m)),
      'the outage was reported'
    );
    assert.ok(
      messages.some((m) => / is back /.test(m)),
      'the recovery was reported'
    );
    // What was sent during the outage was written once the database was back.
    assert.equal(await sentInTable(bucket), before.length + during.length + afterwards.length);
  });

  test("a progress display off the workers' machines reads their learned limits and load from the database", async () => {
    const bucket = 'readout';
    const readout = openLimitsReadout({ CURATOR_DATABASE_URL: url });
    const run = { runDir: '/not/on/this/machine/run', rateBucket: bucket };
    const a = new PgWindow(url);
    const b = new PgWindow(url);
    try {
      const learned: Limits = { requestsPerMinute: 30_000, tokensPerMinute: 150_000_000 };
      a.learn(bucket, learned);
      a.report(bucket, { inFlight: 700, target: 900 });
      b.report(bucket, { inFlight: 300, target: 400 });
      // Written in the background within ~100 ms; looked at again for a few seconds at most.
      let load: Awaited<ReturnType<typeof readout.load>>;
      for (let i = 0; i < 50 && (load = await readout.load(run, Date.now()))?.inFlight !== 1000; i++) await delay(100);
      assert.deepEqual(load, { inFlight: 1000, target: 1300 }, 'both machines summed');
      assert.deepEqual(await readout.learned(run), learned);
      assert.equal(await readout.learned({ ...run, rateBucket: 'other' }), undefined);
      assert.equal(await readout.load({ ...run, rateBucket: 'other' }, Date.now()), undefined);
    } finally {
      a.close();
      b.close();
      await Promise.all([a.ended, b.ended, readout.close()]);
    }
    // A database that is not there reads as nothing rather than stopping the display.
    const away = openLimitsReadout({ CURATOR_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    assert.equal(await away.learned(run), undefined);
    assert.equal(await away.load(run, Date.now()), undefined);
    await away.close();
  });
});
