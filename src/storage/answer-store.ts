/**
 * Accepted answers by request, shared by every run of the data plane: a request whose body was answered in another
 * run (another dataset, or a curator whose other rows changed) is answered from here, so changing one row's params
 * or text costs one call, not a run's. One small object per answer under `answers/`, in the run artifacts' store: the
 * cache directory (the files are where they always were), or the bucket of `CURATOR_STORAGE`, so that every machine
 * finds what any of them paid for, and a machine lost with its disk takes none of it along.
 *
 * Each answer is also listed under its prompt (`answers/by-prompt/`: the request without its generation params), so
 * that a run with other params can find every answer the same prompt got and let the curator choose one.
 */
import type { ObjectStore } from './object-store/object-store';
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
  /** @param objects The run artifacts' store (the data plane's `objects`). */
  constructor(private readonly objects: ObjectStore) {}

  private key(key: string): string {
    return `answers/${key.slice(0, 2)}/${key}.json`;
  }

  private promptPrefix(promptKey: string): string {
    return `answers/by-prompt/${promptKey.slice(0, 2)}/${promptKey}/`;
  }

  /** The answer stored under `key`, if any (an unreadable object counts as none: the request is sent again). */
  async get(key: string): Promise<StoredAnswer | undefined> {
    try {
      const found = await this.objects.get(this.key(key));
      if (!found) return undefined;
      const answer = JSON.parse(found.body.toString('utf8')) as StoredAnswer;
      return answer.ok === true ? answer : undefined;
    } catch {
      return undefined;
    }
  }

  /** Stores an answer under its request's key and, given one, lists it under its prompt's key. */
  async put(key: string, answer: StoredAnswer, promptKey?: string): Promise<void> {
    await this.objects.put(this.key(key), JSON.stringify(answer));
    // The listing is written after the answer, so a listed key always has its answer.
    if (promptKey !== undefined) await this.objects.put(this.promptPrefix(promptKey) + key, '');
  }

  /** Every answer listed under a prompt, newest first (answers without a time last). */
  async byPrompt(promptKey: string): Promise<KeyedAnswer[]> {
    const prefix = this.promptPrefix(promptKey);
    const found: KeyedAnswer[] = [];
    for await (const entry of this.objects.list(prefix)) {
      const key = entry.key.slice(prefix.length);
      if (key.includes('.') || key.includes('/')) continue;
      const answer = await this.get(key);
      if (answer) found.push({ key, answer });
    }
    return found.sort((a, b) => (b.answer.origin?.at ?? '').localeCompare(a.answer.origin?.at ?? ''));
  }
}
