/**
 * Input files people have, besides JSON Lines: Arrow IPC (file or stream format), Parquet, and Hugging Face
 * `datasets` folders (a `save_to_disk` folder, or a cache folder of `load_dataset`). This module finds out which a
 * path holds, which files make it up, what its content hash is, and streams its rows as plain JSON values.
 *
 * The format is told by the file's magic bytes first (`PAR1`, `ARROW1`, an IPC stream's continuation marker), then
 * by its extension; a folder by its layout (`state.json` of `save_to_disk`, `dataset_info.json` of a cache folder).
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { readArrowRows, sha256File, type JsonRow } from './arrow';
import { DatasetError } from '../errors';
import { readParquetRows } from './parquet-input';

/** The input formats: how a `DatasetRef` of a file or folder is read. */
export type InputKind = 'jsonl' | 'arrow' | 'parquet' | 'hf-dataset';

const ARROW_EXTENSIONS = new Set(['.arrow', '.ipc', '.feather']);
const PARQUET_EXTENSIONS = new Set(['.parquet', '.pq']);

/** The format of the file or folder at `path`; `DatasetError` when it is missing or a folder of something else. */
export async function detectInputKind(path: string): Promise<InputKind> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) throw new DatasetError(`dataset not found: ${path}`);
  if (info.isDirectory()) {
    await hfDataFiles(path); // throws unless the folder is a dataset's
    return 'hf-dataset';
  }
  const head = Buffer.alloc(8);
  const handle = await open(path, 'r');
  try {
    await handle.read(head, 0, 8, 0);
  } finally {
    await handle.close();
  }
  if (head.toString('latin1', 0, 4) === 'PAR1') return 'parquet';
  if (head.toString('latin1', 0, 6) === 'ARROW1' || head.readUInt32LE(0) === 0xffffffff) return 'arrow';
  const ext = extname(path).toLowerCase();
  if (PARQUET_EXTENSIONS.has(ext)) return 'parquet';
  if (ARROW_EXTENSIONS.has(ext)) return 'arrow';
  return 'jsonl';
}

/**
 * The Arrow files of a Hugging Face `datasets` folder, in row order: those `state.json` lists (a `save_to_disk`
 * folder), else the one split's `.arrow` files of a cache folder. A `DatasetDict` folder or a cache folder holding
 * several splits is refused with the folders or files to choose from.
 */
export async function hfDataFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch((err: Error) => {
    throw new DatasetError(`cannot read the dataset folder ${dir}: ${err.message}`);
  });
  if (names.includes('dataset_dict.json')) {
    const splits = (await Promise.all(names.map(async (n) => ((await stat(join(dir, n))).isDirectory() ? n : ''))))
      .filter((n) => n !== '')
      .sort();
    throw new DatasetError(
      `${dir} is a Hugging Face DatasetDict; give one split's folder instead (${splits.map((s) => join(dir, s)).join(', ')})`
    );
  }
  if (names.includes('state.json')) {
    let files: unknown;
    try {
      files = (JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as { _data_files?: unknown })._data_files;
    } catch (err) {
      throw new DatasetError(`${join(dir, 'state.json')} is not valid JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(files) || files.some((f) => typeof (f as { filename?: unknown })?.filename !== 'string')) {
      throw new DatasetError(`${join(dir, 'state.json')} does not list the dataset's files (_data_files)`);
    }
    return files.map((f) => join(dir, basename((f as { filename: string }).filename)));
  }
  // A cache folder: `<builder>-<split>.arrow` or `<builder>-<split>-00000-of-00002.arrow` per split; `cache-*.arrow`
  // files are results of `map`/`filter`, not the dataset.
  const splits = new Map<string, string[]>();
  for (const name of names.filter((n) => n.endsWith('.arrow') && !n.startsWith('cache-')).sort()) {
    const split = /-([^-]+?)(?:-\d{5}-of-\d{5})?\.arrow$/.exec(name)?.[1] ?? name;
    splits.set(split, [...(splits.get(split) ?? []), join(dir, name)]);
  }
  if (splits.size === 0 || !names.includes('dataset_info.json')) {
    throw new DatasetError(
      `${dir} is a folder but not a Hugging Face datasets folder (no state.json of save_to_disk, no dataset_info.json ` +
        'and .arrow files of a cache folder)'
    );
  }
  if (splits.size > 1) {
    throw new DatasetError(
      `${dir} holds several splits (${[...splits.keys()].join(', ')}); give one split's .arrow file, or save the split ` +
        'with save_to_disk and give that folder'
    );
  }
  return [...splits.values()][0] as string[];
}

/** The files whose bytes are the dataset: the file itself, or a dataset folder's Arrow files. */
async function contentFiles(kind: InputKind, path: string): Promise<string[]> {
  return kind === 'hf-dataset' ? hfDataFiles(path) : [path];
}

