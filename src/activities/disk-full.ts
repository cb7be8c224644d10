/**
 * A full disk under the cache (response logs, shards, the limiter's window, metadata.db) stops every activity alike
 * and no retry fixes it: one clear, non-retryable failure names the full place and what to do. What was written
 * before stays (the logs cut a torn tail at the next append), so the rerun after freeing space goes on from there.
 */
import { readlinkSync, realpathSync, statfsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CacheLayout } from '../storage/cache-dir';
import { convertFailures, DiskFullError } from '../errors';

/** Below this much free space a file system counts as the full one. */
const NEARLY_FULL_BYTES = 1024 * 1024;

/** Whether `err` is the file system or SQLite saying the disk (or the quota) is full. */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  // SQLite reports a full disk while growing a WAL database's shared-memory file as an I/O error of that file.
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL' || code === 'SQLITE_IOERR_SHMSIZE') return true;
  return /database or disk is full|ENOSPC|no space left on device/i.test(String((err as Error)?.message ?? ''));
}

/** The directory a file really lives in: databases may be symlinked onto a disk of their own. */
function realDir(path: string): string {
  try {
    return dirname(realpathSync(path));
  } catch {
    try {
      return dirname(resolve(dirname(path), readlinkSync(path)));
    } catch {
      return dirname(path);
    }
  }
}

/** Whether the file system holding `dir` has (nearly) no space left; false when it cannot be looked at. */
export function nearlyFull(dir: string): boolean {
  try {
    const fs = statfsSync(dir);
    return fs.bavail * fs.bsize < NEARLY_FULL_BYTES;
  } catch {
    return false;
  }
}

/**
 * The places under `cacheRoot` whose disk is (nearly) full, as people name them: the cache directory, or one of its
 * databases when it lives on a disk of its own. Empty when none looks full (a quota, or space freed meanwhile).
 */
export function fullPlaces(cacheRoot: string): string[] {
  const cache = new CacheLayout(cacheRoot);
  const places: [string, string][] = [
    [`the cache directory ${cacheRoot}`, realDir(resolve(cacheRoot, 'x'))],
    [`the rate limiter's window ${cache.limitsDb}`, realDir(cache.limitsDb)],
    [`the job index ${cache.metadataDb}`, realDir(cache.metadataDb)],
  ];
  // Places on one file system are named once, by the first (the cache directory).
  const devices = new Set<number>();
  const full: string[] = [];
  for (const [name, dir] of places) {
    try {
      const device = statSync(dir).dev;
      if (devices.has(device)) continue;
      devices.add(device);
      if (nearlyFull(dir)) full.push(name);
    } catch {
      // Not created yet, or gone: it cannot be what is full.
    }
  }
  return full;
}

/** The one line a user reads when the disk under the cache is full. */
export function diskFullMessage(cacheRoot: string, err: unknown): string {
  const places = fullPlaces(cacheRoot);
  const where = places.length > 0 ? places.join(' and ') : `the cache directory ${cacheRoot}`;
  return (
    `the disk holding ${where} is full (${(err as Error).message}). Free space there, or point --cache-dir / ` +
    'CURATOR_CACHE_DIR at a larger disk, then run the same command again: every answer already saved is kept and ' +
    'not paid again.'
  );
}

/** Wraps an activity so that a full disk ends it with {@link isDiskFull}'s clear failure. */
export function failClearlyOnDiskFull<A extends unknown[], R>(
  cacheRoot: string,
  activity: (...args: A) => Promise<R>
): (...args: A) => Promise<R> {
  return convertFailures(activity, (err) =>
    isDiskFull(err) ? new DiskFullError(diskFullMessage(cacheRoot, err)) : err
  );
}
