/**
 * Stage "parse" of a request's life: an accepted answer becomes 0..n output rows through the curator's `parse`. Every
 * answered request of a shard, cached or new, goes through the curator's current parse into the shard's parsed file,
 * whichever way it travelled.
 */
import type { Curator, Row } from '../curator';
import { ParseError } from '../errors';
import type { RunLayout } from '../storage/cache-dir';
import { writeFileAtomic } from '../storage/jsonl';
import type { ShardLog } from '../storage/response-log';
import type { Answer } from '../types/answer';
import { answerView } from './answer-view';

function isPlainObject(value: unknown): value is Row {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `a ${(value as object).constructor?.name ?? 'non-plain object'}`;
  return typeof value;
}

/** The default parse: the object of a structured answer, or `{ response }` for text. */
function defaultParse(value: unknown): Row {
  return isPlainObject(value) ? value : { response: value };
}

/**
 * The rows of one accepted answer: the curator's `parse(row, response, answer)`, or the default parse; `answer`
 * defaults to a one-choice answer of `value`.
 */
export function parseRows(curator: Curator, row: Row, value: unknown, answer?: Answer): Row[] {
  let result: unknown;
  try {
    result = curator.parse
      ? curator.parse(row as never, value as never, (answer ?? answerView({ value })) as never)
      : defaultParse(value);
  } catch (err) {
    throw new ParseError(`parse() threw: ${(err as Error)?.message ?? String(err)}`);
  }
  if (result instanceof Promise || typeof (result as { then?: unknown })?.then === 'function') {
    throw new ParseError('parse() returned a Promise: parse must be synchronous');
  }
  if (result === null || result === undefined) return [];
  const rows = Array.isArray(result) ? result : [result];
  rows.forEach((r, i) => {
    if (!isPlainObject(r)) {
      throw new ParseError(`parse() must return plain objects; item ${i} is ${describe(r)}`);
    }
  });
  return rows as Row[];
}

/** Output rows of one request, or why its answer could not be parsed: one line of a parsed shard. */
export interface ParsedLine {
  i: number;
  rows?: Row[];
  error?: string;
}

export async function writeParsedShard(
  run: RunLayout,
  curator: Curator,
  task: { parseHash: string; batch: number },
  rows: Row[],
  first: number,
  log: ShardLog
): Promise<ParsedLine[]> {
  const lines: ParsedLine[] = [];
  rows.forEach((row, k) => {
    const i = first + k;
    const success = log.requests.get(i)?.success;
    if (!success) return;
    try {
      lines.push({ i, rows: parseRows(curator, row, success.value, answerView(success)) });
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
      lines.push({ i, error: err.message });
    }
  });
  const path = run.parsed(task.parseHash, task.batch);
  await writeFileAtomic(path, lines.map((l) => JSON.stringify(l)).join('\n') + (lines.length ? '\n' : ''));
  return lines;
}
