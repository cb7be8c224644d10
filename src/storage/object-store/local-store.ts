/**
 * The object store as a local directory (the embedded default). Whole-object writes go to a temporary file that is
 * then renamed (replace) or hard-linked (create-if-absent: `link` fails on an existing name, atomically, across
 * processes). Compare-and-swap holds a lock file made with exclusive create for the read-compare-write; a lock left
 * by a process that died is taken over once it is older than {@link STALE_LOCK_MS}.
 */
import { createHash } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  checkKey,
  ObjectExistsError,
  type ObjectBody,
  type ObjectEntry,
  type ObjectKey,
  type ObjectStore,
  type UploadOptions,
  type UploadResult,
} from './object-store';
import { hashingStream } from './hashing-stream';

/** Scratch names next to the objects; listings never show them. */
const SCRATCH = '.~';
const STALE_LOCK_MS = 10_000;
let scratchCounter = 0;

const etagOf = (body: Buffer): string => createHash('sha256').update(body).digest('hex').slice(0, 32);
const isMissing = (err: unknown): boolean => (err as NodeJS.ErrnoException).code === 'ENOENT';

/** An {@link ObjectStore} over a directory: keys are paths relative to it. */
export class LocalObjectStore implements ObjectStore {
  readonly location: string;

  /** @param root The directory (created on the first write). */
  constructor(readonly root: string) {
    this.location = root;
  }

  private path(key: ObjectKey): string {
    checkKey(key);
    if (key.includes(SCRATCH)) throw new Error(`invalid object key '${key}': '${SCRATCH}' is reserved`);
    return join(this.root, ...key.split('/'));
  }

  /** Writes `body` to a fresh scratch file next to `path` and returns the scratch file's name. */
  private async scratch(path: string, body: Buffer): Promise<string> {
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}${SCRATCH}${process.pid}.${++scratchCounter}.tmp`;
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(body);
    } finally {
      await fh.close();
    }
    return tmp;
  }

  async put(key: ObjectKey, body: Buffer | string): Promise<string> {
    const path = this.path(key);
    const bytes = Buffer.from(body);
    await rename(await this.scratch(path, bytes), path);
    return etagOf(bytes);
  }

  async putIfAbsent(key: ObjectKey, body: Buffer | string): Promise<string | undefined> {
    const path = this.path(key);
    const bytes = Buffer.from(body);
    const tmp = await this.scratch(path, bytes);
    try {
      await link(tmp, path);
      return etagOf(bytes);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
      throw err;
    } finally {
      await unlink(tmp);
    }
  }

  async putIfMatch(key: ObjectKey, body: Buffer | string, etag: string): Promise<string | undefined> {
    const path = this.path(key);
    const bytes = Buffer.from(body);
    return this.locked(path, async () => {
      const current = await this.get(key);
      if (current?.etag !== etag) return undefined;
      await rename(await this.scratch(path, bytes), path);
      return etagOf(bytes);
    });
  }

  async deleteIfMatch(key: ObjectKey, etag: string): Promise<boolean> {
    const path = this.path(key);
    return this.locked(path, async () => {
      const current = await this.get(key);
      if (current?.etag !== etag) return false;
      await unlink(path);
      return true;
    });
  }

  /** Runs `fn` holding `path`'s lock file (exclusive create; a stale one is removed). */
  private async locked<T>(path: string, fn: () => Promise<T>): Promise<T> {
    const lock = `${path}${SCRATCH}lock`;
    await mkdir(dirname(path), { recursive: true });
    for (;;) {
      try {
        await (await open(lock, 'wx')).close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const age = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => Infinity
      );
      if (age > STALE_LOCK_MS) await unlink(lock).catch(() => undefined);
      else await delay(5);
    }
    try {
      return await fn();
    } finally {
      await unlink(lock);
    }
  }

  async get(key: ObjectKey): Promise<ObjectBody | undefined> {
    try {
      const body = await readFile(this.path(key));
      return { body, etag: etagOf(body) };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async read(key: ObjectKey): Promise<AsyncIterable<Buffer> | undefined> {
    const path = this.path(key);
    // Opened here so that a missing object is `undefined` now, not an error on the first chunk.
    const fh = await open(path, 'r').catch((err: unknown) => {
      if (isMissing(err)) return undefined;
      throw err;
    });
    return fh?.createReadStream();
  }

  async upload(
    key: ObjectKey,
    source: AsyncIterable<Buffer | string>,
    opts: UploadOptions = {}
  ): Promise<UploadResult> {
    const path = this.path(key);
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}${SCRATCH}${process.pid}.${++scratchCounter}.tmp`;
    const stream = hashingStream(source);
    const fh = await open(tmp, 'wx');
    try {
      try {
        for await (const buf of stream.chunks) await fh.writeFile(buf);
      } finally {
        await fh.close();
      }
      if (opts.ifAbsent) {
        await link(tmp, path).catch((err: NodeJS.ErrnoException) => {
          throw err.code === 'EEXIST' ? new ObjectExistsError(path) : err;
        });
      } else {
        await rename(tmp, path);
      }
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
    return stream.result();
  }

  async *list(prefix: string): AsyncIterable<ObjectEntry> {
    const cut = prefix.lastIndexOf('/');
    const base = cut < 0 ? '' : prefix.slice(0, cut);
    const entries: ObjectEntry[] = [];
    const walk = async (dir: string): Promise<void> => {
      const names = await readdir(dir, { withFileTypes: true }).catch((err: unknown) => {
        if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
        throw err;
      });
      for (const d of names) {
        if (d.name.includes(SCRATCH)) continue;
        const full = join(dir, d.name);
        if (d.isDirectory()) await walk(full);
        else if (d.isFile()) {
          const key = relative(this.root, full).split(sep).join('/');
          if (key.startsWith(prefix)) entries.push({ key, size: (await stat(full)).size });
        }
      }
    };
    await walk(base === '' ? this.root : join(this.root, ...base.split('/')));
    entries.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    yield* entries;
  }

  async delete(key: ObjectKey): Promise<void> {
    await unlink(this.path(key)).catch((err: unknown) => {
      if (!isMissing(err)) throw err;
    });
  }

  async close(): Promise<void> {}
}
