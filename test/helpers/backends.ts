/**
 * What a test sees of the data plane it runs on: the cache directory by default, or the object store and PostgreSQL
 * that `npm run test:backends` (test/on-backends.ts) selects through `CURATOR_STORAGE` and `CURATOR_DATABASE_URL`.
 * Tests read run metadata and stored artifacts through the library's own openers, so that one assertion holds on
 * either.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { openMetadata } from '../../src/cli/inspect';
import { readRecords } from '../../src/storage/jsonl';
import type { AttemptRecord } from '../../src/storage/response-log';
import { readSegments } from '../../src/storage/object-store/segmented-response-log';
import type { MetadataStore } from '../../src/storage/metadata/metadata-store';
import { openObjectStore } from '../../src/storage/object-store/storage-location';

/** Runs `fn` with the metadata store the workers of this process write to (`metadata.db` or PostgreSQL). */
export async function withMetadata<T>(cacheDir: string, fn: (db: MetadataStore) => Promise<T>): Promise<T> {
  const db = await openMetadata(cacheDir);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** Every object of the store `CURATOR_STORAGE` names, with its bytes; none when it is not set. */
export async function* storedObjects(): AsyncGenerator<{ key: string; body: Buffer }> {
  if (!process.env.CURATOR_STORAGE) return;
  const store = await openObjectStore('');
  try {
    for await (const { key } of store.list('')) {
      const object = await store.get(key);
      if (object) yield { key: `${store.location}/${key}`, body: object.body };
    }
  } finally {
    await store.close();
  }
}

/** The bytes of a recorded dataset: a local path, or an `s3://` URI of the store `CURATOR_STORAGE` names. */
export async function datasetBytes(path: string): Promise<Buffer> {
  if (!path.startsWith('s3://')) return readFileSync(path);
  const store = await openObjectStore('');
  try {
    const root = `${store.location}/`;
    const object = path.startsWith(root) ? await store.get(path.slice(root.length)) : undefined;
    if (!object) throw new Error(`${path} is not in the store ${store.location}`);
    return object.body;
  } finally {
    await store.close();
  }
}

/**
 * Every attempt record of a run's response logs: the files under `<runDir>/responses`, or the intact segments of the
 * run in the store `CURATOR_STORAGE` names (the run directory's name is the run hash, as the store's key prefix).
 */
export async function responseRecords(runDir: string): Promise<AttemptRecord[]> {
  const all: AttemptRecord[] = [];
  if (!process.env.CURATOR_STORAGE) {
    const dir = join(runDir, 'responses');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.jsonl'))) {
      for await (const record of readRecords<AttemptRecord>(join(dir, file))) all.push(record);
    }
    return all;
  }
  const store = await openObjectStore('');
  try {
    const batches = new Set<string>();
    const root = `${basename(runDir)}/responses/`;
    for await (const { key } of store.list(root)) batches.add(key.slice(0, key.lastIndexOf('/')));
    for (const prefix of [...batches].sort()) {
      for (const line of (await readSegments(store, prefix)).lines) all.push(JSON.parse(line) as AttemptRecord);
    }
    return all;
  } finally {
    await store.close();
  }
}

/**
 * The environment of a project with a store of its own, as a cache directory of its own is locally: a sub-prefix of
 * `CURATOR_STORAGE` when set (the store is the cache: two projects sharing it share answers, as two sharing a cache
 * directory would). Nothing when it is not set.
 */
export function ownStore(name: string): NodeJS.ProcessEnv {
  return process.env.CURATOR_STORAGE ? { CURATOR_STORAGE: `${process.env.CURATOR_STORAGE}/${name}` } : {};
}
