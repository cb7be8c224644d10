/**
 * The limiter contract shared by the three enforcement modes, the sliding-window limiter (the default mode), and the
 * header formats the two providers use to report limits.
 *
 * Sliding window: each accepted request is one event `{at, input, output}`; an event counts against every limit until
 * `windowMs` after it arrived. That gives exact, explainable numbers: the `remaining` headers are `limit - used in the
 * window`, and a 429's retry hint is the moment enough events expire.
 */
import type { SimulatorOptions } from './types';

/** The four quantities providers limit. */
export type Dimension = 'requests' | 'tokens' | 'inputTokens' | 'outputTokens';

export const DIMENSIONS: readonly Dimension[] = ['requests', 'tokens', 'inputTokens', 'outputTokens'];

/** A limit and whether the simulator enforces it or only reports it. */
export interface Bucket {
  limit: number;
  enforced: boolean;
}

/** How limits are enforced; see `SimulatorOptions.rateLimits.enforcement`. */
export type Enforcement = 'sliding-window' | 'per-second' | 'token-bucket';

export interface LimitSettings {
  enforcement: Enforcement;
  windowMs: number;
  /** Token-bucket capacity, in seconds of refill. */
  burstSeconds: number;
  buckets: Record<Dimension, Bucket>;
}

/** Limits reported (but not enforced) when the user sets none: generous, like a high usage tier. */
const DEFAULT_LIMITS: Record<Dimension, number> = {
  requests: 10_000,
  tokens: 2_000_000,
  inputTokens: 2_000_000,
  outputTokens: 400_000,
};

/** Turns the user's `rateLimits` option into per-dimension buckets. */
export function limitSettings(options: SimulatorOptions['rateLimits']): LimitSettings {
  const configured: Record<Dimension, number | undefined> = {
    requests: options?.rpm,
    tokens: options?.tpm,
    inputTokens: options?.inputTpm,
    outputTokens: options?.outputTpm,
  };
  const buckets = {} as Record<Dimension, Bucket>;
  for (const d of DIMENSIONS) {
    const limit = configured[d];
    buckets[d] =
      limit !== undefined && Number.isFinite(limit) && limit >= 0
        ? { limit: Math.floor(limit), enforced: true }
        : { limit: DEFAULT_LIMITS[d], enforced: false };
  }
  return {
    enforcement: options?.enforcement ?? 'sliding-window',
    windowMs: options?.windowMs !== undefined && options.windowMs > 0 ? options.windowMs : 60_000,
    burstSeconds: options?.burstSeconds !== undefined && options.burstSeconds > 0 ? options.burstSeconds : 1,
    buckets,
  };
}

/** Tokens one request is debited with. */
export interface Cost {
  input: number;
  output: number;
}

/** What a provider reports for one dimension. */
export interface DimensionState {
  /** The per-minute limit, whatever the enforcement mode. */
  limit: number;
  /** What could be admitted right now without a 429. */
  remaining: number;
  /** Time until the limiter is back to its initial state (all current usage expired or refilled), in ms. */
  resetMs: number;
  /** Whether the limit is enforced, or only reported. */
  enforced: boolean;
}

export type Snapshot = Record<Dimension, DimensionState>;

/** A request over an enforced limit. */
export interface Rejection {
  dimension: Dimension;
  limit: number;
  used: number;
  requested: number;
  /** When enough usage expires for the request to fit; `undefined` when it never can (larger than the limit). */
  retryAfterMs: number | undefined;
}

/** One enforcement mode's state for one provider. Every method takes the time, so modes are pure functions of it. */
export interface Limiter {
  /** Debits `cost` if every enforced limit allows it; otherwise returns the first limit it breaks. */
  admit(now: number, cost: Cost, settings: LimitSettings): Rejection | undefined;
  snapshot(now: number, settings: LimitSettings): Snapshot;
  clear(): void;
}

interface Event {
  at: number;
  input: number;
  output: number;
}

export class SlidingWindowLimiter implements Limiter {
  /** Events in arrival order; `head` skips expired ones so pruning is O(1) amortised. */
  private events: Event[] = [];
  private head = 0;
  private used: Record<Dimension, number> = { requests: 0, tokens: 0, inputTokens: 0, outputTokens: 0 };

  /** Debits `cost` if every enforced limit allows it; otherwise returns the first limit it breaks. */
  admit(now: number, cost: Cost, settings: LimitSettings): Rejection | undefined {
    this.prune(now, settings.windowMs);
    for (const d of DIMENSIONS) {
      const bucket = settings.buckets[d];
      if (!bucket.enforced) continue;
      const requested = amount(d, cost);
      if (this.used[d] + requested <= bucket.limit) continue;
      return {
        dimension: d,
        limit: bucket.limit,
        used: this.used[d],
        requested,
        retryAfterMs: this.waitFor(d, requested, bucket.limit, now, settings.windowMs),
      };
    }
    this.events.push({ at: now, ...cost });
    for (const d of DIMENSIONS) this.used[d] += amount(d, cost);
    return undefined;
  }

  snapshot(now: number, settings: LimitSettings): Snapshot {
    this.prune(now, settings.windowMs);
    const newest = this.events.length > this.head ? this.events[this.events.length - 1] : undefined;
    const resetMs = newest === undefined ? 0 : Math.max(0, newest.at + settings.windowMs - now);
    const snapshot = {} as Snapshot;
    for (const d of DIMENSIONS) {
      const { limit, enforced } = settings.buckets[d];
      snapshot[d] = { limit, remaining: Math.max(0, limit - this.used[d]), resetMs, enforced };
    }
    return snapshot;
  }

  clear(): void {
    this.events = [];
    this.head = 0;
    for (const d of DIMENSIONS) this.used[d] = 0;
  }

  private waitFor(d: Dimension, requested: number, limit: number, now: number, windowMs: number): number | undefined {
    if (requested > limit) return undefined;
    const mustFree = this.used[d] + requested - limit;
    let freed = 0;
    for (let i = this.head; i < this.events.length; i++) {
      const event = this.events[i] as Event;
      freed += amount(d, event);
      if (freed >= mustFree) return Math.max(1, event.at + windowMs - now);
    }
    return windowMs;
  }

  private prune(now: number, windowMs: number): void {
    while (this.head < this.events.length) {
      const event = this.events[this.head] as Event;
      if (event.at + windowMs > now) break;
      for (const d of DIMENSIONS) this.used[d] -= amount(d, event);
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.events.length) {
      this.events = this.events.slice(this.head);
      this.head = 0;
    }
  }
}

/** How much of dimension `d` a request costing `cost` uses. */
export function amount(d: Dimension, cost: Cost): number {
  switch (d) {
    case 'requests':
      return 1;
    case 'tokens':
      return cost.input + cost.output;
    case 'inputTokens':
      return cost.input;
    case 'outputTokens':
      return cost.output;
  }
}

/**
 * A duration as Go's `time.Duration.String()` prints it, which is what OpenAI's `x-ratelimit-reset-*` headers and
 * "Please try again in …" messages use: `0s`, `12ms`, `1s`, `1.5s`, `6m0s`, `1h2m3s`. Milliseconds are rounded up.
 */
export function formatGoDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total === 0) return '0s';
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const seconds = String((total % 60_000) / 1000);
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

/** An RFC 3339 timestamp in whole seconds, rounded up (Anthropic's `*-reset` headers look like `2025-08-21T12:40:59Z`). */
export function formatRfc3339(epochMs: number): string {
  return new Date(Math.ceil(epochMs / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
