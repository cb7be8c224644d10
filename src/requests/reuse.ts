/**
 * Stage "reuse", between format and send, when a curator turns `reuseAnswers` on or gives a `reuseAnswer`
 * predicate: a request whose exact body (to the same provider and base URL, in the same mode) was answered in any
 * run of the data plane (the cache directory, or the object store every machine shares) takes that answer instead
 * of a call; with a predicate, a request takes the newest answer of the same prompt (its body without the
 * generation params) that the predicate accepts, whatever params it was asked with. Either way the answer is
 * recorded in the shard's log as an answer of another job, with where it came from (so it counts as cached, not
 * paid, and a rerun is a plain cache hit); every accepted answer of a call is kept for later runs, with its params
 * and run. The same for calls of one request each and for provider batches.
 */
import type { Curator, Row } from '../curator';
import { DEFAULT_REUSE_ANSWERS } from '../defaults';
import { providerOf } from '../providers';
import type { ProviderModule } from '../providers/provider';
import type { ProviderRequest } from '../providers/types';
import { AnswerStore, type KeyedAnswer, type StoredAnswer } from '../storage/answer-store';
import { sha256, stableStringify } from '../storage/fingerprint';
import type { ObjectStore } from '../storage/object-store/object-store';
import type { AttemptRecord } from '../storage/response-log';
import { answerView } from './answer-view';
import { attemptBase, type AttemptRecorder } from './record';

/** The `job` of an attempt record that took its answer from another run. */
export const REUSED_JOB = 'reused';

/**
 * The run history's entry of a job that reused answers, its detail the counts: `answered` requests, `cached` of them
 * without a call, `reused` of those from other runs or params.
 */
export const REUSED_EVENT = 'reused-answers';

/** The run and job that keep and take answers. */
export interface ReuseOrigin {
  run: string;
  job: string;
}

/** The reuse stage of one curator's requests; it does nothing unless the curator turns reuse on. */
export class AnswerReuse {
  private readonly store: AnswerStore | undefined;
  private readonly provider: ProviderModule;

  /** @param objects The run artifacts' store (the data plane's `objects`), where answers are kept for every machine. */
  constructor(
    objects: ObjectStore,
    private readonly curator: Curator,
    private readonly baseURL: string,
    private readonly origin: ReuseOrigin
  ) {
    const on = curator.reuseAnswer !== undefined || (curator.backend?.reuseAnswers ?? DEFAULT_REUSE_ANSWERS);
    this.store = on ? new AnswerStore(objects) : undefined;
    this.provider = providerOf(curator);
  }

  /** Whether the curator turned reuse on: without it, nothing is looked up or kept. */
  get enabled(): boolean {
    return this.store !== undefined;
  }

  /** Names a request: its body, where it goes, and the mode (batch and synchronous answers stay apart, as in Curator). */
  key(body: Record<string, unknown>): string {
    const { provider, backend } = this.curator;
    return sha256(stableStringify({ provider, baseURL: this.baseURL, batch: backend?.batch === true, body }));
  }

  /** Names a request's prompt: its body without any generation params, where it goes, and the mode. */
  promptKey(request: ProviderRequest): string {
    return this.key({ prompt: this.provider.body({ ...request, params: {} }) });
  }

  /**
   * Records a stored answer for each request that takes one, or the failure of a `reuseAnswer` that threw; returns
   * the requests settled so (nothing is sent for them).
   */
  async reuse(
    requests: ReadonlyMap<number, ProviderRequest>,
    recorder: AttemptRecorder,
    rowOf: (i: number) => Row
  ): Promise<Set<number>> {
    const settled = new Set<number>();
    if (!this.store) return settled;
    for (const [i, request] of requests) {
      let found: { stored: KeyedAnswer; identical: boolean } | undefined;
      try {
        found = await this.find(this.store, request, rowOf(i));
      } catch (err) {
        const message = `row ${i}: reuseAnswer() threw: ${(err as Error)?.message ?? String(err)}`;
        const attempt = recorder.log.state(i).attempts + 1;
        await recorder.record({
          ...attemptBase(i, this.origin.job, attempt),
          ok: false,
          error: { type: 'ReuseError', message, retryable: false },
        });
        settled.add(i);
        continue;
      }
      if (!found) continue;
      const { params, origin, ...answer } = found.stored.answer;
      await recorder.record({
        ...answer,
        ...attemptBase(i, REUSED_JOB, 1),
        reused: {
          key: found.stored.key,
          identical: found.identical,
          ...(params ? { params } : {}),
          ...(origin ? { run: origin.run, job: origin.job } : {}),
        },
      });
      settled.add(i);
    }
    return settled;
  }

  /**
   * The stored answer a request takes: without a predicate, its identical request's; with one, the first the
   * predicate accepts among its identical request's and then its prompt's, newest first.
   */
  private async find(
    store: AnswerStore,
    request: ProviderRequest,
    row: Row
  ): Promise<{ stored: KeyedAnswer; identical: boolean } | undefined> {
    const key = this.key(this.provider.body(request));
    const exact = await store.get(key);
    const accept = this.curator.reuseAnswer;
    if (!accept) return exact ? { stored: { key, answer: exact }, identical: true } : undefined;
    const candidates: KeyedAnswer[] = exact ? [{ key, answer: exact }] : [];
    for (const other of await store.byPrompt(this.promptKey(request))) if (other.key !== key) candidates.push(other);
    for (const stored of candidates) {
      const identical = stored.key === key;
      const context = { row, params: stored.answer.params ?? {}, currentParams: request.params, identical };
      if (accept(answerView(stored.answer), context)) return { stored, identical };
    }
    return undefined;
  }

  /** Keeps an accepted answer of a call for later runs, with the params it was asked with and who paid for it. */
  async remember(
    request: ProviderRequest | undefined,
    record: Partial<AttemptRecord> & { ok: boolean }
  ): Promise<void> {
    if (!this.store || !request || !record.ok) return;
    const { i: _i, job: _job, attempt: _attempt, at, reused: _reused, ...fields } = record;
    const answer: StoredAnswer = {
      ...fields,
      params: request.params,
      origin: { run: this.origin.run, job: this.origin.job, at: at ?? new Date().toISOString() },
    };
    await this.store.put(this.key(this.provider.body(request)), answer, this.promptKey(request));
  }
}
