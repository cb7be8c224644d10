/**
 * Who uses the local dev server on a port. A start lock makes two processes starting at the same instant take turns
 * (two servers racing on one SQLite file die with SQLITE_BUSY), and one file per user lets the process that started
 * the server stop it only when no other live process still uses it.
 */
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How long a start may hold the lock before others break it: a dev server start takes seconds. */
const STALE_LOCK_MS = 120_000;

/** The network namespace: the same port in another one (a container, a test sandbox) is another server. */
function networkNamespace(): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/net'))?.[1] ?? 'host';
  } catch {
    return 'host';
  }
}

function leaseDir(port: number): string {
  const dir = join(tmpdir(), `temporal-curator-dev-server-${networkNamespace()}-${port}`);
  mkdirSync(join(dir, 'users'), { recursive: true });
  return dir;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs `start` while holding the port's start lock; a lock left by a dead process is broken. */
export async function withStartLock<T>(port: number, start: () => Promise<T>): Promise<T> {
  const path = join(leaseDir(port), 'start.lock');
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder = NaN;
      let age = 0;
      try {
        holder = Number(readFileSync(path, 'utf8'));
        age = Date.now() - statSync(path).mtimeMs;
      } catch {
        continue;
      }
      if ((Number.isInteger(holder) && holder > 0 && !alive(holder)) || age > STALE_LOCK_MS) {
        rmSync(path, { force: true });
        continue;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await start();
  } finally {
    rmSync(path, { force: true });
  }
}

let leases = 0;

/** Records this process as a user of the server; the returned function ends that and says how many others remain. */
export function useServer(port: number): () => number {
  const users = join(leaseDir(port), 'users');
  const mine = join(users, `${process.pid}-${++leases}`);
  closeSync(openSync(mine, 'w'));
  return () => {
    rmSync(mine, { force: true });
    let others = 0;
    for (const name of readdirSync(users)) {
      if (alive(Number(name.split('-')[0]))) others++;
      else rmSync(join(users, name), { force: true });
    }
    return others;
  };
}
