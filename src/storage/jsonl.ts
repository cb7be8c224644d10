/**
 * JSON Lines files, written so that a crash at any moment leaves every complete line readable: appends go through one
 * file descriptor at a time, whole files are written to a temporary name and renamed, and a torn last line (a crash
 * mid-write) is cut off before the next append instead of being read as data.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, stat, truncate, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { stripBom } from './input-json';

export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
}

let tmpCounter = 0;

/** Writes a whole file under a temporary name, then renames it: readers see the old file or the new one. */
export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  await ensureDir(dirname(path));
  const tmp = `${path}.${process.pid}.${++tmpCounter}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Cuts a partial last line left by a crash. Returns how many bytes were removed. */
export async function repairTornTail(path: string): Promise<number> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return 0;
  }
  if (size === 0) return 0;
  let end = 0;
  const fh = await open(path, 'r');
  try {
    // Read backwards in chunks until the last newline: a whole file is never loaded for a long last line.
    const chunk = Math.min(size, 1 << 20);
    for (let pos = size; pos > 0;) {
      const from = Math.max(0, pos - chunk);
      const buf = Buffer.alloc(pos - from);
      await fh.read(buf, 0, buf.length, from);
      if (pos === size && buf[buf.length - 1] === 0x0a) return 0;
      const nl = buf.lastIndexOf(0x0a);
      if (nl >= 0) {
        end = from + nl + 1;
        break;
      }
      pos = from;
    }
  } finally {
    await fh.close();
  }
  await truncate(path, end);
  return size - end;
}

export interface JsonLine<T> {
  /** 1-based line number in the file. */
  line: number;
  value?: T;
  /** Set when the line is not valid JSON; `value` is then absent. */
  error?: string;
  /** The raw text, kept only for invalid lines so errors can quote it. */
  text?: string;
}

/**
 * Streams the lines of a file with their parse results; a missing file yields nothing. `parse` reads each line
 * (default `JSON.parse`; user datasets use `parseInputLine`).
 */
export async function* readJsonLines<T = unknown>(
  path: string,
  start = 0,
  parse: (text: string) => unknown = JSON.parse
): AsyncGenerator<JsonLine<T>> {
  if (!(await exists(path))) return;
  const input = createReadStream(path, { encoding: 'utf8', start });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() === '') continue;
    try {
      yield { line, value: parse(line === 1 && start === 0 ? stripBom(text) : text) as T };
    } catch (err) {
      yield { line, error: (err as Error).message, text: text.length > 200 ? text.slice(0, 200) + '…' : text };
    }
  }
}

/**
 * Reads a file the engine itself appends to. Only a torn last line can be invalid there (a crash mid-append);
 * such a line is skipped, never read as data.
 */
export async function* readRecords<T>(path: string): AsyncGenerator<T> {
  for await (const entry of readJsonLines<T>(path)) {
    if (entry.value !== undefined) yield entry.value;
  }
}
