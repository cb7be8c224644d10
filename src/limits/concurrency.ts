/**
 * How many requests a worker keeps in flight for one bucket, from the work itself. With a known rate limit, Little's
 * law gives what the limit needs (in flight = rate x latency), with headroom for the spread of latencies, so the
 * target grows as answers slow down. With no limit known (self-hosted servers without headers), the target is found
 * by probing: it grows by one with every answer (doubling per round trip, as TCP's slow start) until the server shows
 * congestion, then grows slowly and shrinks by a factor on congestion (AIMD). Congestion is a refusal without evidence of a used-up budget (a 429 with budget left, 503, 529)
 * or, without headers, latency that grows with the load (a server queueing requests). Pure: time is passed in.
 */
import { totalmem } from 'node:os';
import { MAX_DEFAULT_CEILING, MEMORY_SHARE, MIN_DEFAULT_CEILING, REQUEST_MEMORY_BYTES } from '../defaults';

/**
 * The memory this process may use: the machine's, or its container's limit where that is lower (a worker in a
 * container of a few GiB on a large host would otherwise size itself by the host). `constrained` is what
 * `process.constrainedMemory()` reports: a cgroup's limit, or a huge number or nothing where there is none.
 */
export function usableMemory(total = totalmem(), constrained = process.constrainedMemory?.()): number {
  return constrained !== undefined && constrained > 0 && constrained < total ? constrained : total;
}

/** This process's {@link usableMemory}, read once: reading a container's limit reads its cgroup's files. */
let processMemory: number | undefined;

/**
 * The default upper bound of requests in flight in one worker process: 1/32 of the memory ({@link usableMemory}) at
 * 64 KiB each, between 256 and 8,192 (8,192 with 16 GiB or more).
 */
export function defaultConcurrencyCeiling(memoryBytes = (processMemory ??= usableMemory())): number {
  const byMemory = Math.floor((memoryBytes * MEMORY_SHARE) / REQUEST_MEMORY_BYTES);
  return Math.max(MIN_DEFAULT_CEILING, Math.min(MAX_DEFAULT_CEILING, byMemory));
}

/** In flight beyond what Little's law says the limit needs: latencies spread, and pacing queues a few. */
export const HEADROOM = 1.5;
/** Added to every target, so short latencies still keep a few requests ready. */
export const SPARE = 16;
/** The latency assumed before any answer came back. */
export const INITIAL_LATENCY_MS = 1000;
/** Where probing starts without a known limit. */
export const INITIAL_PROBE = 16;
/**
 * Without a known limit, growth of the probe per answer: the target doubles per round trip. An overshoot past a
 * server's capacity stays small: a refusal cuts at once, and an answer that waited in the server's queue adds nothing.
 */
export const PROBE_GROWTH_PER_ANSWER = 1;
/** Growth per round while probing with a known limit (the window then only bounds the headroom). */
export const PROBE_GROWTH = 1.5;
/** The floor of every decrease. */
export const MIN_TARGET = 4;
/** Share of a round's requests refused with budget left that a known limit tolerates before trimming. */
export const TOLERATED_SHARE = 0.1;
/** Multiplicative decrease on congestion. */
export const DECREASE = 0.8;
/** Answers a round needs before its mean latency is compared: fewer are too noisy with long-tailed latencies. */
export const LATENCY_SAMPLE = 64;
/** Without headers: a round's mean latency this far above the unloaded latency means the server starts to queue. */
export const QUEUEING_HOLD = 1.15;
/** And this far above, that its queue is long: back off before it refuses. */
export const QUEUEING_DECREASE = 1.4;
/**
 * Without headers, rounds a target stays at the level where the server last refused before growing past it, one place
 * a round. Growing by the square root every round found the same capacity again and again, a burst of refusals each
 * time (the AIMD sawtooth); a server's capacity seldom changes, so it is probed again only now and then.
 */
export const HOLD_ROUNDS = 16;
/**
 * Where the target holds, as a share of what the server held when it refused: at the very level, answers and new
 * requests crossing on the wire draw a refusal now and then.
 */
export const HOLD_SHARE = 0.95;
/** Per round, the unloaded latency may drift up this much, so it follows slower prompts or a slower model. */
const BASE_DRIFT = 1.005;

interface Round {
  answered: number;
  congested: number;
  latencySum: number;
}

export interface ConcurrencySnapshot {
  target: number;
  latencyMs: number;
  probing: boolean;
}

