/**
 * The rate limiter of one bucket (provider, base URL, model) in one worker process. Limits come from the user's
 * settings first, then from the provider's headers on real responses (learned once, kept in the shared window for
 * every later job); with neither, the concurrency controller finds the server's capacity from its congestion.
 *
 * Admission is per request, in the order requests asked: a slot (the controller's target of requests in flight),
 * then the pace (a small token bucket per limit, so a minute's budget is spread over the minute), then the shared
 * window (the minute's exact budget, across every process on the machine).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { ConcurrencyController } from './concurrency';
import { Gate } from './gate';
import { refusalEvidence } from './evidence';
import { readRateLimitHeaders } from './headers';
import { Pacer, paceCeiling, type Enforcement } from './pacing';
import { WireGate } from './wire-gate';
import type { LimitWindow, SendRef } from './limit-window';
import { hasLimits, sameLimits, type Cost, type Limits } from './window';

type HeaderSource = { get(name: string): string | null };

export interface RateLimiterOptions {
  bucket: string;
  /** The user's settings; they win over headers field by field. */
  configured: Limits;
  /** Requests in flight at most, in this process: the controller's ceiling (jobs may raise it, see `raiseCeiling`). */
  maxConcurrent: number;
  window: LimitWindow;
  /**
   * How the provider enforces its limits over short intervals, which sets how much of the rate is paced.
   * @defaultValue 'per-interval'
   */
  enforcement?: Enforcement;
}

/**
 * Whom a refusal holds back: every request of the bucket (the limiter paused it, for a used-up budget), or only the
 * refused request, which its caller may try again after its own `retry-after`.
 */
export type RefusalScope = 'bucket' | 'request';

/** What the caller reports when its request ends. */
export interface Permit {
  /** The provider answered: replace the estimate by the usage and learn from the headers. */
  answered(usage: { input: number; output: number } | undefined, headers?: HeaderSource): void;
  /**
   * The provider refused with a 429. With evidence of a used-up budget the bucket pauses for everyone, for the hint
   * or a backoff; without, only this request waits (the caller retries it) and the controller counts congestion.
   */
  rateLimited(retryAfterMs: number | undefined, headers?: HeaderSource): RefusalScope;
  /** The server was congested (503, 529 overloaded): only this request waits; the controller counts it. */
  congested(headers?: HeaderSource): RefusalScope;
  /** Any other failure: the send may have counted, so it stays in the window. */
  failed(headers?: HeaderSource): void;
  /** The request was not sent after all (its batch stopped meanwhile): the window forgets it. */
  unused(): void;
  /** The bucket's last step before the wire: the call hands it to the HTTP client (see `wire-gate.ts`). */
  readonly wire: WireGate;
}

/** What one process is doing with a bucket, for progress displays. */
export interface LimiterLoad {
  inFlight: number;
  target: number;
}

const MAX_BACKOFF_MS = 60_000;
/** Before any answer, after the limits probe, how often waiters are let in as the target grows (see `probed`). */
const UNANSWERED_PUMP_MS = 250;
/** A used-up budget back within this long does not pause a paced bucket (see `rateLimited`). */
const PACED_REFUSAL_MS = 1000;
/** The window's totals (to spot other machines' use in the headers) are read at most this often. */
export const TOTALS_EVERY_MS = 1000;
/** This process's load is written for progress displays (and for the other processes' pace) at most this often. */
const REPORT_EVERY_MS = 1000;
/**
 * How often the other processes sending on the bucket are counted again, to share the pace with them. Often: until a
 * process sees one that started with it, both pace to the whole rate, which a per-second limit refuses.
 */
export const PEERS_EVERY_MS = 200;

/**
 * The limits one of `processes` paces to: the per-minute limits split evenly. The shared window keeps the minute for
 * all of them together, but each process's pacer spreads only its own sends: two paced to the whole limit send twice
 * the rate in every second until the minute is used up, then nothing, which per-second enforcement refuses.
 */
