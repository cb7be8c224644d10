/**
 * Anthropic-style enforcement: a token bucket per limit, "continuously replenished up to your maximum limit, rather
 * than being reset at fixed intervals", refilled at `limit / 60` per second. Anthropic also warns that limits "may be
 * enforced over shorter time intervals" and that "short bursts … can surpass the rate limit", so the bucket holds
 * `burstSeconds` of refill (default 1 s; 60 gives a bucket as large as the per-minute limit).
 *
 * A request is admitted when its bucket holds at least its cost (or is full, for a request larger than the bucket);
 * the bucket may then go negative, so the long-run rate never exceeds the limit. Its own snapshot: `remaining` is the
 * bucket's whole units, `reset` the time until it is full again. The mode's headers are those of minute-report.ts,
 * which also keeps a bucket of this kind, 60 s large, for them.
 */
import {
  DIMENSIONS,
  amount,
  type Cost,
  type Dimension,
  type LimitSettings,
  type Limiter,
  type Rejection,
  type Snapshot,
} from './rate-limits';

interface BucketState {
  level: number;
  at: number;
}

/** Bucket size for a per-minute limit: `burstSeconds` of refill, at least one unit. */
export function bucketCapacity(limitPerMinute: number, burstSeconds: number): number {
  return Math.max(1, (limitPerMinute * burstSeconds) / 60);
}

export class TokenBucketLimiter implements Limiter {
  private readonly buckets = new Map<Dimension, BucketState>();

  admit(now: number, cost: Cost, settings: LimitSettings): Rejection | undefined {
    for (const d of DIMENSIONS) {
      const { limit, enforced } = settings.buckets[d];
      if (!enforced) continue;
      const requested = amount(d, cost);
      const capacity = bucketCapacity(limit, settings.burstSeconds);
      const level = this.level(d, now, limit, capacity);
      const needed = Math.min(requested, capacity);
      if (level >= needed) continue;
      const perMs = limit / 60_000;
      return {
        dimension: d,
        limit,
        used: Math.max(0, Math.round(capacity - level)),
        requested,
        retryAfterMs: requested > limit || perMs === 0 ? undefined : Math.max(1, Math.ceil((needed - level) / perMs)),
      };
    }
    for (const d of DIMENSIONS) {
      if (!settings.buckets[d].enforced) continue;
      const state = this.buckets.get(d) as BucketState;
      state.level -= amount(d, cost);
    }
    return undefined;
  }

  snapshot(now: number, settings: LimitSettings): Snapshot {
    const snapshot = {} as Snapshot;
    for (const d of DIMENSIONS) {
      const { limit, enforced } = settings.buckets[d];
      const capacity = bucketCapacity(limit, settings.burstSeconds);
      const level = enforced ? this.level(d, now, limit, capacity) : capacity;
      const perMs = limit / 60_000;
      snapshot[d] = {
        limit,
        remaining: Math.max(0, Math.floor(level)),
        resetMs: perMs > 0 ? Math.max(0, Math.ceil((capacity - level) / perMs)) : 0,
        enforced,
      };
    }
    return snapshot;
  }

  clear(): void {
    this.buckets.clear();
  }

  /** Refills bucket `d` up to `now` and returns its level; a bucket starts full. */
  private level(d: Dimension, now: number, limit: number, capacity: number): number {
    let state = this.buckets.get(d);
    if (state === undefined) {
      state = { level: capacity, at: now };
      this.buckets.set(d, state);
    }
    if (now > state.at) {
      state.level = Math.min(capacity, state.level + ((now - state.at) * limit) / 60_000);
      state.at = now;
    }
    return state.level;
  }
}
