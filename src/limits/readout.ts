/**
 * What the workers of this machine record in `limits.db`, read for progress displays: limits learned from headers and
 * the load of a bucket. Read-only and best effort: a missing, busy or foreign file reads as nothing.
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import type { LimiterLoad } from './rate-limiter';
import { readLoad } from './shared-window';
import type { Limits } from './window';

function fromLimitsDb<T>(path: string, read: (db: Database.Database) => T | undefined): T | undefined {
  if (!existsSync(path)) return undefined;
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    return read(db);
  } catch {
    // Progress is best effort: a busy or foreign file must not stop the display.
    return undefined;
  } finally {
    db?.close();
  }
}

/** The limits learned from the provider's headers for `bucket`, from the `limits.db` at `path`. */
export function readLearnedLimits(path: string, bucket: string): Limits | undefined {
  return fromLimitsDb(path, (db) => {
    const row = db.prepare('SELECT learned FROM buckets WHERE bucket = ?').get(bucket) as
      { learned: string | null } | undefined;
    return row?.learned ? (JSON.parse(row.learned) as Limits) : undefined;
  });
}

/** Requests in flight and the concurrency target of `bucket` over the processes that reported lately. */
export function readWorkerLoad(path: string, bucket: string, now: number): LimiterLoad | undefined {
  return fromLimitsDb(path, (db) => readLoad(db, bucket, now));
}
