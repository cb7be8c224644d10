/**
 * Crash-proof, in CI: the short chaos run (2,000 requests; 2 worker SIGKILLs and 1 dev server SIGKILL, each
 * restarted) on real processes, and every check of bench/chaos.ts must hold: each row out once or failed once,
 * duplicates within in-flight × kills, whole JSON Lines files, histories that replay.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatReport, runChaos, SHORT } from '../../bench/chaos';

test('a job survives worker and server SIGKILLs with every row accounted for once', async () => {
  const seed = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : Math.floor(Math.random() * 2 ** 31);
  const logs: string[] = [];
  // Results stay out of bench/results: that folder holds figures from deliberate runs.
  const report = await runChaos({ ...SHORT, seed, resultsPath: undefined, log: (line) => logs.push(line) });
  const summary = `${formatReport(report)}\n${logs.join('\n')}`;
  assert.ok(report.ok, summary);

  const f = report.figures;
  assert.equal(f.workerKills, SHORT.workerKills, summary);
  assert.equal(f.serverKills, SHORT.serverKills, summary);
  assert.equal(f.rowsOut + f.rowsFailed, SHORT.requests, summary);
  assert.ok(f.duplicates <= SHORT.concurrency * (f.workerKills + f.serverKills), summary);
  assert.ok(f.historiesReplayed >= 2, summary);
  assert.equal(f.replayErrors, 0, summary);
  assert.equal(f.badLines, 0, summary);
  console.log(summary.split('\n[chaos')[0]);
});
