/**
 * Accepted answers by request, shared by every run of the cache directory: a request whose body was answered in
 * another run (another dataset, or a curator whose other rows changed) is answered from here, so changing one row's
 * params or text costs one call, not a run's. One small file per answer, written atomically, under `answers/`.
 *
 * Each answer is also listed under its prompt (`answers/by-prompt/`: the request without its generation params), so
 * that a run with other params can find every answer the same prompt got and let the curator choose one.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './jsonl';
import type { AttemptRecord } from './response-log';

/** What is kept of an accepted attempt: everything but which request, job and attempt it was. */
export type StoredAnswer = Omit<AttemptRecord, 'i' | 'job' | 'attempt' | 'at' | 'reused'> & {
  /** The generation params it was asked with (absent in answers kept before they were recorded). */
  params?: Record<string, unknown>;
  /** The run and job that paid for it, and when. */
  origin?: { run: string; job: string; at: string };
};

/** A stored answer and the key of the request that got it. */
export interface KeyedAnswer {
  key: string;
  answer: StoredAnswer;
}

export class AnswerStore {
  constructor(private readonly root: string) {}

  private path(key: string): string {
    return join(this.root, 'answers', key.slice(0, 2), `${key}.json`);
  }

  private promptDir(promptKey: string): string {
    return join(this.root, 'answers', 'by-prompt', promptKey.slice(0, 2), promptKey);
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

  /** Stores an answer under its request's key and, given one, lists it under its prompt's key. */
  async put(key: string, answer: StoredAnswer, promptKey?: string): Promise<void> {
    await writeFileAtomic(this.path(key), JSON.stringify(answer));
    // The listing is written after the answer, so a listed key always has its answer.
    if (promptKey !== undefined) await writeFileAtomic(join(this.promptDir(promptKey), key), '');
  }

  /** Every answer listed under a prompt, newest first (answers without a time last). */
  async byPrompt(promptKey: string): Promise<KeyedAnswer[]> {
    let keys: string[];
    try {
      keys = (await readdir(this.promptDir(promptKey))).filter((name) => !name.includes('.'));
    } catch {
      return [];
    }
    const found: KeyedAnswer[] = [];
    for (const key of keys) {
      const answer = await this.get(key);
      if (answer) found.push({ key, answer });
    }
    return found.sort((a, b) => (b.answer.origin?.at ?? '').localeCompare(a.answer.origin?.at ?? ''));
  }
}
