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
import { hasLimits, type Cost, type Limits } from './window';

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

export class RateLimiter {
  private inFlight = 0;
  private cap: number;
  private successesSinceRaise = 0;
  private consecutive429 = 0;
  /** True once a response came back without any rate-limit headers: only 429s can teach the limit then. */
  private headerless = false;
  private learnedJson?: string;
  private readonly slotWaiters: (() => void)[] = [];
  private admission: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: RateLimiterOptions) {
    this.cap = options.maxConcurrent;
  }

  /** The limits in force: learned from headers, overridden by the user's settings. */
  limits(learned = this.options.window.state(this.options.bucket).learned): Limits {
    const merged: Limits = { ...learned };
    for (const [k, v] of Object.entries(this.options.configured) as [keyof Limits, number | undefined][]) {
      if (typeof v === 'number' && v > 0) merged[k] = v;
    }
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
    let ref: SendRef;
    try {
      // Admissions run one at a time per process, so requests are let through in the order they asked.
      const turn = this.admission.then(() => this.admit(cost, signal));
      this.admission = turn.catch(() => undefined);
      ref = await turn;
    } catch (err) {
      this.releaseSlot();
      throw err;
    }
    return this.permit(ref);
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
    const limits = Object.fromEntries(Object.entries(snapshot.limits).filter(([, v]) => v !== undefined)) as Limits;
    const json = JSON.stringify(limits);
    if (json !== this.learnedJson) {
      this.learnedJson = json;
      window.learn(bucket, limits);
    }
    const limit = snapshot.limits.requestsPerMinute;
    if (limit !== undefined && snapshot.remainingRequests !== undefined) {
      const now = Date.now();
      const reported = limit - snapshot.remainingRequests;
      const known = window.totals(bucket, now).requests;
      // A little slack: our own requests in flight reach the provider's count before they reach ours.
      if (reported > known + Math.max(2, limit * 0.01)) {
        window.addExternal(bucket, { requests: reported - known, input: 0, output: 0 }, now);
      }
    }
  }
}