export function paceShare(limits: Limits, processes: number): Limits {
  if (processes <= 1) return limits;
  const split = (v: number | undefined) => (v === undefined ? undefined : v / processes);
  return {
    ...limits,
    requestsPerMinute: split(limits.requestsPerMinute),
    tokensPerMinute: split(limits.tokensPerMinute),
    inputTokensPerMinute: split(limits.inputTokensPerMinute),
    outputTokensPerMinute: split(limits.outputTokensPerMinute),
  };
}

export class RateLimiter {
  /**
   * Places for requests in flight, as many as the controller's target. {@link acquire} takes one unless its caller
   * holds one already: a shard queues here once for all its requests (`Gate.takeEach`), so a request beyond the target
   * waits as its index, not as a call in progress. A place taken is given back by the permit, or by
   * {@link releaseSlot} if no permit is asked for.
   */
  readonly slots = new Gate(() => this.concurrencyTarget());
  private readonly controller: ConcurrencyController;
  private readonly pacer: Pacer;
  /** Writes of this process's requests, held to the pace's share of any second by the time they leave. */
  private readonly wire = new WireGate(() => this.wirePerSecond());
  private consecutive429 = 0;
  /** Whether the provider has answered any request of this bucket in this process (or its limits probe). */
  private answeredOnce = false;
  /** When this process sent the bucket's first request: before any answer, the latency is at least its age. */
  private firstSentAt?: number;
  private learnedFromHeaders?: Limits;
  private admission: Promise<unknown> = Promise.resolve();
  /** Admissions queued behind `admission`; with none, a request may be admitted at once. */
  private queued = 0;
  /** The merged limits of the last learned object seen (the window returns the same object until they change). */
  private merged?: { learned: Limits | undefined; limits: Limits };
  /** The window's request total at `at`, plus what this process admitted since: read at most every second. */
  private known?: { at: number; requests: number };
  /** Recent estimated cost per request, to turn token limits into a request rate. */
  private typical?: Cost;
  private reportedAt = 0;
  /** Other processes sending on this bucket lately, counted at `at` (see `PEERS_EVERY_MS`). */
  private peers = { at: -Infinity, count: 0 };

