/**
 * Even pacing of a bucket's per-minute limits: a token bucket per limit, refilled continuously at a little under
 * `limit / 60` per second, with a burst of a tenth of a second, under a guard that no sliding second carries more than
 * `limit / 60` (requests: the same share of it). Providers enforce per-minute limits over much shorter intervals (OpenAI quantizes them per second,
 * Anthropic refills a bucket continuously), so a minute's budget let out at once is mostly refused; spread over the
 * minute it is accepted. The burst gives back what a stalled event loop would otherwise lose; the guard keeps that
 * burst from ever crowding a second. The sliding window (`window.ts`) still guarantees the minute itself; pacing only
 * decides when within it. Refusals of a used-up second, which only requests that reached the provider bunched can
 * cause, widen the margin for a while (`Pacer.bunched`). Pure: time is passed in.
 */
import type { Cost, Limits } from './window';

/**
 * The share of the stated rate paced where the provider counts per interval (OpenAI's quantized seconds): the rest
 * absorbs the network's jitter between our clock and the provider's.
 */
export const PACE_SHARE = 0.97;

/**
 * How a provider enforces its per-minute limits over short intervals: per fixed interval (OpenAI quantizes a minute's
 * limit per second), or as a token bucket refilled continuously (Anthropic).
 */
export type Enforcement = 'per-interval' | 'token-bucket';

/**
 * The share of the stated rate a provider's enforcement lets us pace. A bucket refilled continuously holds what a
 * send a little early needs, so jitter costs nothing there and the whole rate is paced; an interval's count has no
 * such room ({@link PACE_SHARE}).
 */
export function paceCeiling(enforcement: Enforcement = 'per-interval'): number {
  return enforcement === 'token-bucket' ? 1 : PACE_SHARE;
}
/**
 * The least share a pace is trimmed to when our requests reach the provider bunched (see `Pacer.bunched`). Refusals
 * that persist at this margin come from stalls of the sender (a loaded machine, see bench/README.md), not from the
 * margin: trimming further only costs rate.
 */
export const MIN_PACE_SHARE = 0.95;
/** Each trim keeps this much of the share. */
export const SHARE_TRIM = 0.99;
/** Share given back per second once a second went by without a trim. */
export const SHARE_RECOVERY_PER_SECOND = 0.002;
/** The refusals of one bunched second come together: they trim once. */
const TRIM_EVERY_MS = 1000;
/**
 * Refusals are judged over this long: the refusals of one busy moment (a stall anywhere on the path, ours or the
 * provider's) say little of the margin, and a trim for them costs its share for many seconds.
 */
export const REFUSAL_WINDOW_MS = 5000;
/**
 * Refusals within `REFUSAL_WINDOW_MS`, as a share of the requests the rate sends in it, that trim: a few cost less than
 * the share a trim gives up while it lasts.
 */
export const TOLERATED_REFUSALS = 0.01;
/** The burst a bucket holds, in seconds of its rate (at least one request's cost). */
export const BURST_SECONDS = 0.1;
const SECOND_MS = 1000;

interface Level {
  limit: number;
  tokens: number;
  at: number;
  /** What was taken within the last second, oldest first from `head`, and its sum. */
  recent: { at: number; amount: number }[];
  head: number;
  sum: number;
  /** Places given back to refused sends within the last second (see `Pacer.refused`), and their sum. */
  given: { at: number; amount: number }[];
  givenSum: number;
}

type Amount = (c: Cost) => number;

/** The per-minute limits that are paced; `requestsPerSecond` is already a short interval and is left to the window. */
const PACED: [keyof Limits, Amount][] = [
  ['requestsPerMinute', (c) => c.requests],
  ['tokensPerMinute', (c) => c.input + c.output],
  ['inputTokensPerMinute', (c) => c.input],
  ['outputTokensPerMinute', (c) => c.output],
];

