/**
 * The chaos run's checks on a run kept in the object store: a local copy of an object (the dataset, the failed
 * requests), and every JSON Lines object under the run read whole, so that a torn or partial object would show.
 */
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ObjectStore } from '../../src/storage/object-store/object-store';
import { openObjectStore } from '../../src/storage/object-store/storage-location';

/** The bucket's store (root = the bucket) and the key of `url` (`s3://bucket/key`) in it. */
async function storeOf(url: string, env: Record<string, string>): Promise<{ store: ObjectStore; key: string }> {
  const { hostname: bucket, pathname } = new URL(url);
  const store = await openObjectStore(tmpdir(), { ...env, CURATOR_STORAGE: `s3://${bucket}` });
  return { store, key: pathname.replace(/^\/+/, '') };
}

/** Copies the object at `url` to `dest` (streamed) and returns `dest`. */
export async function copyFromStore(url: string, dest: string, env: Record<string, string>): Promise<string> {
  const { store, key } = await storeOf(url, env);
  try {
    const body = await store.read(key);
    if (!body) throw new Error(`${url} is not in the store`);
    await pipeline(Readable.from(body), createWriteStream(dest));
    return dest;
  } finally {
    await store.close();
  }
}

export interface StoreIntegrity {
  objects: number;
  lines: number;
  /** Lines that do not parse, and objects that do not end with a newline (cut short). */
  badLines: { file: string; line: number; text: string }[];
}

/** Reads every `.jsonl` object under the run's prefix: each line must parse and each object end with a newline. */
export async function checkStoreObjects(runUrl: string, env: Record<string, string>): Promise<StoreIntegrity> {
  const { store, key } = await storeOf(runUrl, env);
  const result: StoreIntegrity = { objects: 0, lines: 0, badLines: [] };
  try {
    for await (const entry of store.list(key.endsWith('/') ? key : `${key}/`)) {
      if (!entry.key.endsWith('.jsonl')) continue;
      const object = await store.get(entry.key);
      if (!object) continue; // compacted away since the listing
      result.objects++;
      const text = object.body.toString('utf8');
      if (text.length > 0 && !text.endsWith('\n')) {
        result.badLines.push({ file: entry.key, line: -1, text: `cut short: …${text.slice(-60)}` });
      }
      const lines = text.split('\n');
      for (let k = 0; k < lines.length; k++) {
        if (lines[k] === '') continue;
        result.lines++;
        try {
          JSON.parse(lines[k]);
        } catch {
          result.badLines.push({ file: entry.key, line: k + 1, text: lines[k].slice(0, 120) });
        }
      }
    }
    return result;
  } finally {
    await store.close();
  }
}
