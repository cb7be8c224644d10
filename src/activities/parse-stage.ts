/**
 * Stage 4, parse: every answered request of a batch, cached or new, through the curator's current parse, written as
 * the batch's parsed shard. Both paths end here: requests sent one by one and those answered by a provider batch.
 */
import type { Curator, Row } from '../curator';
import { ParseError, parseRows } from '../requests/parse';
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