/** Forgets what left the last second. */
function expire(level: Level, now: number): void {
  while (level.head < level.recent.length && level.recent[level.head]!.at <= now - SECOND_MS) {
    level.sum -= level.recent[level.head++]!.amount;
  }
  if (level.head > 1024 && level.head * 2 > level.recent.length) {
    level.recent = level.recent.slice(level.head);
    level.head = 0;
  }
}

/** How long until `need` fits the second's guard (0: now). A cost beyond a whole second fits an empty second. */
function guardWait(level: Level, need: number, perSecond: number, now: number): number {
  if (level.sum + need <= perSecond || level.sum === 0) return 0;
  let sum = level.sum;
  for (let k = level.head; k < level.recent.length; k++) {
    sum -= level.recent[k]!.amount;
    if (sum + need <= perSecond || sum <= 0) return Math.max(1, level.recent[k]!.at + SECOND_MS - now);
  }
  return 1;
}

/** Removes `need` from what the last second took: the newest entry of that amount, as if it had never gone. */
function forget(level: Level, need: number): boolean {
  for (let k = level.recent.length - 1; k >= level.head; k--) {
    if (level.recent[k]!.amount === need) {
      level.sum -= need;
      level.recent.splice(k, 1);
      return true;
    }
  }
  return false;
}

export class Pacer {
  private readonly levels = new Map<keyof Limits, Level>();
  /** Refused sends whose place is given back once the provider's interval has room again (see `refused`). */
  private credits: { at: number; cost: Cost; limits: Limits }[] = [];
  /** The share of the stated rate paced at the last trim, and when. */
  private trimmed: { share: number; at: number };
  /** Refusals of a used-up second since `at`. */
  private refusals = { count: 0, at: -Infinity };

  /** @param ceiling - the share paced while nothing trims it (see {@link paceCeiling}). */
  constructor(private readonly ceiling = PACE_SHARE) {
    this.trimmed = { share: ceiling, at: -Infinity };
  }

  /** The share of the stated rate paced now: the last trim's, given back slowly up to the ceiling. */
  share(now: number): number {
    const { share, at } = this.trimmed;
    if (share >= this.ceiling) return this.ceiling;
    return Math.min(
      this.ceiling,
      share + (Math.max(0, now - at - TRIM_EVERY_MS) / SECOND_MS) * SHARE_RECOVERY_PER_SECOND
    );
  }

  /**
   * The provider refused a request because a second's budget was used up, though the pace kept every second under
   * it: our requests reach the provider less evenly than they left (a busy event loop sends several at once, the
   * network and the provider's own clock add jitter). When more than `TOLERATED_REFUSALS` of the requests
   * (`requestsPerSecond`) of `REFUSAL_WINDOW_MS` are refused so, the margin is too thin for this path: the pace is
   * trimmed (down to `MIN_PACE_SHARE`; each trim needs refusals of its own) and given back slowly while no trim comes. Each refusal costs a turn of the
   * pace and a retry that waits for its batch; a stray one costs less than the margin that would avoid it.
   */
  bunched(now: number, requestsPerSecond: number): void {
    if (now - this.refusals.at >= REFUSAL_WINDOW_MS) this.refusals = { count: 0, at: now };
    this.refusals.count++;
    if (this.refusals.count <= requestsPerSecond * (REFUSAL_WINDOW_MS / SECOND_MS) * TOLERATED_REFUSALS) return;
    if (now - this.trimmed.at < TRIM_EVERY_MS) return;
    this.trimmed = { share: Math.max(Math.min(MIN_PACE_SHARE, this.ceiling), this.share(now) * SHARE_TRIM), at: now };
    // The next trim needs refusals of its own, at the trimmed pace.
    this.refusals = { count: 0, at: now };
  }