  constructor(private readonly options: RateLimiterOptions) {
    this.controller = new ConcurrencyController(options.maxConcurrent);
    this.pacer = new Pacer(paceCeiling(options.enforcement));
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

  /** Requests per second the limits allow, for Little's law; undefined when no limit is known. */
  private requestRate(limits: Limits): number | undefined {
    const t = this.typical;
    const rates = [
      limits.requestsPerMinute ? limits.requestsPerMinute / 60 : undefined,
      limits.requestsPerSecond,
      limits.tokensPerMinute && t && t.input + t.output > 0
        ? limits.tokensPerMinute / 60 / (t.input + t.output)
        : undefined,
      limits.inputTokensPerMinute && t && t.input > 0 ? limits.inputTokensPerMinute / 60 / t.input : undefined,
      limits.outputTokensPerMinute && t && t.output > 0 ? limits.outputTokensPerMinute / 60 / t.output : undefined,
    ].filter((r): r is number => r !== undefined && r > 0);
    return rates.length ? Math.min(...rates) : undefined;
  }

  /**
   * Requests this process keeps in flight now. Until an answer (or the limits probe's headers) came back, one request
   * goes at a time: its headers tell the limits, and a wrong key or model costs one request, not a queue of them.
   */
  concurrencyTarget(): number {
    if (!this.answeredOnce) return 1;
    const limits = this.limits();
    const unanswered = this.firstSentAt === undefined ? 0 : Date.now() - this.firstSentAt;
    return this.controller.target(this.requestRate(limits), unanswered);
  }

  /** Whether a limits probe would help: nothing answered in this process and no limit known, learned or configured. */
  wantsLimits(): boolean {
    return !this.answeredOnce && !hasLimits(this.limits());
  }

  /**
   * The provider answered the bucket's limits probe (`limits-probe.ts`): its headers are learned as an answer's are,
   * and the key and model are good, so the bucket leaves its one request at a time at once.
   */
  probed(headers: HeaderSource): void {
    this.observe(headers);
    this.answeredOnce = true;
    this.slots.pump();
    // Until an answer measures the latency, the target grows with the first request's age and no answer lets the
    // waiters in: they are let in as it grows, until an answer comes or nothing is left to send.
    const grow = setInterval(() => {
      if (this.controller.latencyKnown || (this.slots.inUse === 0 && this.slots.waiting === 0)) clearInterval(grow);
      else this.slots.pump();
    }, UNANSWERED_PUMP_MS);
    grow.unref();
  }

  /** A job allows more requests in flight than the ceiling so far; each job's own bound is kept by its gate. */
  raiseCeiling(maxConcurrent: number): void {
    this.controller.raiseCeiling(maxConcurrent);
    this.slots.pump();
  }

  /** Requests in flight and the target, in this process. */
  load(): LimiterLoad {
    return { inFlight: this.slots.inUse, target: this.concurrencyTarget() };
  }

  /** Gives back a place of {@link slots} taken for a request that asks for no permit after all. */
  releaseSlot(): void {
    this.slots.release();
    this.report();
  }

  /** Writes this process's load for progress displays, at most once a second. */
  private report(): void {
    const now = Date.now();
    if (now - this.reportedAt < REPORT_EVERY_MS) return;
    this.reportedAt = now;
    this.options.window.report(this.options.bucket, this.load(), now);
  }

  /**
   * Waits for a slot (unless `slotHeld`: the caller took one of {@link slots}, and hands it over), then until `cost`
   * fits the pace and the bucket's limits (and any pause is over). A function is asked for the cost once the request
   * has its slot: an estimate made when a request joins a long queue would miss everything learned from the answers
   * before its turn. The slot is the permit's from then on; if no permit comes (an abort), it is given back here.
   */
  async acquire(costOf: Cost | (() => Cost), signal?: AbortSignal, slotHeld = false): Promise<Permit> {
    if (!slotHeld) await this.slots.take(signal);
    let cost: Cost;
    try {
      cost = typeof costOf === 'function' ? costOf() : costOf;
    } catch (err) {
      this.releaseSlot();
      throw err;
    }
    const t = this.typical;
    this.typical = t
      ? {
          requests: 1,
          input: t.input + (cost.input - t.input) * 0.05,
          output: t.output + (cost.output - t.output) * 0.05,
        }
      : { ...cost };
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

  /** One attempt through the pace and the window: the send's place in the window, or how long to wait. */
  private tryAdmit(cost: Cost, now: number): { ref: SendRef } | { waitMs: number } {
    const { window, bucket } = this.options;
    const state = window.state(bucket);
    if (state.pausedUntil > now) return { waitMs: state.pausedUntil - now };
    // Sends count even while no limit is known: the first request's headers may reveal one it counts against.
    const limits = this.limits(state.learned);
    if (now - this.peers.at >= PEERS_EVERY_MS) {
      this.peers = { at: now, count: window.peers(bucket, now) };
      // This process's own report must be as fresh for the others, or they would pace as if it had stopped.
      this.report();
    }
    const paced = paceShare(limits, this.peers.count + 1);
    const paceMs = this.pacer.take(cost, paced, now);
    if (paceMs > 0) return { waitMs: paceMs };
    const result = window.tryAdmit(bucket, cost, limits, now);
    // The minute is full: the paced turn was not used.
    if (!('ref' in result)) this.pacer.refund(cost, paced);
    return result;
  }

  /** One admission attempt that does not wait: the send's place in the window, or undefined when it must wait. */
  private admitNow(cost: Cost): SendRef | undefined {
    const result = this.tryAdmit(cost, Date.now());
    return 'ref' in result ? result.ref : undefined;
  }

  private async admit(cost: Cost, signal?: AbortSignal): Promise<SendRef> {
    for (;;) {
      signal?.throwIfAborted();
      const result = this.tryAdmit(cost, Date.now());
      if ('ref' in result) return result.ref;
      // Re-check at least every second: another process may pause the bucket or learn new limits meanwhile.
      await delay(Math.min(result.waitMs, 1000), undefined, { signal });
    }
  }

  private permit(ref: SendRef): Permit {
    const sentAt = Date.now();
    this.firstSentAt ??= sentAt;
    const epoch = this.controller.epoch;
    const inFlightAtSend = this.slots.inUse;
    let done = false;
    // Each outcome is reported once; the slot is freed after the outcome is learned from, so the next admission
    // already sees a new target or pause.
    const once = (handle: () => void) => {
      if (done) return;
      done = true;
      try {
        handle();
      } finally {
        this.releaseSlot();
      }
    };
    /** The refused request did not count with the provider; only this one waits, and the controller hears of it. */
    const congestion = () => {
      this.controller.congested(this.rateNow(), epoch);
    };
    return {
      wire: this.wire,
      answered: (usage, headers) =>
        once(() => {
          if (usage) this.options.window.settle(ref, usage.input, usage.output);
          this.consecutive429 = 0;
          this.answeredOnce = true;
          this.observe(headers);
          this.controller.answered(Date.now() - sentAt, this.rateNow(), inFlightAtSend);
        }),
      rateLimited: (retryAfterMs, headers) => {
        let scope: RefusalScope = 'request';
        once(() => {
          // A refused request is not counted by the provider: nor by the window, nor, once the provider has room
          // again, by the pace.
          this.options.window.remove(ref);
          if (this.known) this.known.requests -= ref.cost.requests;
          this.observe(headers);
          const backAt = Date.now() + (retryAfterMs ?? 0);
          this.pacer.refused(ref.cost, paceShare(this.limits(), this.peers.count + 1), backAt);
          this.wire.refused(backAt);
          if (refusalEvidence(429, headers) === 'congestion') return congestion();
          // A budget out for less than a second, while the pace spreads the minute: the provider counts per second
          // and a few requests reached it bunched. Pausing every request for it would cost more than the refusal;
          // a little more margin in the pace avoids the next ones.
          const rate = this.rateNow();
          if (retryAfterMs !== undefined && retryAfterMs <= PACED_REFUSAL_MS && rate !== undefined) {
            this.pacer.bunched(Date.now(), rate);
            return;
          }
          scope = 'bucket';
          this.consecutive429++;
          const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (this.consecutive429 - 1)) * (1 - Math.random() * 0.25);
          this.options.window.pause(this.options.bucket, Date.now() + (retryAfterMs ?? backoff));
        });
        return scope;
      },
      congested: (headers) => {
        once(() => {
          this.observe(headers);
          congestion();
        });
        return 'request';
      },
      failed: (headers) => once(() => this.observe(headers)),
      unused: () =>
        once(() => {
          this.options.window.remove(ref);
          if (this.known) this.known.requests -= ref.cost.requests;
        }),
    };
  }

  /**
   * Requests this process may write in any second: the per-minute request limit's share of a second, as the pace
   * spreads it (its share of the stated rate, this process's share of the machines sending on the bucket), or the
   * per-second limit. Undefined without a request limit: writes then go at once.
   */
  private wirePerSecond(): number | undefined {
    const limits = paceShare(this.limits(), this.peers.count + 1);
    const perMinute = limits.requestsPerMinute;
    const fromMinute = perMinute ? Math.floor((perMinute * this.pacer.share(Date.now())) / 60) : Infinity;
    const perSecond = Math.min(fromMinute, limits.requestsPerSecond ?? Infinity);
    return perSecond === Infinity ? undefined : Math.max(1, perSecond);
  }

  /** The request rate of the limits in force, or undefined when none is known. */
  private rateNow(): number | undefined {
    const limits = this.limits();
    return hasLimits(limits) ? this.requestRate(limits) : undefined;
  }

  /** Learns limits from headers, and counts use of the key that other machines make as the provider reports it. */
  private observe(headers: HeaderSource | undefined): void {
    const snapshot = readRateLimitHeaders(headers);
    if (!snapshot) return;
    const { window, bucket } = this.options;
    if (!this.learnedFromHeaders || !sameLimits(this.learnedFromHeaders, snapshot.limits)) {
      this.learnedFromHeaders = snapshot.limits;
      window.learn(bucket, Object.fromEntries(Object.entries(snapshot.limits).filter(([, v]) => v !== undefined)));
    }
    const limit = snapshot.limits.requestsPerMinute;
    // A provider that quantizes the minute per second reports what the current second has left: a `remaining` within
    // one second's share says nothing about the minute, and read as minute use it would block the bucket for a minute.
    if (limit !== undefined && snapshot.remainingRequests !== undefined && snapshot.remainingRequests > limit / 60) {
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
