/**
 * One activity at a time per batch. After a job is terminated its batch activities run on until their next heartbeat
 * tells them so; a new job's activity for the same batch waits for them here instead of sending the same requests
 * alongside them. The lease is a file refreshed every second; one not refreshed for a few seconds belongs to a
 * process that died, and is taken over.
 */
import { utimesSync } from 'node:fs';
import { open, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ensureDir } from './jsonl';

const STALE_MS = 5000;
const REFRESH_MS = 1000;

export class ShardLease {
  private readonly timer: NodeJS.Timeout;

  private constructor(private readonly path: string) {
    // Synchronous: a system call on a local file, where an asynchronous one is a trip to the thread pool whose
    // hand-over costs the busy main thread far more, once a second for each of a hundred batches in progress
    // (bench/README.md, 2026-11-30 12:20).
    this.timer = setInterval(() => {
      const now = new Date();
      try {
        utimesSync(this.path, now, now);
      } catch {
        // Gone (taken over after a stall): the next acquire finds out; nothing to refresh.
      }
    }, REFRESH_MS);
  }

  /** Waits for the batch to be free (calling `waiting` meanwhile), then holds it. */
  static async acquire(path: string, signal: AbortSignal, waiting: () => void): Promise<ShardLease> {
    await ensureDir(dirname(path));
    for (;;) {
      try {
        const fh = await open(path, 'wx');
        await fh.write(`${process.pid}\n`);
        await fh.close();
        return new ShardLease(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const age = await stat(path).then(
        (s) => Date.now() - s.mtimeMs,
        () => Infinity
      );
      if (age > STALE_MS) {
        await unlink(path).catch(() => undefined);
        continue;
      }
      waiting();
      await delay(250, undefined, { signal });
    }
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    await unlink(this.path).catch(() => undefined);
  }
}
