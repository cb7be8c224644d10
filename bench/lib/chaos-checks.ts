/** The checks a chaos run ends with: every row accounted for once, what was paid twice, and whole files on disk. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RecordedRequest } from '../../src/simulator';
import { readArrowRows } from '../../src/storage/arrow';

export interface Accounting {
  outputRows: number;
  failedRows: number;
  /** Input rows with neither an output row nor a failed-requests line. */
  missing: number[];
  /** Input rows with more than one entry across the output and the failed file. */
  twice: number[];
  /** Ids found in the output or the failed file that are not input rows. */
  unknown: unknown[];
  /** Output rows whose text is empty: an answer lost between the log and the dataset. */
  emptyText: number;
}

/**
 * Rows are `{ id }` with id = input index, and bench-text's parse returns exactly one `{ id, text }` per answer, so
 * each id must show up exactly once: in the Arrow output or in the failed requests file.
 */
export async function checkAccounting(datasetPath: string, failedPath: string, rows: number): Promise<Accounting> {
  const seen = new Uint8Array(rows);
  const result: Accounting = { outputRows: 0, failedRows: 0, missing: [], twice: [], unknown: [], emptyText: 0 };
  const count = (id: unknown) => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= rows) {
      result.unknown.push(id);
      return;
    }
    if (seen[id]++ === 1) result.twice.push(id);
  };
  for await (const row of readArrowRows(datasetPath)) {
    result.outputRows++;
    count(row.id);
    if (typeof row.text !== 'string' || row.text.length === 0) result.emptyText++;
  }
  for (const line of (await readFile(failedPath, 'utf8')).split('\n')) {
    if (line.trim() === '') continue;
    const entry = JSON.parse(line) as { index: number; row?: { id?: number } };
    result.failedRows++;
    // The index is the request's position in the input, which for these rows is also the id.
    if (entry.row?.id !== undefined && entry.row.id !== entry.index) result.unknown.push(entry);
    count(entry.index);
  }
  for (let id = 0; id < rows; id++) if (seen[id] === 0) result.missing.push(id);
  return result;
}

/** What is wrong with an accounting, one message per kind of fault (a few ids each). */
export function accountingFailures(accounting: Accounting): string[] {
  const some = (ids: unknown[]) =>
    ids
      .slice(0, 10)
      .map((x) => JSON.stringify(x))
      .join(', ');
  const failures: string[] = [];
  if (accounting.missing.length) failures.push(`rows with no output and no failure: ${some(accounting.missing)}`);
  if (accounting.twice.length) failures.push(`rows accounted for twice: ${some(accounting.twice)}`);
  if (accounting.unknown.length) failures.push(`entries for rows not in the input: ${some(accounting.unknown)}`);
  if (accounting.emptyText) failures.push(`${accounting.emptyText} output rows with no text`);
  return failures;
}

export interface Duplicates {
  /** Sum over prompts of (answered requests - 1): answers paid for more than once. */
  paidTwice: number;
  /** Prompts answered more than once. */
  prompts: number;
  /** The prompt paid for most often, and how often. */
  worst?: { prompt: string; count: number };
  /** Arrival times (ms since the epoch) of the answered requests that repeated an earlier answered one. */
  repeatsAt: number[];
}

export function countDuplicates(requests: readonly RecordedRequest[]): Duplicates {
  const answered = new Map<string, number>();
  const result: Duplicates = { paidTwice: 0, prompts: 0, repeatsAt: [] };
  for (const r of requests) {
    // A streamed request is a worker's limits probe ("hi", once per bucket and process), not a row's answer.
    if (r.status !== 200 || r.stream === true) continue;
    const count = (answered.get(r.prompt) ?? 0) + 1;
    answered.set(r.prompt, count);
    if (count > 1) result.repeatsAt.push(r.at);
  }
  for (const [prompt, count] of answered) {
    if (count < 2) continue;
    result.paidTwice += count - 1;
    result.prompts++;
    if (!result.worst || count > result.worst.count) result.worst = { prompt, count };
  }
  return result;
}

export interface FileIntegrity {
  files: number;
  lines: number;
  /** Responses files whose last line is cut short (a kill mid-append that no later append repaired). */
  tornTails: string[];
  /** Invalid lines anywhere else: these would be real corruption. */
  badLines: { file: string; line: number; text: string }[];
  /** Temporary files of atomic writes a kill interrupted; harmless, since nothing reads them. */
  leftoverTmp: string[];
}

async function listJsonl(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => f.endsWith('.jsonl')).map((f) => join(dir, f));
  } catch {
    return [];
  }
}

async function listTmp(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await listTmp(path)));
    else if (entry.name.endsWith('.tmp')) found.push(path);
  }
  return found;
}

/** Reads every JSON Lines file of the run folder the engine writes: only a responses file may end in a torn line. */
export async function checkRunFiles(runDir: string, failedPath: string): Promise<FileIntegrity> {
  const result: FileIntegrity = { files: 0, lines: 0, tornTails: [], badLines: [], leftoverTmp: [] };
  const responses = await listJsonl(join(runDir, 'responses'));
  const parsedDirs = await readdir(join(runDir, 'parsed')).catch(() => []);
  const others = [
    ...(await listJsonl(join(runDir, 'requests'))),
    ...(await Promise.all(parsedDirs.map((d) => listJsonl(join(runDir, 'parsed', d))))).flat(),
    failedPath,
  ];
  const check = async (file: string, tornTailAllowed: boolean) => {
    result.files++;
    const text = await readFile(file, 'utf8');
    const lines = text.split('\n');
    // A whole file ends with a newline, so the last element is ''; anything else there is a cut-off line.
    const last = lines.length - 1;
    for (let k = 0; k < lines.length; k++) {
      if (lines[k] === '') continue;
      result.lines++;
      if (k === last) {
        // Cut off mid-append: the engine cuts such a tail before its next append to the file.
        if (tornTailAllowed) result.tornTails.push(file);
        else result.badLines.push({ file, line: k + 1, text: lines[k].slice(0, 120) });
        continue;
      }
      try {
        JSON.parse(lines[k]);
      } catch {
        result.badLines.push({ file, line: k + 1, text: lines[k].slice(0, 120) });
      }
    }
  };
  for (const file of responses) await check(file, true);
  for (const file of others) await check(file, false);
  result.leftoverTmp = await listTmp(runDir);
  return result;
}

export interface Stall {
  /** Seconds since `fromMs` when the simulator last saw a request before the gap. */
  afterSeconds: number;
  seconds: number;
}

/** The longest gaps between requests: what each kill cost in time, since nothing else stops the requests. */
export function longestStalls(requests: readonly RecordedRequest[], fromMs: number, count = 3): Stall[] {
  const gaps: Stall[] = [];
  for (let k = 1; k < requests.length; k++) {
    const seconds = (requests[k].at - requests[k - 1].at) / 1000;
    if (seconds >= 1) gaps.push({ afterSeconds: (requests[k - 1].at - fromMs) / 1000, seconds });
  }
  return gaps
    .sort((a, b) => b.seconds - a.seconds)
    .slice(0, count)
    .map((g) => ({ afterSeconds: Number(g.afterSeconds.toFixed(1)), seconds: Number(g.seconds.toFixed(1)) }));
}
