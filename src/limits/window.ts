/**
 * Sliding-window admission, as pure functions over the requests and tokens sent recently. Providers replenish
 * continuously, so a request waits exactly until enough old sends leave the window, never a fixed cool-down.
 */
import type { Cost, Limits } from '../types/limits';

export type { Cost, Limits };

export interface WindowEntry extends Cost {
  at: number;
}

export const MINUTE_MS = 60_000;
/** Our sends count a little longer than the provider's window, which starts when the request arrives there. */
export const WINDOW_MARGIN_MS = 250;

export function hasLimits(limits: Limits): boolean {
  return Object.values(limits).some((v) => typeof v === 'number' && v > 0);
}

export function sameLimits(a: Limits, b: Limits): boolean {
  return (
    a === b ||
    (a.requestsPerMinute === b.requestsPerMinute &&
      a.tokensPerMinute === b.tokensPerMinute &&
      a.inputTokensPerMinute === b.inputTokensPerMinute &&
      a.outputTokensPerMinute === b.outputTokensPerMinute &&
      a.requestsPerSecond === b.requestsPerSecond)
  );
}

export interface Dimension {
  limit: number;
  windowMs: number;
  /** Counted over the last second (requests only), not the last minute. */
  perSecond: boolean;
  amount: (c: Cost) => number;
}

export function dimensions(limits: Limits): Dimension[] {
  const dims: Dimension[] = [];
  const minute = MINUTE_MS + WINDOW_MARGIN_MS;
  if (limits.requestsPerMinute)
    dims.push({ limit: limits.requestsPerMinute, windowMs: minute, perSecond: false, amount: (c) => c.requests });
  if (limits.tokensPerMinute)
    dims.push({ limit: limits.tokensPerMinute, windowMs: minute, perSecond: false, amount: (c) => c.input + c.output });
  if (limits.inputTokensPerMinute)
    dims.push({ limit: limits.inputTokensPerMinute, windowMs: minute, perSecond: false, amount: (c) => c.input });
  if (limits.outputTokensPerMinute)
    dims.push({ limit: limits.outputTokensPerMinute, windowMs: minute, perSecond: false, amount: (c) => c.output });
  if (limits.requestsPerSecond)
    dims.push({
      limit: limits.requestsPerSecond,
      windowMs: 1000 + WINDOW_MARGIN_MS,
      perSecond: true,
      amount: (c) => c.requests,
    });
  return dims;
}

/**
 * How long `cost` must wait before it fits beside `entries` (sorted oldest first); 0 means now. A cost larger than a
 * whole limit is admitted into an empty window rather than never, so one oversized request cannot stall a job.
 */
export function admissionDelay(entries: readonly WindowEntry[], cost: Cost, limits: Limits, now: number): number {
  let delay = 0;
  for (const dim of dimensions(limits)) {
    const need = dim.amount(cost);
    if (need === 0) continue;
    const live = entries.filter((e) => e.at > now - dim.windowMs);
    let used = live.reduce((sum, e) => sum + dim.amount(e), 0);
    if (used + need <= dim.limit || used === 0) continue;
    for (const e of live) {
      used -= dim.amount(e);
      if (used + need <= dim.limit || used <= 0) {
        delay = Math.max(delay, e.at + dim.windowMs - now);
        break;
      }
    }
  }
  return Math.max(0, Math.ceil(delay));
}

/** The oldest moment any limit still looks at: older entries can be forgotten. */
export function horizon(now: number): number {
  return now - MINUTE_MS - WINDOW_MARGIN_MS;
}
