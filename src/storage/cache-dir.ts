/**
 * The cache directory: one folder per run fingerprint, plus `metadata.db` and content-addressed input datasets at the
 * root. Every path the engine writes is named here, so the layout can be read in one place.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { CACHE_DIR_ENV, DEFAULT_CACHE_DIR_NAME } from '../defaults';

/** `CURATOR_CACHE_DIR`, else `$XDG_CACHE_HOME/temporal-curator`, else `~/.cache/temporal-curator`. */
export function defaultCacheDir(): string {
  const configured = process.env[CACHE_DIR_ENV];
  if (configured) return resolve(configured);
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, DEFAULT_CACHE_DIR_NAME);
}

/** A batch number as it appears in file names and object keys: zero-padded so that names sort in batch order. */
export const pad = (batch: number): string => String(batch).padStart(6, '0');

/** Paths inside one cache root. */
export class CacheLayout {
  constructor(readonly root: string) {}

  get metadataDb(): string {
    return join(this.root, 'metadata.db');
  }

  /** The rate limiters' shared send window: every worker process using this cache shares its limits. */
  get limitsDb(): string {
    return join(this.root, 'limits.db');
  }

  /** Content-addressed copies of in-memory datasets handed to `curate()`. */
  inputDataset(sha256: string): string {
    return join(this.root, 'datasets', `${sha256}.jsonl`);
  }

  run(runHash: string): RunLayout {
    return new RunLayout(join(this.root, runHash));
  }
}

/** Paths inside one run folder. */
export class RunLayout {
  constructor(readonly dir: string) {}

  /** The dataset rows normalised to JSON Lines, one request per line, in input order. */
  get input(): string {
    return join(this.dir, 'input.jsonl');
  }

  /** Byte offset of each batch's first line in `input`, plus the row count: written last, so it marks completion. */
  get inputIndex(): string {
    return join(this.dir, 'input.index.json');
  }

  /** The requests of one batch as formatted, images and files by path or by their SHA-256 (never megabytes). */
  requests(batch: number): string {
    return join(this.dir, 'requests', `${pad(batch)}.jsonl`);
  }

  /**
   * Batch mode: one round of one batch as submitted to the provider (its provider batch ids and the attempt of each
   * request), written before and after each creation so a retried or resumed activity never submits twice.
   */
  providerBatch(batch: number, jobKey: string, round: number): string {
    return join(this.dir, 'provider-batches', `${pad(batch)}.${jobKey}.r${round}.json`);
  }

  /** Held by the one activity working on the batch. */
  lease(batch: number): string {
    return join(this.dir, 'responses', `${pad(batch)}.lease`);
  }

  /** Append-only log of every attempt of the batch's requests: the durable per-request state. */
  responses(batch: number): string {
    return join(this.dir, 'responses', `${pad(batch)}.jsonl`);
  }

  /** Output rows of one batch for one parse function. */
  parsed(parseHash: string, batch: number): string {
    return join(this.dir, 'parsed', parseHash, `${pad(batch)}.jsonl`);
  }

  dataset(parseHash: string): string {
    return join(this.dir, `${parseHash}.arrow`);
  }

  failedRequests(parseHash: string): string {
    return join(this.dir, `${parseHash}.failed_requests.jsonl`);
  }

  /** The finished job's manifest; its presence is what makes a rerun a cache hit. */
  result(parseHash: string): string {
    return join(this.dir, `${parseHash}.result.json`);
  }
}
