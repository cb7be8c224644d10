/**
 * Accepted answers by request, shared by every run of the cache directory: a request whose body was answered in
 * another run (another dataset, or a curator whose other rows changed) is answered from here, so changing one row's
 * params or text costs one call, not a run's. One small file per answer, written atomically, under `answers/`.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ensureDir, writeFileAtomic } from './jsonl';
import type { AttemptRecord } from './response-log';

/** What is kept of an accepted attempt: everything but which request, job and attempt it was. */
export type StoredAnswer = Omit<AttemptRecord, 'i' | 'job' | 'attempt' | 'at'>;

export class AnswerStore {
  constructor(private readonly root: string) {}

  private path(key: string): string {
    return join(this.root, 'answers', key.slice(0, 2), `${key}.json`);
  }

  /** The answer stored under `key`, if any (an unreadable file counts as none: the request is sent again). */
  async get(key: string): Promise<StoredAnswer | undefined> {
    try {
      const answer = JSON.parse(await readFile(this.path(key), 'utf8')) as StoredAnswer;
      return answer.ok === true ? answer : undefined;
    } catch {
      return undefined;
    }
  }

  async put(key: string, answer: StoredAnswer): Promise<void> {
    const path = this.path(key);
    await ensureDir(dirname(path));
    await writeFileAtomic(path, JSON.stringify(answer));
  }
}
