/**
 * The last step of pacing: a request's bytes go to the socket only when the last second of writes leaves room, and
 * only at the start of a turn of the event loop.
 *
 * The pacer (`pacing.ts`) decides when a request may go, but the request reaches the wire later: after the provider
 * SDK's promise chain and the HTTP client's `process.nextTick`, which Node runs only once every promise job of the
 * current task is done. When a request is admitted inside a long task (the answers of one response-log flush, each
 * letting the next request in), its write waits for the whole task, and the sends admitted across it leave together:
 * evenly admitted, they reach the provider bunched, and a provider that enforces its limit per second refuses the
 * bunch (bench/README.md, "2026-11-30, 15:15–16:05 UTC"). The gate holds each write to its own task (`setImmediate`
 * or a timer), where the HTTP client writes at once, and counts the writes by the time they really leave; no sliding
 * second of writes ever carries more than the pace's share of a second. Only requests are counted: token limits stay
 * with the pacer.
 */

/** The key under which a request's `fetch` options carry its gate (see `providers/http-transport.ts`). */
export const WIRE_GATE: unique symbol = Symbol.for('temporal-curator.wire-gate');

const SECOND_MS = 1000;
/**
 * The most writes let out at once, in seconds of the rate: what a stalled event loop could not send is sent after the
 * stall (the sliding second keeps it within the limit), but a backlog is spread rather than written in one block.
 */
export const BURST_SECONDS = 0.25;
/**
 * The spreading lets writes out a little faster than the limit: the sliding second alone holds them to it, and after a
 * stall, or a second that was full, the writes catch up instead of losing what the burst could not hold.
 */
const CATCH_UP = 1.1;
/** While the last second's writes are under this share of the limit, a write goes at once, in its caller's task. */
export const FREE_SHARE = 0.5;
/** Writes are let out in small groups rather than one timer each. */
const MIN_WAIT_MS = 4;

/**
 * Tells the gate that a write left later than the task it was let out in, at `at`: its connection was still being
 * opened, and the HTTP client writes once it is.
 */
export type LateWrite = (at: number) => void;

interface Waiting {
  go: (late: LateWrite) => void;
  gone: boolean;
}

/**
 * A bucket's last step before the wire, one per bucket in each worker process: a request's HTTP client calls `send`
 * with a function that starts the write, and the gate calls it in a task of its own when the last second of writes has
 * room (see the module comment). A custom {@link ProviderClient} may ignore it.
 */
export class WireGate {
  /** When the writes of the last second left, oldest first from `head`. */
  private sent: number[] = [];
  private head = 0;
  private queue: Waiting[] = [];
  private queueHead = 0;
  /** A run of `pump` is scheduled (the next turn, or when the next write's turn comes). */
  private scheduled = false;
  /** Writes that may go now at the rate (a token bucket), as of `at` (0: nothing written yet). */
  private tokens = 0;
  private at = 0;
  /** When refused writes stop counting (see `refused`), in order. */
  private forgets: number[] = [];

  /**
   * @param perSecond - writes allowed in any sliding second now, asked at each write; undefined: no limit is known,
   *   and writes go at once.
   * @param now - the clock, for tests.
   */
  constructor(
    private readonly perSecond: () => number | undefined,
    private readonly now: () => number = Date.now
  ) {}

  /** Requests waiting for their turn to be written. */
  get waiting(): number {
    return this.queue.length - this.queueHead;
  }

