/**
 * Input datasets. Whatever the source (JSON Lines, Arrow, an earlier run's output), the plan step copies the rows
 * once into the run folder as JSON Lines with a byte-offset index per batch, so every batch activity reads just its
 * own rows, in constant memory, however large the dataset.
 */
import { createWriteStream } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { DamagedRunFileError, DatasetError } from '../errors';
import type { DatasetRef } from '../types';
import { readColumnarRows, hashInput, statInput } from './input-sources';
import type { CacheLayout, RunLayout } from './cache-dir';
import { ensureDir, exists, readJsonLines, writeFileAtomic } from './jsonl';
import { sha256 } from './fingerprint';
import { parseInputLine } from './input-json';
import type { Row } from '../curator';
import { sha256File } from './arrow';

/** Marks an input line that is not a JSON object; the request for it fails with this message, no other row is lost. */
export const INVALID_ROW_KEY = '__curator_invalid_row';

export interface InputIndex {
  rows: number;
  batchSize: number;
  /** Byte offset of the first line of each batch. */
  offsets: number[];
  datasetHash: string;
  /** SHA-256 of the run's `input.jsonl` as written: a torn or edited copy is detected and rebuilt. */
  inputSha256?: string;
  /** Where the rows came from, to rebuild a damaged copy from. */
  source?: DatasetRef;
  /** The source file's size and modification time when it was read: a change means the job is superseded. */
  sourceStat?: { size: number; mtimeMs: number };
  /** The digest of the local images and files the run's prompts read, part of its fingerprint (when there are any). */
  media?: string;
}

function describe(ref: DatasetRef): string {
  return ref.kind === 'run' ? `run ${ref.runHash}` : `${ref.kind} file ${ref.path}`;
}

/** The dataset's content hash: of the file's bytes, or the recorded hash of an earlier run's output. */
export async function hashDataset(ref: DatasetRef, cache: CacheLayout): Promise<string> {
  if (ref.kind === 'run') {
    const resultPath = cache.run(ref.runHash).result(ref.parseHash);
    if (!(await exists(resultPath))) {
      throw new DatasetError(`${describe(ref)} has no finished output for parse ${ref.parseHash} (${resultPath})`);
    }
    const result = JSON.parse(await readFile(resultPath, 'utf8')) as { datasetSha256: string };
    return result.datasetSha256;
  }
  if (!(await exists(ref.path))) throw new DatasetError(`dataset not found: ${describe(ref)}`);
  return hashInput(ref.kind, ref.path);
}

/** The rows of a dataset as its source has them, streamed (a line that is not a JSON object as an invalid row). */
export async function* sourceRows(ref: DatasetRef, cache: CacheLayout): AsyncGenerator<Row> {
  if (ref.kind === 'jsonl') {
    for await (const entry of readJsonLines(ref.path, 0, parseInputLine)) {
      const value = entry.value;
      if (entry.error !== undefined) {
        yield {
          [INVALID_ROW_KEY]: `line ${entry.line} of ${ref.path} is not valid JSON (${entry.error}): ${entry.text}`,
        };
      } else if (!value || typeof value !== 'object' || Array.isArray(value)) {
        yield {
          [INVALID_ROW_KEY]: `line ${entry.line} of ${ref.path} is not a JSON object: ${JSON.stringify(value).slice(0, 200)}`,
        };
      } else {
        yield value as Row;
      }
    }
    return;
  }
  if (ref.kind === 'run') yield* readColumnarRows('arrow', cache.run(ref.runHash).dataset(ref.parseHash));
  else yield* readColumnarRows(ref.kind, ref.path);
}

let copies = 0;

/** Copies written before their hash was recorded: at least a torn last line is seen. */
async function endsWithNewline(path: string): Promise<boolean> {
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      if (size === 0) return true;
      const last = Buffer.alloc(1);
      await fh.read(last, 0, 1, size - 1);
      return last[0] === 0x0a;
    } finally {
      await fh.close();
    }
  } catch {
    return false;
  }
}

/** The run's copy of the dataset as it was written, or undefined when it is missing, torn or changed since. */
export async function intactIndex(run: RunLayout): Promise<{ index?: InputIndex; batchSize?: number }> {
  let index: InputIndex;
  try {
    index = JSON.parse(await readFile(run.inputIndex, 'utf8')) as InputIndex;
    if (!Array.isArray(index.offsets) || typeof index.rows !== 'number') return {};
  } catch {
    return {};
  }
  const intact =
    index.inputSha256 !== undefined
      ? (await exists(run.input)) && (await sha256File(run.input)) === index.inputSha256
      : await endsWithNewline(run.input);
  if (!intact) return { batchSize: index.batchSize };
  return { index, batchSize: index.batchSize };
}

/**
 * Copies the dataset into the run folder unless an earlier plan already did. The index is written last, so its
 * presence means the copy is whole; the batch size of the first plan stays the run's batch size.
 */
