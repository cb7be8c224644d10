/**
 * The object-store interface the engine's data plane sees: whole immutable objects under one root, written all or
 * nothing, never appended to. A local directory and an S3 bucket implement it (see docs/storage-backends.md); what a
 * guarantee needs from the store is written next to the method that provides it.
 */

/** A key under the store's root: `/`-separated, relative, no `.` or `..` segments (see {@link checkKey}). */
export type ObjectKey = string;

/** One object as a listing reports it. */
export interface ObjectEntry {
  key: ObjectKey;
  size: number;
}

/** An object's bytes and its version tag, for a later compare-and-swap. */
export interface ObjectBody {
  body: Buffer;
  /** Opaque version tag: S3's ETag, or a content hash locally. Pass it to {@link ObjectStore.putIfMatch}. */
  etag: string;
}

/** What a streamed upload wrote. */
export interface UploadResult {
  /** Bytes written. */
  bytes: number;
  /** SHA-256 of those bytes, hex, computed while streaming (the bytes were never held whole). */
  sha256: string;
}

/** Options of {@link ObjectStore.upload}. */
export interface UploadOptions {
  /**
   * Fail with {@link ObjectExistsError} instead of replacing an existing object (S3: `If-None-Match: *` on the
   * completion of the multipart upload).
   * @defaultValue false
   */
  ifAbsent?: boolean;
}

/** An object store under one root. Every write is atomic: a reader sees the whole old object or the whole new one. */
export interface ObjectStore {
  /** Where the root is, for messages: a directory path or `s3://bucket/prefix`. */
  readonly location: string;
  /** Writes the whole object, replacing any; returns its version tag. */
  put(key: ObjectKey, body: Buffer | string): Promise<string>;
  /**
   * Creates the object only if the key is free (S3: `If-None-Match: *`). Returns the version tag, or `undefined`
   * when the key exists (nothing was written). Of many concurrent callers on one key, exactly one gets a tag.
   */
  putIfAbsent(key: ObjectKey, body: Buffer | string): Promise<string | undefined>;
  /**
   * Replaces the object only if it is still at version `etag` (S3: `If-Match`). Returns the new tag, or `undefined`
   * when the object changed or is gone (nothing was written).
   */
  putIfMatch(key: ObjectKey, body: Buffer | string, etag: string): Promise<string | undefined>;
  /** The whole object (small objects: leases, segments, manifests); `undefined` when absent. */
  get(key: ObjectKey): Promise<ObjectBody | undefined>;
  /** Streams an object (large objects: the input copy, the dataset); `undefined` when absent. */
  read(key: ObjectKey): Promise<AsyncIterable<Buffer> | undefined>;
  /**
   * Streams `source` into the object without holding it whole (S3: multipart upload; locally: a temporary file then
   * a rename), hashing it on the way. Nothing is visible under the key until the upload completes.
   */
  upload(key: ObjectKey, source: AsyncIterable<Buffer | string>, opts?: UploadOptions): Promise<UploadResult>;
  /** Every object whose key starts with `prefix`, in key order (byte order, as S3's ListObjectsV2). */
  list(prefix: string): AsyncIterable<ObjectEntry>;
  /** Deletes the object; a missing object is not an error. */
  delete(key: ObjectKey): Promise<void>;
  /** Deletes the object only if it is still at version `etag`; false when it changed (it is left alone) or is gone. */
  deleteIfMatch(key: ObjectKey, etag: string): Promise<boolean>;
  /** Releases connections. */
  close(): Promise<void>;
}

/** {@link ObjectStore.upload} with `ifAbsent` found the key taken. */
export class ObjectExistsError extends Error {
  constructor(readonly location: string) {
    super(`${location} already exists; it is written once and never replaced`);
    this.name = 'ObjectExistsError';
  }
}

/** Refuses keys that could escape the root or that S3 and a directory would read differently. */
export function checkKey(key: string): ObjectKey {
  if (key === '' || key.startsWith('/') || key.endsWith('/') || key.includes('\\')) {
    throw new Error(`invalid object key '${key}': relative, '/'-separated, not ending in '/'`);
  }
  for (const part of key.split('/')) {
    if (part === '' || part === '.' || part === '..')
      throw new Error(`invalid object key '${key}': empty, . or .. part`);
  }
  return key;
}
