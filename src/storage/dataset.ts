/**
 * Input datasets. Whatever the source (JSON Lines, Arrow, an earlier run's output), the plan step copies the rows
 * once into the run folder as JSON Lines with a byte-offset index per batch, so every batch activity reads just its
 * own rows, in constant memory, however large the dataset.
 */
import { createWriteStream } from 'node:fs';
import { readFile, rename } from 'node:fs/promises';
import { once } from 'node:events';
import type { DatasetRef } from '../manifests';
import { readArrowRows, sha256File } from './arrow';
import type { CacheLayout, RunLayout } from './cache-dir';
import { ensureDir, exists, readJsonLines, writeFileAtomic } from './jsonl';
import { sha256 } from './fingerprint';
import type { Row } from '../curator';

/** Marks an input line that is not a JSON object; the request for it fails with this message, no other row is lost. */
export const INVALID_ROW_KEY = '__curator_invalid_row';

export interface InputIndex {
  rows: number;
  batchSize: number;
  /** Byte offset of the first line of each batch. */
  offsets: number[];
  datasetHash: string;
}

export class DatasetError extends Error {
  override name = 'DatasetError';
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
  return sha256File(ref.path);
}

async function* sourceRows(ref: DatasetRef, cache: CacheLayout): AsyncGenerator<Row> {
  if (ref.kind === 'jsonl') {
    for await (const entry of readJsonLines(ref.path)) {
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
  const path = ref.kind === 'arrow' ? ref.path : cache.run(ref.runHash).dataset(ref.parseHash);
  yield* readArrowRows(path);
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
  batchSize: number
): Promise<InputIndex> {
  if (await exists(run.inputIndex)) {
    return JSON.parse(await readFile(run.inputIndex, 'utf8')) as InputIndex;
  }
  await ensureDir(run.dir);
  const tmp = `${run.input}.${process.pid}.tmp`;
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
  const index: InputIndex = { rows, batchSize, offsets, datasetHash };
  await writeFileAtomic(run.inputIndex, JSON.stringify(index));
  return index;
}

export async function readInputIndex(run: RunLayout): Promise<InputIndex> {
  return JSON.parse(await readFile(run.inputIndex, 'utf8')) as InputIndex;
}

/** The rows of one batch, with their absolute indices. */
export async function readBatchRows(run: RunLayout, index: InputIndex, batch: number): Promise<Row[]> {
  const start = batch * index.batchSize;
  const count = Math.min(index.batchSize, index.rows - start);
  const rows: Row[] = [];
  if (count <= 0) return rows;
  for await (const entry of readJsonLines<Row>(run.input, index.offsets[batch])) {
    rows.push(entry.value as Row);
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
