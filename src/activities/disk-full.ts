/**
 * A full disk under the cache (response logs, shards, the limiter's window, metadata.db) stops every activity alike
 * and no retry fixes it: one clear, non-retryable failure names the cache directory and what to do. What was written
 * before stays (the logs cut a torn tail at the next append), so the rerun after freeing space goes on from there.
 */
import { ApplicationFailure } from '@temporalio/activity';

/** Whether `err` is the file system or SQLite saying the disk (or the quota) is full. */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL') return true;
  return /database or disk is full|ENOSPC|no space left on device/i.test(String((err as Error)?.message ?? ''));
}

/** Wraps an activity so that a full disk ends it with {@link isDiskFull}'s clear failure. */
export function failClearlyOnDiskFull<A extends unknown[], R>(
  cacheRoot: string,
  activity: (...args: A) => Promise<R>
): (...args: A) => Promise<R> {
  const wrapped = async (...args: A) => {
    try {
      return await activity(...args);
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      throw ApplicationFailure.create({
        type: 'DiskFull',
        message:
          `the disk holding the cache directory ${cacheRoot} is full (${(err as Error).message}). Free space there, ` +
          'or point --cache-dir / CURATOR_CACHE_DIR at a larger disk, then run the same command again: every answer ' +
          'already saved is kept and not paid again.',
        nonRetryable: true,
      });
    }
  };
  // Temporal registers activities by their function names.
  Object.defineProperty(wrapped, 'name', { value: activity.name });
  return wrapped;
}
