/**
 * The rate limiter of one bucket (provider, base URL, model) in one worker process. Limits come from the user's
 * settings first, then from the provider's headers on real responses (learned once, kept in the shared window for
 * every later job), and with neither, from 429s: concurrency halves on each and creeps back up on successes.
 *
 * The window starts full, not empty: the first seconds of a job run at the limit.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { readRateLimitHeaders } from './headers';
import type { SendRef, SharedWindow } from './shared-window';
import { hasLimits, sameLimits, type Cost, type Limits } from './window';

type HeaderSource = { get(name: string): string | null };

export interface RateLimiterOptions {
  bucket: string;
  /** The user's settings; they win over headers field by field. */
  configured: Limits;
  /** Requests in flight at most, in this process. */
  maxConcurrent: number;
  window: SharedWindow;
}

/** What the caller reports when its request ends. */
export interface Permit {
  /** The provider answered: replace the estimate by the usage and learn from the headers. */
  answered(usage: { input: number; output: number } | undefined, headers?: HeaderSource): void;
  /** The provider refused for rate: pause the bucket for everyone, for the hint or a backoff. */
  rateLimited(retryAfterMs: number | undefined, headers?: HeaderSource): void;
  /** Any other failure: the send may have counted, so it stays in the window. */
  failed(headers?: HeaderSource): void;
}

const MAX_BACKOFF_MS = 60_000;
/** The window's totals (to spot other machines' use in the headers) are read at most this often. */
export const TOTALS_EVERY_MS = 1000;

export class RateLimiter {
  private inFlight = 0;
  private cap: number;
  private successesSinceRaise = 0;
  private consecutive429 = 0;
  /** True once a response came back without any rate-limit headers: only 429s can teach the limit then. */
  private headerless = false;
  private learnedFromHeaders?: Limits;
  private readonly slotWaiters: (() => void)[] = [];
  private admission: Promise<unknown> = Promise.resolve();
  /** Admissions queued behind `admission`; with none, a request may be admitted at once. */
  private queued = 0;
  /** The merged limits of the last learned object seen (the window returns the same object until they change). */
  private merged?: { learned: Limits | undefined; limits: Limits };
  /** The window's request total at `at`, plus what this process admitted since: read at most every second. */
  private known?: { at: number; requests: number };

  constructor(private readonly options: RateLimiterOptions) {
    this.cap = options.maxConcurrent;
  }

  /** The limits in force: learned from headers, overridden by the user's settings. */
  limits(learned = this.options.window.state(this.options.bucket).learned): Limits {
    // Asked several times per request: merge again only when the learned limits changed.
    if (this.merged && this.merged.learned === learned) return this.merged.limits;
    const merged: Limits = { ...learned };
    for (const [k, v] of Object.entries(this.options.configured) as [keyof Limits, number | undefined][]) {
      if (typeof v === 'number' && v > 0) merged[k] = v;
    }
    this.merged = { learned, limits: merged };
    return merged;
  }

  /** With nothing known yet, one request goes first and its headers tell the limits: no probe request is wasted. */
  private concurrencyCap(): number {
    if (!this.headerless && !hasLimits(this.limits())) return 1;
    return Math.max(1, Math.min(this.cap, this.options.maxConcurrent));
  }