  /**
   * Takes `cost` from every paced limit and returns 0, or returns how many milliseconds to wait before it fits (and
   * takes nothing). A cost larger than a bucket goes once the bucket is full, leaving it in debt, so an oversized
   * request waits its turn instead of never going, and the long-run rate stays at the pace.
   */
  take(cost: Cost, limits: Limits, now: number): number {
    if (this.credits.length > 0) this.applyCredits(now);
    let wait = 0;
    const fills: [Level, number][] = [];
    const paced = this.share(now);
    for (const [key, amount] of PACED) {
      const limit = limits[key];
      const need = amount(cost);
      if (!limit || limit <= 0 || need <= 0) continue;
      const perMs = (limit * paced) / 60_000;
      const capacity = Math.max(need, limit * paced * (BURST_SECONDS / 60));
      let level = this.levels.get(key);
      // A new limit (or one that changed) starts with only its small burst, never a minute's worth.
      if (!level || level.limit !== limit) {
        level = { limit, tokens: capacity, at: now, recent: [], head: 0, sum: 0, given: [], givenSum: 0 };
        this.levels.set(key, level);
      }
      const tokens = Math.min(capacity, level.tokens + Math.max(0, now - level.at) * perMs);
      level.tokens = tokens;
      level.at = Math.max(level.at, now);
      expire(level, now);
      // Requests reach the provider a little bunched by our event loop and the network: their guard keeps the pace's
      // margin. Token budgets are counted in units far smaller than a request, so theirs is the plain second's share.
      const share = key === 'requestsPerMinute' ? paced : 1;
      const guard = guardWait(level, need, Math.max(1, Math.floor((limit * share) / 60)), now);
      if (tokens < need) wait = Math.max(wait, Math.ceil((need - tokens) / perMs), guard);
      else if (guard > 0) wait = Math.max(wait, guard);
      else fills.push([level, need]);
    }
    if (wait > 0) return wait;
    for (const [level, need] of fills) {
      level.tokens -= need;
      level.recent.push({ at: now, amount: need });
      level.sum += need;
    }
    return 0;
  }

  /** Gives back what `take` took for a send that never went out (the window refused it). */
  refund(cost: Cost, limits: Limits): void {
    for (const [key, amount] of PACED) {
      const level = this.levels.get(key);
      if (!level || limits[key] !== level.limit) continue;
      const need = amount(cost);
      level.tokens += need;
      // The latest entry of this amount is the refused send's.
      forget(level, need);
    }
  }

  /**
   * The provider refused a send taken with `limits`, and will have room again at `backAt` (its hint). A refused
   * request does not count with the provider, but it took its place in the pace: every refusal cost the second one
   * answer, so a stream refused a few percent of the time ran that much below the pace. Its place is given back at
   * `backAt`, not at once: given back while the provider's second is still full, the next send would be refused too.
   *
   * Only within the pace's margin (the stated rate less the paced share, per second): the sends of any second,
   * refused ones included, then stay within the stated limit. Beyond it, each place given back is one more send
   * into a provider that is full, which is refused and gives its place back in turn, a refusal that never ends.
   */
  refused(cost: Cost, limits: Limits, backAt: number): void {
    this.credits.push({ at: backAt, cost, limits });
  }

  /** Gives back the places of refused sends whose provider interval has room by `now`, within the margin. */
  private applyCredits(now: number): void {
    const due = this.credits.filter((c) => c.at <= now);
    if (due.length === 0) return;
    this.credits = this.credits.filter((c) => c.at > now);
    const margin = 1 - this.share(now);
    for (const { cost, limits } of due) {
      const touched: [Level, number][] = [];
      for (const [key, amount] of PACED) {
        const level = this.levels.get(key);
        const need = amount(cost);
        if (!level || limits[key] !== level.limit || need <= 0) continue;
        while (level.given.length > 0 && level.given[0]!.at <= now - SECOND_MS)
          level.givenSum -= level.given.shift()!.amount;
        touched.push([level, need]);
      }
      // A place is given back in every limit or in none: a send needs them all.
      if (!touched.every(([level, need]) => level.givenSum + need <= (level.limit * margin) / 60)) continue;
      for (const [level, need] of touched) {
        // Only what the last second still holds: a place that already left it is back in the tokens' refill.
        if (!forget(level, need)) continue;
        level.tokens += need;
        level.given.push({ at: now, amount: need });
        level.givenSum += need;
      }
    }
  }
}