export class ConcurrencyController {
  /** The AIMD window: the whole target without a known rate, an upper bound on the headroom with one. */
  private window: number;
  private probing = true;
  private latencyMs = INITIAL_LATENCY_MS;
  private measured = false;
  /** The lowest round mean seen: the latency of an unloaded server, drifting up slowly so it can follow a change. */
  private baseLatencyMs?: number;
  private round: Round = { answered: 0, congested: 0, latencySum: 0 };
  /** The window when the round began: what a round's latencies judge, before this round's growth per answer. */
  private roundWindow: number;
  /** Counts the cuts made on a refusal without headers; a request carries the count of when it was sent. */
  private cuts = 0;
  /**
   * Without headers, the most requests that were in flight when one was sent that the server then answered, since
   * the last cut: what the server showed it holds. A cut starts from it when the target ran ahead of it.
   */
  private held = 0;
  /** Without headers, what the server held when it last refused (see {@link HOLD_ROUNDS}), and rounds since then. */
  private refusedAt?: { level: number; rounds: number };

  /** @param ceiling - the most requests in flight ever (the default, or a job's larger `maxConcurrentRequests`). */
  constructor(private ceiling: number) {
    this.window = Math.min(ceiling, INITIAL_PROBE);
    this.roundWindow = this.window;
  }

  /** Whether an answer measured the latency (before, the target assumes {@link INITIAL_LATENCY_MS} or more). */
  get latencyKnown(): boolean {
    return this.measured;
  }

  /** A job allows more in flight than the ceiling so far. */
  raiseCeiling(ceiling: number): void {
    this.ceiling = Math.max(this.ceiling, ceiling);
  }

  /**
   * Requests to keep in flight. `requestsPerSecond` is the paced rate when a limit is known (undefined otherwise).
   * `unansweredMs`: how long the oldest request has been waiting for an answer; before any answer came back, the
   * latency is at least that (the limits probe opens a bucket before its first answer, see `limits-probe.ts`).
   */
  target(requestsPerSecond: number | undefined, unansweredMs = 0): number {
    if (requestsPerSecond === undefined) return Math.max(1, Math.min(this.ceiling, Math.round(this.window)));
    const latencyMs = this.measured ? this.latencyMs : Math.max(this.latencyMs, unansweredMs);
    const need = (requestsPerSecond * latencyMs) / 1000;
    const wanted = Math.ceil(need * HEADROOM) + SPARE;
    // Congestion trims the headroom, never below what the limit needs.
    const trimmed = this.probing ? wanted : Math.min(wanted, Math.max(Math.ceil(need) + SPARE, this.window));
    return Math.max(1, Math.min(this.ceiling, trimmed));
  }

  /**
   * An answer came back after `latencyMs` in flight; `inFlightAtSend`, when known, is how many requests (itself
   * included) were in flight when it was sent.
   */
  answered(latencyMs: number, requestsPerSecond: number | undefined, inFlightAtSend = 0): void {
    this.held = Math.max(this.held, inFlightAtSend);
    // A moving average that follows a change of model or load within a few dozen answers.
    this.latencyMs = this.measured ? this.latencyMs + (latencyMs - this.latencyMs) * 0.05 : latencyMs;
    this.measured = true;
    this.round.answered++;
    this.round.latencySum += latencyMs;
    // Without a known limit, probing grows with every answer (as TCP's slow start does) rather than once a round: a
    // round lasts one latency, and the steps of a whole round each left the pipe short for that long. An answer that
    // already waited in the server's queue adds nothing.
    const queued = this.baseLatencyMs !== undefined && latencyMs > this.baseLatencyMs * QUEUEING_HOLD;
    if (this.probing && requestsPerSecond === undefined && !queued) {
      this.window = Math.min(this.ceiling, this.window + PROBE_GROWTH_PER_ANSWER);
    }
    this.maybeEndRound(requestsPerSecond);
  }

  /** Tag a request with this when it is sent, and pass it back to `congested` (see there). */
  get epoch(): number {
    return this.cuts;
  }

  /**
   * A request was refused with no evidence of a used-up budget: a 429 with budget left, a 503 or a 529. `sentAt` is
   * the `epoch` when it was sent.
   *
   * Without headers the target is cut at the first refusal, not at the end of the round: a refusal comes back at
   * once and frees its place, which the next request takes and is refused too, so a target above the server's
   * capacity keeps drawing refusals until it comes down. Refusals of requests sent before that cut were caused by the
   * old target: they cut nothing more (one decrease per round trip, as TCP does).
   */
  congested(requestsPerSecond: number | undefined, sentAt = this.cuts): void {
    if (requestsPerSecond === undefined) {
      // A stale refusal says nothing of the target since the cut: it does not count in the new round either.
      if (sentAt === this.cuts) this.cut(requestsPerSecond);
      return;
    }
    this.round.congested++;
    this.maybeEndRound(requestsPerSecond);
  }

