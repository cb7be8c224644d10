/**
 * OpenAI-style quantized enforcement: "60,000 requests/minute may be enforced as 1,000 requests/second". Every
 * per-minute limit is enforced as `floor(limit / 60)` (at least 1) over a sliding one-second window, so no one-second
 * interval, and therefore no minute, ever carries more than the stated limit.
 *
 * Headers stay honest about that: `limit` is the per-minute limit the account states, `remaining` what the current
 * second still admits (0 on a 429), `reset` the time until the second's usage has expired (at most 1 s).
 */
import {
  DIMENSIONS,
  SlidingWindowLimiter,
  type Bucket,
  type Cost,
  type Dimension,
  type LimitSettings,
  type Limiter,
  type Rejection,
  type Snapshot,
} from './rate-limits';

/** The share of a per-minute limit one second admits. */
export function perSecondQuantum(limitPerMinute: number): number {
  return Math.max(1, Math.floor(limitPerMinute / 60));
}

export class PerSecondLimiter implements Limiter {
  private readonly window = new SlidingWindowLimiter();

  admit(now: number, cost: Cost, settings: LimitSettings): Rejection | undefined {
    const rejection = this.window.admit(now, cost, quantized(settings));
    if (rejection === undefined) return undefined;
    return { ...rejection, limit: settings.buckets[rejection.dimension].limit };
  }

  snapshot(now: number, settings: LimitSettings): Snapshot {
    const inner = this.window.snapshot(now, quantized(settings));
    for (const d of DIMENSIONS) inner[d].limit = settings.buckets[d].limit;
    return inner;
  }

  clear(): void {
    this.window.clear();
  }
}

/** Cache of the derived one-second settings, keyed by the per-minute settings object (replaced on every change). */
const derived = new WeakMap<LimitSettings, LimitSettings>();

function quantized(settings: LimitSettings): LimitSettings {
  let perSecond = derived.get(settings);
  if (perSecond === undefined) {
    const buckets = {} as Record<Dimension, Bucket>;
    for (const d of DIMENSIONS) {
      const { limit, enforced } = settings.buckets[d];
      buckets[d] = { limit: perSecondQuantum(limit), enforced };
    }
    perSecond = { ...settings, windowMs: 1000, buckets };
    derived.set(settings, perSecond);
  }
  return perSecond;
}
