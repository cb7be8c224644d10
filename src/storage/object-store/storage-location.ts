/**
 * `CURATOR_STORAGE`: where a worker keeps run artifacts. Unset, the local cache directory (the embedded default);
 * `s3://bucket/prefix`, an S3 bucket reached through the standard AWS variables.
 */
import { randomBytes } from 'node:crypto';
import { LocalObjectStore } from './local-store';
import type { ObjectStore } from './object-store';

/** A parsed `CURATOR_STORAGE` value. */
export type StorageLocation = { kind: 'local'; dir: string } | { kind: 's3'; bucket: string; prefix: string };

/**
 * Parses `s3://bucket[/prefix]` or a directory path (`file://` URLs too). The prefix loses surrounding slashes.
 * Throws, naming the variable, on a URL of another scheme or an S3 URL without a bucket.
 */
export function parseStorageLocation(value: string, variable = 'CURATOR_STORAGE'): StorageLocation {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    if (value.trim() === '') throw new Error(`${variable} is empty`);
    return { kind: 'local', dir: value };
  }
  if (scheme === 'file') return { kind: 'local', dir: decodeURIComponent(new URL(value).pathname) };
  if (scheme !== 's3') throw new Error(`${variable}=${value}: expected s3://bucket/prefix or a directory`);
  const rest = value.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new Error(`${variable}=${value}: '${bucket}' is not a valid S3 bucket name`);
  }
  if (prefix.split('/').some((p) => p === '.' || p === '..' || (p === '' && prefix !== ''))) {
    throw new Error(`${variable}=${value}: the prefix may not hold empty, . or .. parts`);
  }
  return { kind: 's3', bucket, prefix };
}

/**
 * Refuses a store that ignores `If-None-Match: *` (every guarantee of the segments and the lease leans on it): a
 * second create of a scratch key must find it taken. Three small requests, once per process.
 */
export async function probeConditionalWrites(store: ObjectStore): Promise<void> {
  const key = `_probe/${process.pid}.${randomBytes(6).toString('hex')}`;
  try {
    const first = await store.putIfAbsent(key, 'first');
    const second = await store.putIfAbsent(key, 'second');
    if (first === undefined || second !== undefined) {
      throw new Error(
        `${store.location} does not honour If-None-Match: * (a second create of ${key} was not refused); ` +
          'the response log and the leases need a store that does (docs/storage-backends.md)'
      );
    }
  } finally {
    await store.delete(key).catch(() => undefined);
  }
}

/**
 * The object store a worker uses: `CURATOR_STORAGE` from `env` when set (checked with
 * {@link probeConditionalWrites}), else `defaultDir` (the cache directory's run root).
 */
export async function openObjectStore(defaultDir: string, env: NodeJS.ProcessEnv = process.env): Promise<ObjectStore> {
  const location: StorageLocation = env.CURATOR_STORAGE
    ? parseStorageLocation(env.CURATOR_STORAGE)
    : { kind: 'local', dir: defaultDir };
  if (location.kind === 'local') return new LocalObjectStore(location.dir);
  // Loaded only when chosen: the embedded default never pays for the AWS SDK.
  // require, not import(): the CLI runs the sources through tsx's CommonJS hook, which leaves import() to Node.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { S3ObjectStore, s3ClientFromEnv } = require('./s3-store') as typeof import('./s3-store');
  const store = new S3ObjectStore({ bucket: location.bucket, prefix: location.prefix, client: s3ClientFromEnv(env) });
  try {
    await probeConditionalWrites(store);
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
