/**
 * Scale-out survives losing a machine, in CI: the production-shaped stack (scripts/infra/stack.sh: two Temporal hosts
 * on PostgreSQL, the object store, PostgreSQL, 3 worker machines each with its own network namespace and tmpfs disk,
 * reaching the services only through relays) runs one job of 20,000 requests against the simulator enforcing one
 * limit for all, while machine m1 is killed with its disk, Temporal host 1 is SIGKILLed, the object store restarts and
 * machine m2 is cut off for 30 s (bench/cluster-chaos.ts does it all and checks). The workers keep the run in the
 * object store and PostgreSQL (CURATOR_STORAGE, CURATOR_DATABASE_URL); their own disks are only caches.
 *
 * Needs root (namespaces) and the builds of scripts/infra/build.sh (cached outside the clone; made here if missing).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CI, formatReport, runClusterChaos } from '../../bench/cluster-chaos';

function skipReason(): string | undefined {
  if (process.platform !== 'linux' || process.getuid?.() !== 0)
    return 'needs root on Linux (network and mount namespaces)';
  const build = spawnSync('bash', [join(__dirname, '..', '..', 'scripts', 'infra', 'build.sh'), 'all'], {
    stdio: ['ignore', 2, 2],
  });
  return build.status === 0 ? undefined : `scripts/infra/build.sh all failed (exit ${build.status}); see its output`;
}

test(
  'a job on 3 machines survives a lost machine, a lost Temporal host, a store restart and a partition',
  {
    skip: skipReason(),
  },
  async () => {
    const seed = Math.floor(Math.random() * 2 ** 31);
    const logs: string[] = [];
    // Results stay out of bench/results: that folder holds figures from deliberate runs.
    const report = await runClusterChaos({ ...CI, seed, resultsPath: undefined, log: (line) => logs.push(line) });
    const summary = `${formatReport(report)}\n${logs.join('\n')}`;
    assert.ok(report.ok, summary);

    const f = report.figures;
    assert.deepEqual(
      report.events.map((e) => [e.kind, e.atSeconds !== undefined]),
      [
        ['kill-machine', true],
        ['kill-temporal-host', true],
        ['restart-store', true],
        ['cut-machine', true],
      ],
      summary
    );
    assert.equal(f.rowsOut, CI.requests, summary);
    assert.equal(f.rowsFailed, 0, summary);
    assert.ok(f.duplicates <= f.duplicateBound, summary);
    assert.ok(f.rateLimited <= 0.01 * f.simRequests, summary);
    assert.equal(f.badLines, 0, summary);
    assert.ok(f.sha256Matches, summary);
    assert.ok(f.historiesReplayed >= 2, summary);
    assert.equal(f.replayErrors, 0, summary);
    console.log(formatReport(report));
  }
);