  /**
   * Calls `write` (which must start the request's write synchronously) in a turn of its own once the last second
   * has room for it; rejects with the signal's reason if the signal aborts first.
   */
  send<T>(write: (late: LateWrite) => Promise<T>, signal?: AbortSignal | null): Promise<T> {
    if (this.waiting === 0) {
      const limit = this.perSecond();
      if (limit === undefined) return write(() => undefined);
      // Far from the limit, bunching costs nothing: the write goes at once, as if there were no gate. Deferring every
      // write by a turn would lengthen each request by one, which at low latency is most of its time.
      const now = this.now();
      if (this.lastSecond(now) < limit * FREE_SHARE) {
        this.sent.push(now);
        return write((at) => this.moveLate(now, at));
      }
    }
    signal?.throwIfAborted();
    // The first writes start the spreading, with no burst saved up: thousands of requests wait for the first turn.
    if (this.at === 0) {
      this.at = this.now();
      this.tokens = 1;
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        waiting.gone = true;
        reject(signal!.reason);
      };
      const waiting: Waiting = {
        gone: false,
        go: (late) => {
          signal?.removeEventListener('abort', onAbort);
          write(late).then(resolve, reject);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiting);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.pump);
      }
    });
  }

  /**
   * Writes that count in the last second as of `now`: those older are forgotten, and so are refused ones whose hint
   * has come (see `refused`). Strictly older than a second by the millisecond clock: a write stamped at the edge may
   * be a little younger.
   */
  private lastSecond(now: number): number {
    while (this.head < this.sent.length && this.sent[this.head]! < now - SECOND_MS) this.head++;
    let due = 0;
    while (due < this.forgets.length && this.forgets[due]! <= now) due++;
    if (due > 0) {
      // The newest writes stand for the refused ones, which went out just before their refusal came back.
      for (let k = 0; k < due && this.sent.length > this.head; k++) this.sent.pop();
      this.forgets.splice(0, due);
    }
    if (this.head > 1024 && this.head * 2 > this.sent.length) {
      this.sent = this.sent.slice(this.head);
      this.head = 0;
    }
    return this.sent.length - this.head;
  }

  /**
   * A write counted at `stamp` left at `at`: its count moves to then (any write counted at `stamp` stands for it), so a
   * second of writes on new connections is counted as the provider sees it. One already out of the last second stays
   * out.
   */
  private moveLate(stamp: number, at: number): void {
    if (at <= stamp) return;
    let k = this.sent.length - 1;
    while (k >= this.head && this.sent[k]! > stamp) k--;
    if (k < this.head || this.sent[k] !== stamp) return;
    this.sent.splice(k, 1);
    let j = this.sent.length;
    while (j > this.head && this.sent[j - 1]! > at) j--;
    this.sent.splice(j, 0, at);
  }

  /**
   * The provider refused a write without counting it (a 429 of a used-up second): from `backAt` (its hint, when its
   * second has room again) the write no longer counts in the last second, as it does not with the provider. Not at
   * once: a place given back while the provider's second is still full would be refused in its turn.
   */
  refused(backAt: number): void {
    this.forgets.push(backAt);
    if (this.forgets.length > 1 && backAt < this.forgets[this.forgets.length - 2]!) this.forgets.sort((a, b) => a - b);
  }

  /**
   * Writes waiting requests, oldest first, at the rate the last second allows (at most a short burst at once) and
   * never more than it in any sliding second; then waits for the next one's turn.
   */
  private readonly pump = (): void => {
    this.scheduled = false;
    const now = this.now();
    const counted = this.lastSecond(now);
    const asked = this.perSecond();
    const limit = asked === undefined ? undefined : Math.max(1, asked);
    const perMs = limit === undefined ? 0 : (limit * CATCH_UP) / SECOND_MS;
    if (limit !== undefined) {
      this.tokens = Math.min(Math.max(1, limit * BURST_SECONDS), this.tokens + Math.max(0, now - this.at) * perMs);
    }
    this.at = now;
    const first = this.sent.length;
    let inSecond = counted;
    // When this pump's writes are counted as gone, for those that report leaving later (see `moveLate`).
    const batch = { end: now, done: false, early: [] as number[] };
    const late: LateWrite = (at) => (batch.done ? this.moveLate(batch.end, at) : batch.early.push(at));
    while (this.queueHead < this.queue.length) {
      const next = this.queue[this.queueHead]!;
      if (next.gone) {
        this.queueHead++;
        continue;
      }
      if (limit !== undefined) {
        const full = inSecond >= limit;
        if (full || this.tokens < 1) {
          const wait = full
            ? Math.min(this.sent[this.head]! + SECOND_MS + 1, this.forgets[0] ?? Infinity) - now
            : Math.ceil((1 - this.tokens) / perMs);
          this.scheduled = true;
          setTimeout(this.pump, Math.max(MIN_WAIT_MS, wait));
          break;
        }
        this.tokens--;
      }
      this.queueHead++;
      this.sent.push(now);
      inSecond++;
      next.go(late);
    }
    // The writes leave when this task ends (the HTTP client writes in `process.nextTick`): count them from then, or a
    // long run of writes would leave the second before it really did.
    const end = this.now();
    for (let k = first; k < this.sent.length; k++) this.sent[k] = end;
    batch.end = end;
    batch.done = true;
    for (const at of batch.early) this.moveLate(end, at);
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  };
}