  private async takeSlot(signal?: AbortSignal): Promise<void> {
    while (this.inFlight >= this.concurrencyCap()) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(signal?.reason ?? new Error('aborted'));
        this.slotWaiters.push(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        });
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    this.inFlight++;
  }

  private releaseSlot(): void {
    this.inFlight--;
    // Wake everyone: the cap may have grown, and waiters re-check it themselves.
    this.slotWaiters.splice(0).forEach((wake) => wake());
  }

  /** Waits until `cost` fits the bucket's limits (and any pause is over), then counts it as sent. */
  async acquire(cost: Cost, signal?: AbortSignal): Promise<Permit> {
    await this.takeSlot(signal);
    let ref: SendRef | undefined;
    try {
      // Nobody queued before us: admit at once, without a turn in the queue (the common case, far from any limit).
      if (this.queued === 0) ref = this.admitNow(cost);
      if (!ref) {
        // Admissions run one at a time per process, so requests are let through in the order they asked.
        this.queued++;
        const turn = this.admission.then(() => this.admit(cost, signal)).finally(() => this.queued--);
        this.admission = turn.catch(() => undefined);
        ref = await turn;
      }
    } catch (err) {
      this.releaseSlot();
      throw err;
    }
    if (this.known) this.known.requests += ref.cost.requests;
    return this.permit(ref);
  }

  /** One admission attempt that does not wait: the send's place in the window, or undefined when it must wait. */
  private admitNow(cost: Cost): SendRef | undefined {
    const { window, bucket } = this.options;
    const now = Date.now();
    const state = window.state(bucket);
    if (state.pausedUntil > now) return undefined;
    const result = window.tryAdmit(bucket, cost, this.limits(state.learned), now);
    return 'ref' in result ? result.ref : undefined;
  }

  private async admit(cost: Cost, signal?: AbortSignal): Promise<SendRef> {
    const { window, bucket } = this.options;
    for (;;) {
      const now = Date.now();
      const state = window.state(bucket);
      if (state.pausedUntil > now) {
        await delay(state.pausedUntil - now, undefined, { signal });
        continue;
      }
      // Sends count even while no limit is known: the first request's headers may reveal one it counts against.
      const limits = this.limits(state.learned);
      const result = window.tryAdmit(bucket, cost, limits, now);
      if ('ref' in result) return result.ref;
      // Re-check at least every second: another process may pause the bucket or learn new limits meanwhile.
      await delay(Math.min(result.waitMs, 1000), undefined, { signal });
    }
  }

  private permit(ref: SendRef): Permit {
    let done = false;
    const finish = () => {
      if (done) return false;
      done = true;
      this.releaseSlot();
      return true;
    };
    return {
      answered: (usage, headers) => {
        if (!finish()) return;
        if (usage) this.options.window.settle(ref, usage.input, usage.output);
        this.consecutive429 = 0;
        this.observe(headers);
        if (this.headerless && this.cap < this.options.maxConcurrent && ++this.successesSinceRaise >= this.cap) {
          this.successesSinceRaise = 0;
          this.cap++;
        }
      },
      rateLimited: (retryAfterMs, headers) => {
        if (!finish()) return;
        // A refused request is not counted by the provider.
        this.options.window.remove(ref);
        if (this.known) this.known.requests -= ref.cost.requests;
        this.observe(headers);
        this.consecutive429++;
        const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (this.consecutive429 - 1)) * (1 - Math.random() * 0.25);
        this.options.window.pause(this.options.bucket, Date.now() + (retryAfterMs ?? backoff));
        if (this.headerless || !hasLimits(this.limits())) this.cap = Math.max(1, Math.floor(this.cap / 2));
      },
      failed: (headers) => {
        if (!finish()) return;
        this.observe(headers);
      },
    };
  }

  /** Learns limits from headers, and counts use of the key that other machines make as the provider reports it. */
  private observe(headers: HeaderSource | undefined): void {
    const snapshot = readRateLimitHeaders(headers);
    if (!snapshot) {
      if (headers) this.headerless = true;
      return;
    }
    const { window, bucket } = this.options;
    if (!this.learnedFromHeaders || !sameLimits(this.learnedFromHeaders, snapshot.limits)) {
      this.learnedFromHeaders = snapshot.limits;
      window.learn(bucket, Object.fromEntries(Object.entries(snapshot.limits).filter(([, v]) => v !== undefined)));
    }
    const limit = snapshot.limits.requestsPerMinute;
    if (limit !== undefined && snapshot.remainingRequests !== undefined) {
      const now = Date.now();
      const reported = limit - snapshot.remainingRequests;
      // A SUM over the window per response would cost more than the request: the total is read once a second and
      // kept current with this process's own sends. Sends that left the window since make it a little high, which
      // only makes the external use counted below a little low, for under a second.
      if (!this.known || now - this.known.at >= TOTALS_EVERY_MS) {
        this.known = { at: now, requests: window.totals(bucket, now).requests };
      }
      const known = this.known.requests;
      // A little slack: our own requests in flight reach the provider's count before they reach ours.
      if (reported > known + Math.max(2, limit * 0.01)) {
        window.addExternal(bucket, { requests: reported - known, input: 0, output: 0 }, now);
        this.known.requests = reported;
      }
    }
  }
}
