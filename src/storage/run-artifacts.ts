/**
 * The run artifacts (input copy and index, request shards, parsed shards, provider-batch records, the dataset, the
 * failed requests and the result manifest) between the worker's cache directory and the object store of its data
 * plane. The engine reads and writes them at their cache-directory paths as always; when `CURATOR_STORAGE` names a
 * store, each is also published there under the same path relative to the cache root (its object key), and fetched
 * from there when this worker's disk lacks it. The store is then the record and the disk only a cache: a worker whose
 * disk is wiped, or another machine, finds every artifact in the store. With the embedded default the store *is* the
 * cache directory, and every method here is a no-op (the files stay exactly as they were).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { dirname, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { CacheLayout, RunLayout } from './cache-dir';
import { intactIndex } from './dataset';
import { ensureDir, exists, writeFileAtomic } from './jsonl';
import { ObjectExistsError, type ObjectStore } from './object-store/object-store';

let fetches = 0;

/** The artifacts of every run of one cache directory, mirrored in an object store when it is not the directory. */
export class RunArtifacts {
  /**
   * @param cache The worker's cache directory.
   * @param objects The data plane's object store.
   * @param remote True when `objects` is not the cache directory itself.
   */
  constructor(
    readonly cache: CacheLayout,
    readonly objects: ObjectStore,
    readonly remote: boolean
  ) {}

  /** The object key of a path under the cache root. */
  key(path: string): string {
    const rel = relative(this.cache.root, path);
    if (rel.startsWith('..') || rel === '')
      throw new Error(`${path} is not under the cache directory ${this.cache.root}`);
    return rel.split(sep).join('/');
  }

  /** Where the artifact at `path` is kept for good: its object in the store, or the path itself. */
  uri(path: string): string {
    return this.remote ? `${this.objects.location}/${this.key(path)}` : path;
  }

  /**
   * Streams the local file at `path` to its object (multipart for a large one; never held whole). With `ifAbsent`
   * an object already there is kept (they are written once: the same content by construction) and `false` returned.
   * Returns the SHA-256 of what was uploaded, or undefined when nothing was (kept, or the embedded default).
   */
  async publish(path: string, opts: { ifAbsent?: boolean } = {}): Promise<string | undefined> {
    if (!this.remote) return undefined;
    try {
      return (await this.objects.upload(this.key(path), createReadStream(path), opts)).sha256;
    } catch (err) {
      if (opts.ifAbsent && err instanceof ObjectExistsError) return undefined;
      throw err;
    }
  }

  /**
   * Makes sure the artifact is on this worker's disk: when the file is missing (or `fresh`, which always takes the
   * store's copy), downloads its object to a temporary file and renames it into place. Returns false when it is
   * neither on the disk nor in the store.
   */
  async fetch(path: string, opts: { fresh?: boolean } = {}): Promise<boolean> {
    if (!this.remote) return exists(path);
    if (!opts.fresh && (await exists(path))) return true;
    const body = await this.objects.read(this.key(path));
    if (!body) return !opts.fresh && exists(path);
    await ensureDir(dirname(path));
    const tmp = `${path}.${process.pid}.${++fetches}.fetch`;
    try {
      await pipeline(Readable.from(body), createWriteStream(tmp));
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return true;
  }

  /** True when the artifact exists where it is kept for good (the store, or the disk). */
  async has(path: string): Promise<boolean> {
    if (!this.remote) return exists(path);
    const key = this.key(path);
    for await (const entry of this.objects.list(key)) return entry.key === key;
    return false;
  }

  /** A small artifact's text from where it is kept for good; undefined when absent. */
  async readText(path: string): Promise<string | undefined> {
    if (!this.remote) return (await exists(path)) ? readFile(path, 'utf8') : undefined;
    return (await this.objects.get(this.key(path)))?.body.toString('utf8');
  }

  /** Writes a small artifact on the disk and, when the store is elsewhere, replaces its object (one PUT). */
  async writeText(path: string, text: string): Promise<void> {
    await writeFileAtomic(path, text);
    if (this.remote) await this.objects.put(this.key(path), text);
  }

  /**
   * Makes the run's copy of the dataset (input and index) whole on this disk from the store when it is not: missing,
   * torn or other than the store's. Returns false when the store has no index for the run (nobody planned it there).
   */
  async pullInput(run: RunLayout): Promise<boolean> {
    if (!this.remote) return exists(run.inputIndex);
    const stored = await this.objects.get(this.key(run.inputIndex));
    if (!stored) return false;
    const local = await intactIndex(run);
    if (local.index && JSON.stringify(local.index) === stored.body.toString('utf8')) return true;
    await rm(run.inputIndex, { force: true });
    await this.fetch(run.input, { fresh: true });
    await writeFileAtomic(run.inputIndex, stored.body);
    if (!(await intactIndex(run)).index) {
      throw new Error(`the copy of the dataset in ${this.uri(run.input)} does not match its index: plan the job again`);
    }
    return true;
  }

  /**
   * Publishes the run's copy of the dataset, input first and index last (the index marks the copy whole). Of two
   * planners at once the first index stays; the other then takes the store's copy, so every worker reads one copy.
   */
  async pushInput(run: RunLayout): Promise<void> {
    if (!this.remote) return;
    await this.publish(run.input, { ifAbsent: true });
    if ((await this.publish(run.inputIndex, { ifAbsent: true })) === undefined) await this.pullInput(run);
  }
}
