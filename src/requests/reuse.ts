/**
 * Stage "reuse", between format and send, when a curator turns `reuseAnswers` on: a request whose exact body (to
 * the same provider and base URL, in the same mode) was answered in any run of the cache directory takes that answer
 * instead of a call, recorded in the shard's log as an answer of another job (so it counts as cached, not paid);
 * every accepted answer is kept for later runs.
 * The same for calls of one request each and for provider batches.
 */
import type { Curator } from '../curator';
import { DEFAULT_REUSE_ANSWERS } from '../defaults';
import { AnswerStore } from '../storage/answer-store';
import { sha256, stableStringify } from '../storage/fingerprint';
import type { AttemptRecord } from '../storage/response-log';
import { attemptBase, type AttemptRecorder } from './record';

/** The `job` of an attempt record that took its answer from another run. */
export const REUSED_JOB = 'reused';

/** The reuse stage of one curator's requests; it does nothing unless the curator turns `reuseAnswers` on. */
export class AnswerReuse {
  private readonly store: AnswerStore | undefined;

  constructor(
    cacheRoot: string,
    private readonly curator: Curator,
    private readonly baseURL: string
  ) {
    const on = curator.backend?.reuseAnswers ?? DEFAULT_REUSE_ANSWERS;
    this.store = on ? new AnswerStore(cacheRoot) : undefined;
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

  /** Records the stored answer of each request that has one; returns the requests answered so. */
  async reuse(bodies: Map<number, Record<string, unknown>>, recorder: AttemptRecorder): Promise<Set<number>> {
    const reused = new Set<number>();
    if (!this.store) return reused;
    for (const [i, body] of bodies) {
      const answer = await this.store.get(this.key(body));
      if (!answer) continue;
      await recorder.record({ ...answer, ...attemptBase(i, REUSED_JOB, 1) });
      reused.add(i);
    }
    return reused;
  }

  /** Keeps an accepted answer for later runs. */
  async remember(
    body: Record<string, unknown> | undefined,
    record: Partial<AttemptRecord> & { ok: boolean }
  ): Promise<void> {
    if (!this.store || !body || !record.ok) return;
    const { i: _i, job: _job, attempt: _attempt, at: _at, ...answer } = record;
    await this.store.put(this.key(body), answer);
  }
}
