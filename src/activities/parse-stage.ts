/**
 * Stage 4, parse: every answered request of a batch, cached or new, through the curator's current parse, written as
 * the batch's parsed shard. Both paths end here: requests sent one by one and those answered by a provider batch.
 */
import type { Curator, Row } from '../curator';
import type { BatchOutcome } from '../manifests';
import { parseRows } from '../requests/parse';
import { ParseError } from '../errors';
import { writeFileAtomic } from '../storage/jsonl';
import type { BatchLog } from '../storage/response-log';
import type { ActivityDeps } from './deps';

/** Output rows of one request, or why its answer could not be parsed: one line of a parsed shard. */
export interface ParsedLine {
  i: number;
  rows?: Row[];
  error?: string;
}

export async function writeParsedShard(
  deps: ActivityDeps,
  curator: Curator,
  task: { runHash: string; parseHash: string; batch: number },
  rows: Row[],
  first: number,
  log: BatchLog
): Promise<ParsedLine[]> {
  const lines: ParsedLine[] = [];
  rows.forEach((row, k) => {
    const i = first + k;
    const success = log.requests.get(i)?.success;
    if (!success) return;
    try {
      lines.push({ i, rows: parseRows(curator, row, success.value) });
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
      lines.push({ i, error: err.message });
    }
  });
  const path = deps.cache.run(task.runHash).parsed(task.parseHash, task.batch);
  await writeFileAtomic(path, lines.map((l) => JSON.stringify(l)).join('\n') + (lines.length ? '\n' : ''));
  return lines;
}

/** What a request that is neither answered nor failed for good is waiting for: another attempt. */
export interface Unsettled {
  index: number;
  attempts: number;
  type: string;
  retryAfterMs?: number;
}

/**
 * A batch's totals after a round, from its response log and parsed shard, the same for both request paths; each
 * request still open is handed to `unsettled`, for the caller to report in its own shape.
 */
export function tallyBatch(
  task: { batch: number; jobId: string },
  rows: Row[],
  first: number,
  log: BatchLog,
  parsed: ParsedLine[],
  unsettled: (request: Unsettled) => void
): Omit<BatchOutcome, 'retryable'> {
  const outcome = {
    batch: task.batch,
    requests: rows.length,
    succeeded: 0,
    cached: 0,
    failed: 0,
    outputRows: 0,
    tokens: { input: 0, output: 0 },
  };
  const parsedByIndex = new Map(parsed.map((p) => [p.i, p]));
  for (let k = 0; k < rows.length; k++) {
    const i = first + k;
    const s = log.requests.get(i);
    if (s) {
      outcome.tokens.input += s.tokens.input;
      outcome.tokens.output += s.tokens.output;
    }
    const p = parsedByIndex.get(i);
    if (p) {
      if (p.error !== undefined) {
        outcome.failed++;
      } else {
        outcome.succeeded++;
        outcome.outputRows += p.rows!.length;
      }
      if (s?.success && s.success.job !== task.jobId) outcome.cached++;
      continue;
    }
    const last = s?.errors.at(-1);
    if (last && !last.retryable) outcome.failed++;
    else
      unsettled({
        index: i,
        attempts: s?.attempts ?? 0,
        type: last?.type ?? 'NotAttempted',
        retryAfterMs: last?.retryAfterMs,
      });
  }
  return outcome;
}
