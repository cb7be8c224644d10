/**
 * OpenAI-style quantized enforcement: "60,000 requests/minute may be enforced as 1,000 requests/second". Every
 * per-minute limit is enforced as `floor(limit / 60)` (at least 1) over a sliding one-second window (a
 * `SlidingWindowLimiter` given these settings), so no one-second interval, and therefore no minute, ever carries more
 * than the stated limit. The headers are those of minute-report.ts.
 */
import { DIMENSIONS, type Bucket, type Dimension, type LimitSettings } from './rate-limits';

/** The share of a per-minute limit one second admits. */
export function perSecondQuantum(limitPerMinute: number): number {
  return Math.max(1, Math.floor(limitPerMinute / 60));
}

/** Cache of the derived one-second settings, keyed by the per-minute settings object (replaced on every change). */
const derived = new WeakMap<LimitSettings, LimitSettings>();

/** The one-second settings that enforce `settings`' per-minute limits. */
export function quantized(settings: LimitSettings): LimitSettings {
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