/**
 * The content hash of an input: of a file's bytes (as for every input so far), or of a folder's Arrow files in
 * order, so renaming the folder or rewriting its `state.json` alone does not make another dataset.
 */
export async function hashInput(kind: InputKind, path: string): Promise<string> {
  if (kind !== 'hf-dataset') return sha256File(path);
  const hash = createHash('sha256');
  for (const file of await contentFiles(kind, path)) hash.update(`${basename(file)}\u0000${await sha256File(file)}\n`);
  return hash.digest('hex');
}

/** Size and modification time of an input (summed and latest over a folder's files): a cheap change check. */
export async function statInput(kind: InputKind, path: string): Promise<{ size: number; mtimeMs: number }> {
  let size = 0;
  let mtimeMs = 0;
  for (const file of await contentFiles(kind, path)) {
    const info = await stat(file);
    size += info.size;
    mtimeMs = Math.max(mtimeMs, info.mtimeMs);
  }
  return { size, mtimeMs };
}

const FORMAT_NAMES: Record<Exclude<InputKind, 'jsonl'>, string> = {
  arrow: 'an Arrow IPC file or stream',
  parquet: 'a Parquet file',
  'hf-dataset': 'a Hugging Face datasets Arrow file',
};

/**
 * Streams the rows of an Arrow, Parquet or `datasets` input as plain JSON values (see {@link toJsonValue}), one
 * record batch in memory at a time. A file that cannot be read (not that format, corrupt, cut short) is a
 * `DatasetError` naming the file.
 */
export async function* readColumnarRows(kind: Exclude<InputKind, 'jsonl'>, path: string): AsyncGenerator<JsonRow> {
  for (const file of await contentFiles(kind, path)) {
    const rows = kind === 'parquet' ? readParquetRows(file) : readArrowRows(file);
    try {
      if (kind !== 'parquet') await checkArrowEnd(file);
      for await (const row of rows) yield toJsonValue(row) as JsonRow;
    } catch (err) {
      if (err instanceof DatasetError) throw err;
      // No retry reads a file that is not of its format: the user must be told at once which file it is.
      throw new DatasetError(`${file} cannot be read as ${FORMAT_NAMES[kind]}: ${errorText(err)}`);
    }
  }
}

/**
 * Refuses an Arrow file cut short at a record batch boundary, which a reader would take for a shorter dataset: a
 * stream ends with its end-of-stream marker (four zero bytes, after the continuation marker since format 0.15), a
 * file-format file with `ARROW1`.
 */
async function checkArrowEnd(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const head = Buffer.alloc(Math.min(6, size));
    const tail = Buffer.alloc(Math.min(8, size));
    await handle.read(head, 0, head.length, 0);
    await handle.read(tail, 0, tail.length, size - tail.length);
    const fileFormat = head.toString('latin1') === 'ARROW1';
    const continued = head.length >= 4 && head.readUInt32LE(0) === 0xffffffff;
    let ended: boolean;
    if (fileFormat) ended = tail.toString('latin1', tail.length - 6) === 'ARROW1';
    else if (continued) ended = tail.length === 8 && tail.readUInt32LE(0) === 0xffffffff && tail.readUInt32LE(4) === 0;
    else ended = tail.length >= 4 && tail.readUInt32LE(tail.length - 4) === 0;
    if (!ended) {
      throw new Error(
        `it ends without the ${fileFormat ? 'ARROW1 footer' : 'end-of-stream marker'} (the file is truncated or not Arrow)`
      );
    }
  } finally {
    await handle.close();
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A column value as JSON holds it, as JSON Lines input gets it (see `input-json.ts`): an integer beyond 2^53 becomes
 * its exact decimal string, bytes become base64 text, a date its ISO string, and Arrow's vectors, maps and typed
 * arrays plain arrays and objects.
 */
export function toJsonValue(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'bigint':
      return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(value)
        : value.toString();
    case 'object':
      break;
    default:
      return value;
  }
  if (value instanceof Uint8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (value instanceof Date) return value.toISOString();
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<unknown>, toJsonValue);
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), toJsonValue(v)]));
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    // Arrow's vectors and row proxies: iterable, or with a toJSON of their own.
    const withJson = value as { toJSON?: () => unknown; [Symbol.iterator]?: () => Iterator<unknown> };
    if (typeof withJson[Symbol.iterator] === 'function') return Array.from(withJson as Iterable<unknown>, toJsonValue);
    if (typeof withJson.toJSON === 'function') return toJsonValue(withJson.toJSON());
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (key === '__proto__') {
      Object.defineProperty(out, key, {
        value: toJsonValue(item),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else out[key] = toJsonValue(item);
  }
  return out;
}
