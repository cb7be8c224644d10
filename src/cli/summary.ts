/** The final statistics of a job, as a table for people. */
import type { CurationManifest } from '../types';

/** A finished job's statistics as a table for people, as `curator run` prints it; `elapsedMs` adds the wall time. */
export function formatSummary(result: CurationManifest, elapsedMs?: number): string {
  const s = result.stats;
  // Requests answered by this job: cached answers cost nothing and used no tokens now.
  const answered = s.succeeded - s.cached;
  const rows: [string, string][] = [
    ['Curator', result.curator],
    ['Run', `${result.runHash} (parse ${result.parseHash})${result.fromCache ? ', from cache' : ''}`],
    ['Workflow', result.workflowId],
    [
      'Requests',
      `${s.total} total, ${s.succeeded} succeeded, ${s.failed} failed, ${s.cached} cached` +
        (s.reused ? ` (${s.reused} reused from other runs)` : '') +
        `, ${s.retries} retries`,
    ],
    [
      'Tokens',
      `${s.tokens.input + s.tokens.output} total: ${s.tokens.input} in, ${s.tokens.output} out` +
        (s.tokens.reasoning ? ` (${s.tokens.reasoning} of them reasoning)` : '') +
        (answered > 0
          ? ` (per request ${Math.round(s.tokens.input / answered)} in, ${Math.round(s.tokens.output / answered)} out)`
          : ''),
    ],
    [
      'Cost',
      result.costUsd === undefined
        ? 'unknown (no price for this model)'
        : `$${result.costUsd.toFixed(4)}` +
          (answered > 0 ? ` ($${(result.costUsd / answered).toFixed(6)} per request)` : '') +
          (result.batch ? ', batch API: 50% off' : ''),
    ],
    ['Output rows', String(s.outputRows)],
    ['Dataset', result.datasetPath],
    ['SHA-256', result.datasetSha256],
    ['Failed requests', s.failed > 0 ? result.failedRequestsPath : 'none'],
  ];
  if (elapsedMs !== undefined) {
    const seconds = elapsedMs / 1000;
    const minutes = seconds / 60;
    rows.push([
      'Time',
      `${seconds.toFixed(1)} s` +
        (s.total && !result.fromCache
          ? `, ${(s.total / seconds).toFixed(1)} requests/s (${Math.round(s.total / minutes)} req/min), ` +
            `${Math.round((s.tokens.input + s.tokens.output) / minutes)} tokens/min`
          : ''),
    ]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}
