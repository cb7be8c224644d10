/**
 * What a round of a shard leaves behind, from its response log and parsed shard: the same totals whichever way its
 * requests travelled. The requests still open are reported one by one (sent on their own) or grouped by attempts
 * (sent in provider batches, where a shard may hold tens of thousands and payloads stay small).
 */
import type { Row } from '../curator';
import type { ShardOutcome, ProviderBatchOutcome, RetryableFailure, RetryGroup } from '../types';
import type { ShardLog } from '../storage/response-log';
import type { ParsedLine } from './parse';
import { REUSED_JOB } from './reuse';

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
function tallyShard(
  task: { batch: number; jobId: string },
  rows: Row[],
  first: number,
  log: ShardLog,
  parsed: ParsedLine[],
  unsettled: (request: Unsettled) => void
): Omit<ShardOutcome, 'retryable'> {
  const outcome: Omit<ShardOutcome, 'retryable'> = {
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
      if (s.tokens.reasoning) outcome.tokens.reasoning = (outcome.tokens.reasoning ?? 0) + s.tokens.reasoning;
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
      if (s?.success?.job === REUSED_JOB) outcome.reused = (outcome.reused ?? 0) + 1;
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

/** The shard's totals after a round, with each request still open reported on its own. */
export function summarize(
  task: { batch: number; jobId: string },
  rows: Row[],
  first: number,
  log: ShardLog,
  parsed: ParsedLine[]
): ShardOutcome {
  const retryable: RetryableFailure[] = [];
  const tally = tallyShard(task, rows, first, log, parsed, ({ index, attempts, type, retryAfterMs }) => {
    const failure: RetryableFailure = { index, attempts, type };
    if (retryAfterMs !== undefined) failure.retryAfterMs = retryAfterMs;
    retryable.push(failure);
  });
  return { ...tally, retryable };
}

/** The shard's totals after a round, with the requests still open as counts per attempts so far. */
export function summarizeGrouped(
  task: { batch: number; jobId: string },
  rows: Row[],
  first: number,
  log: ShardLog,
  parsed: ParsedLine[]
): ProviderBatchOutcome {
  const groups = new Map<number, RetryGroup>();
  const tally = tallyShard(task, rows, first, log, parsed, ({ attempts, type }) => {
    const group = groups.get(attempts);
    if (group) group.count++;
    else groups.set(attempts, { attempts, count: 1, type });
  });
  return { ...tally, retryable: [...groups.values()].sort((a, b) => a.attempts - b.attempts) };
}