  /**
   * Multiplicative decrease now, and a new round to see its effect. Past the first probe, the decrease starts from
   * what the server was seen to hold when the target ran ahead of it (answers that came together, in a busy turn of
   * the event loop, grow the target by as many at once), and the target then stays below that level for a while
   * ({@link HOLD_ROUNDS}).
   */
  private cut(requestsPerSecond: number | undefined): void {
    const from = this.target(requestsPerSecond);
    // Out of the first probe, what was held is a round old (half of what was in flight): the target is cut instead.
    const level = this.probing ? from : this.held > 0 ? Math.min(from, this.held) : from;
    this.refusedAt = this.probing ? undefined : { level, rounds: 0 };
    this.probing = false;
    this.window = Math.max(MIN_TARGET, Math.floor(level * DECREASE));
    this.held = 0;
    this.cuts++;
    this.round = { answered: 0, congested: 0, latencySum: 0 };
    this.roundWindow = this.window;
  }

  snapshot(requestsPerSecond: number | undefined): ConcurrencySnapshot {
    return { target: this.target(requestsPerSecond), latencyMs: this.latencyMs, probing: this.probing };
  }

  /** A round is about one target's worth of outcomes: one trip of the pipe, when each decision shows its effect. */
  private maybeEndRound(requestsPerSecond: number | undefined): void {
    const r = this.round;
    const size = r.answered + r.congested;
    // Without headers the target grows within the round: the round is the target it began with.
    const length =
      requestsPerSecond === undefined
        ? Math.min(this.target(undefined), Math.round(this.roundWindow))
        : this.target(requestsPerSecond);
    if (size < Math.max(MIN_TARGET * 2, length)) return;
    this.round = { answered: 0, congested: 0, latencySum: 0 };
    const share = r.congested / size;
    const mean = r.answered > 0 ? r.latencySum / r.answered : undefined;
    const headerless = requestsPerSecond === undefined;
    let queueing = 1;
    if (mean !== undefined && r.answered >= LATENCY_SAMPLE) {
      if (this.baseLatencyMs !== undefined) queueing = mean / this.baseLatencyMs;
      this.baseLatencyMs = Math.min((this.baseLatencyMs ?? mean) * BASE_DRIFT, mean);
    }
    const current = this.target(requestsPerSecond);
    // A known limit tolerates a trickle of refusals (its pacing holds the rate); a server without limits is told
    // apart from a full one only by its refusals and its queueing, so every sign counts there.
    // (Without headers a refusal has cut already, in `congested`.)
    const overloaded = headerless ? queueing > QUEUEING_DECREASE : share > TOLERATED_SHARE;
    // Latencies judge the load the round was sent at: growth per answer since then is not kept on a sign of queueing.
    const judged = headerless ? Math.min(current, Math.round(this.roundWindow)) : current;
    if (overloaded) {
      this.probing = false;
      this.window = Math.max(MIN_TARGET, Math.floor(judged * DECREASE));
    } else if (headerless && queueing > QUEUEING_HOLD) {
      // Answers slow down before refusals start: stop probing, grow no further.
      this.probing = false;
      this.window = Math.min(this.window, judged);
    } else if (r.congested === 0) {
      if (this.probing && !headerless) this.window = Math.min(this.ceiling, this.window * PROBE_GROWTH);
      else if (!this.probing) this.window = Math.min(this.ceiling, this.grown(headerless));
    }
    if (!headerless && r.congested === 0) this.window = Math.max(this.window, current);
    this.roundWindow = this.window;
    if (this.refusedAt) this.refusedAt.rounds++;
  }

  /** The window after a round without congestion, past probing: additive growth, held below the last refusal. */
  private grown(headerless: boolean): number {
    const next = this.window + Math.max(1, Math.sqrt(this.window));
    const last = headerless ? this.refusedAt : undefined;
    if (!last) return next;
    const hold = Math.max(MIN_TARGET, Math.floor(last.level * HOLD_SHARE));
    if (this.window < hold) return Math.min(next, hold);
    return this.window + (last.rounds >= HOLD_ROUNDS ? 1 : 0);
  }
}