export async function materializeInput(
  ref: DatasetRef,
  cache: CacheLayout,
  run: RunLayout,
  datasetHash: string,
  batchSize: number,
  media?: string
): Promise<InputIndex> {
  const found = await intactIndex(run);
  if (found.index) return found.index;
  // A torn or edited copy is rebuilt from the source (whose hash is the run's): the same rows in the same batches,
  // so the answers already logged per batch still match their rows.
  if (found.batchSize !== undefined) batchSize = found.batchSize;
  await rm(run.inputIndex, { force: true });
  await ensureDir(run.dir);
  const tmp = `${run.input}.${process.pid}.${++copies}.tmp`;
  const out = createWriteStream(tmp);
  const offsets: number[] = [];
  let bytes = 0;
  let rows = 0;
  for await (const row of sourceRows(ref, cache)) {
    if (rows % batchSize === 0) offsets.push(bytes);
    const line = JSON.stringify(row) + '\n';
    bytes += Buffer.byteLength(line);
    rows++;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  await rename(tmp, run.input);
  const index: InputIndex = {
    rows,
    batchSize,
    offsets,
    datasetHash,
    inputSha256: await sha256File(run.input),
    source: ref,
    ...(ref.kind === 'run' ? {} : { sourceStat: await statInput(ref.kind, ref.path) }),
    ...(media !== undefined ? { media } : {}),
  };
  await writeFileAtomic(run.inputIndex, JSON.stringify(index));
  return index;
}

/**
 * A job whose source file changed since it was planned is superseded (a new start over the new content is another
 * job): a worker must not go on paying for it. A stat is cheap; the file is hashed only when its size or time moved.
 */
async function checkSourceUnchanged(cache: CacheLayout, index: InputIndex, elsewhere: boolean): Promise<void> {
  const source = index.source;
  if (!source || source.kind === 'run' || index.sourceStat === undefined) return;
  const now = await statInput(source.kind, source.path).catch(() => undefined);
  // Planned on another machine: its source is not here to compare with, and the store's copy is the run's rows.
  if (!now && elsewhere) return;
  if (now && now.size === index.sourceStat.size && now.mtimeMs === index.sourceStat.mtimeMs) return;
  if (now && (await hashDataset(source, cache)) === index.datasetHash) return;
  throw new DatasetError(
    `the dataset ${source.path} ${now ? 'changed' : 'is gone'} since this job was planned, so the job is superseded ` +
      'and stops here (its answers stay in its cache). Start the job again to run the current content.'
  );
}

/**
 * Checks the run's copy of the dataset against its recorded hash, and rebuilds a torn or edited copy from its source
 * when the source still has the run's content; `DatasetError` when it has not. `elsewhere`: the run may have been
 * planned on another machine (an object store holds the copy), so a source file missing here is not a change.
 */
export async function repairInput(cache: CacheLayout, run: RunLayout, elsewhere = false): Promise<void> {
  const found = await intactIndex(run);
  if (found.index) {
    await checkSourceUnchanged(cache, found.index, elsewhere);
    return;
  }
  const recorded = JSON.parse(await readFile(run.inputIndex, 'utf8').catch(() => 'null')) as InputIndex | null;
  if (!recorded?.source) {
    throw new DamagedRunFileError(
      `the run's copy of the dataset ${run.input} is damaged and its source is not recorded: run the job again to ` +
        'rebuild it from the dataset.'
    );
  }
  if ((await hashDataset(recorded.source, cache)) !== recorded.datasetHash) {
    throw new DatasetError(
      `the run's copy of the dataset ${run.input} is damaged and its source ${describe(recorded.source)} has ` +
        'changed since the job was planned: run the job again, as a new job over the new content.'
    );
  }
  await materializeInput(recorded.source, cache, run, recorded.datasetHash, recorded.batchSize, recorded.media);
}

export async function readInputIndex(run: RunLayout): Promise<InputIndex> {
  return JSON.parse(await readFile(run.inputIndex, 'utf8')) as InputIndex;
}

/** The rows of one batch, with their absolute indices. */
export async function readShardRows(run: RunLayout, index: InputIndex, batch: number): Promise<Row[]> {
  const start = batch * index.batchSize;
  const count = Math.min(index.batchSize, index.rows - start);
  const rows: Row[] = [];
  if (count <= 0) return rows;
  for await (const entry of readJsonLines<Row>(run.input, index.offsets[batch])) {
    if (entry.value === undefined) {
      throw new DamagedRunFileError(
        `the run's copy of the dataset ${run.input} is damaged at line ${entry.line} of batch ${batch} (it changed ` +
          'after the job was planned). Run the job again: the copy is checked and rebuilt from the dataset.'
      );
    }
    rows.push(entry.value);
    if (rows.length === count) break;
  }
  return rows;
}

/** Writes rows given in memory as a content-addressed JSON Lines file; returns its path. */
export async function storeRows(rows: readonly unknown[], cache: CacheLayout): Promise<string> {
  const lines = rows.map((row, i) => {
    if (typeof row === 'string') return JSON.stringify({ prompt: row });
    if (!row || typeof row !== 'object' || Array.isArray(row)) {
      throw new DatasetError(`dataset row ${i} is not an object or a string: ${JSON.stringify(row)?.slice(0, 200)}`);
    }
    return JSON.stringify(row);
  });
  const text = lines.length ? lines.join('\n') + '\n' : '';
  const path = cache.inputDataset(sha256(text));
  if (!(await exists(path))) await writeFileAtomic(path, text);
  return path;
}
