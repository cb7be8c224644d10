/**
 * The send log of each rate-limit bucket, in a SQLite file beside the cache, so every worker process on the machine
 * (or on a volume they share) admits requests against one window: two workers with one key get one limit between
 * them, not one each. Also keeps each bucket's pause (after a 429) and the limits learned from headers.
 *
 * Sends are summed into 100 ms slots, so a window holds at most 600 rows however fast requests go.
 *
 * Admission is cheap at any rate because a process does not write every send: it reserves a *grant* (room for a few
 * requests, sized by its recent demand and at most a quarter of what the limits leave) in one transaction, counted in
 * the file at once so other processes see it, and admits the next ~100 ms of its requests from that grant in memory.
 * What a grant did not use, and corrections from the actual usage or from refused requests, are written back within
 * ~100 ms. The file therefore never holds less than what was really sent: sharing stays exact, a reservation only
 * makes other processes a little more careful for a moment. Only when a request does not fit the sums of the window
 * does admission read the window's slots, to say how long it must wait.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  admissionDelay,
  dimensions,
  horizon,
  sameLimits,
  WINDOW_MARGIN_MS,
  type Cost,
  type Limits,
  type WindowEntry,
} from './window';
import type { BucketState, LimitWindow, SendRef } from './limit-window';

export const SLOT_MS = 100;
/** How long a grant may be drawn on: the window's state is at most this old for this process's own admissions. */
export const GRANT_MS = 100;
/** How long the pause and the learned limits of a bucket are taken from memory before the file is read again. */
export const STATE_TTL_MS = 100;
/** Old slots are deleted at most this often (the sums ignore them anyway). */
const PRUNE_EVERY_MS = 1000;
/** A grant covers at most this many requests, whatever the demand. */
export const MAX_GRANT_REQUESTS = 1000;
/** The first grant of a bucket, before any demand was seen. */
export const FIRST_GRANT_REQUESTS = 4;
/** A grant takes at most this share of what the limits leave, so processes sharing a bucket leave room to each other. */
export const GRANT_SHARE = 0.25;

export type { BucketState, SendRef };

export interface SharedWindowOptions {
  /** The clock of the caches (tests move it); admission itself takes `now` from its caller. */
  clock?: () => number;
  /** This sender's key in the loads table. Default: the pid and the window's number in the process. */
  processId?: number;
  /** Writes buffered corrections after this long (default `GRANT_MS`); tests flush by hand with `flush()`. */
  flushAfterMs?: number;
}

interface Grant {
  /** The slot the grant is counted in; its sends may be made until then. */
  at: number;
  limits: Limits;
  reserved: Cost;
  left: Cost;
}

interface BucketMemory {
  grant?: Grant;
  /** Requests admitted from the last grant: the next one is sized by it. */
  lastUse: number;
  /** Corrections not yet written, by slot. */
  pending: Map<number, Cost>;
  state?: { at: number; value: BucketState };
}

/** The end of the 100 ms slot holding `t`: a send counts as if made then. */
export const slotEnd = (t: number): number => Math.ceil((t + 1) / SLOT_MS) * SLOT_MS;

export function fitsIn(cost: Cost, room: Cost): boolean {
  return cost.requests <= room.requests && cost.input <= room.input && cost.output <= room.output;
}

/** Sums of one bucket's window: the whole minute, and the last second for a per-second limit. */
export interface WindowSums {
  minute: Cost;
  second: Cost;
}

/**
 * How many copies of `cost` fit beside `sums` under every limit (Infinity with none). A cost larger than a whole
 * limit fits once into an empty window rather than never, so one oversized request cannot stall a job; this matches
 * `admissionDelay`.
 */
export function copiesThatFit(sums: WindowSums, cost: Cost, limits: Limits): number {
  let copies = Infinity;
  for (const dim of dimensions(limits)) {
    const need = dim.amount(cost);
    if (need <= 0) continue;
    const used = dim.amount(dim.perSecond ? sums.second : sums.minute);
    if (used <= 0 && need > dim.limit) {
      copies = Math.min(copies, 1);
      continue;
    }
    copies = Math.min(copies, Math.floor((dim.limit - used) / need));
  }
  return Math.max(0, copies);
}

/** A process's load older than this is from a process that stopped: displays ignore it. */
export const LOAD_FRESH_MS = 5000;

/**
 * Requests in flight and the target summed over the processes that reported on `bucket` lately, from an open
 * `limits.db` (read-only is enough); undefined when none did.
 */
export function readLoad(
  db: Database.Database,
  bucket: string,
  now: number
): { inFlight: number; target: number } | undefined {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'loads'").get();
  if (!exists) return undefined;
  const row = db
    .prepare(
      `SELECT COUNT(*) AS n, COALESCE(SUM(in_flight), 0) AS inFlight, COALESCE(SUM(target), 0) AS target
       FROM loads WHERE bucket = ? AND at > ?`
    )
    .get(bucket, now - LOAD_FRESH_MS) as { n: number; inFlight: number; target: number };
  return row.n > 0 ? { inFlight: row.inFlight, target: row.target } : undefined;
}

/** Windows opened in this process, for their keys in the loads table. */
let windows = 0;

export class SharedWindow implements LimitWindow {
  private readonly db: Database.Database;
  private readonly statements;
  private readonly memory = new Map<string, BucketMemory>();
  private readonly clock: () => number;
  private readonly flushAfterMs: number;
  private readonly processId: number;
  private flushTimer?: NodeJS.Timeout;
  private lastPrune = 0;
  /** Whether a failed background flush was already reported (once until one succeeds again). */
  private flushFailed = false;

  constructor(
    private readonly path: string,
    options: SharedWindowOptions = {}
  ) {
    this.clock = options.clock ?? Date.now;
    this.flushAfterMs = options.flushAfterMs ?? GRANT_MS;
    // Each window is its own sender (a worker has one): two workers in one process count as two.
    this.processId = options.processId ?? process.pid * 1000 + (windows++ % 1000);
    mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // The window is worth seconds: losing its tail in a power cut costs nothing, a sync per write costs speed.
    this.db.pragma('synchronous = OFF');
    this.db.pragma('busy_timeout = 10000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS slots (bucket TEXT NOT NULL, at INTEGER NOT NULL, requests INTEGER NOT NULL,
        input INTEGER NOT NULL, output INTEGER NOT NULL, PRIMARY KEY (bucket, at)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS buckets (bucket TEXT PRIMARY KEY, paused_until INTEGER NOT NULL DEFAULT 0, learned TEXT);
      CREATE TABLE IF NOT EXISTS loads (bucket TEXT NOT NULL, pid INTEGER NOT NULL, in_flight INTEGER NOT NULL,
        target INTEGER NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (bucket, pid)) WITHOUT ROWID;
    `);
    this.statements = {
      prune: this.db.prepare('DELETE FROM slots WHERE at <= ?'),
      live: this.db.prepare('SELECT at, requests, input, output FROM slots WHERE bucket = ? AND at > ? ORDER BY at'),
      sums: this.db.prepare(
        `SELECT COALESCE(SUM(requests), 0) AS requests, COALESCE(SUM(input), 0) AS input,
           COALESCE(SUM(output), 0) AS output,
           COALESCE(SUM(CASE WHEN at > @second THEN requests END), 0) AS secondRequests
         FROM slots WHERE bucket = @bucket AND at > @minute`
      ),
      add: this.db.prepare(
        `INSERT INTO slots (bucket, at, requests, input, output) VALUES (@bucket, @at, @requests, @input, @output)
         ON CONFLICT(bucket, at) DO UPDATE SET requests = requests + excluded.requests,
           input = input + excluded.input, output = output + excluded.output`
      ),
      state: this.db.prepare('SELECT paused_until AS pausedUntil, learned FROM buckets WHERE bucket = ?'),
      pause: this.db.prepare(
        `INSERT INTO buckets (bucket, paused_until) VALUES (?, ?)
         ON CONFLICT(bucket) DO UPDATE SET paused_until = MAX(paused_until, excluded.paused_until)`
      ),
      report: this.db.prepare(
        `INSERT INTO loads (bucket, pid, in_flight, target, at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(bucket, pid) DO UPDATE SET in_flight = excluded.in_flight, target = excluded.target, at = excluded.at`
      ),
      peers: this.db.prepare(
        'SELECT COUNT(*) AS n FROM loads WHERE bucket = ? AND pid <> ? AND at > ? AND in_flight > 0'
      ),
      learn: this.db.prepare(
        `INSERT INTO buckets (bucket, learned) VALUES (?, ?) ON CONFLICT(bucket) DO UPDATE SET learned = excluded.learned`
      ),
    };
  }

  private bucketMemory(bucket: string): BucketMemory {
    let m = this.memory.get(bucket);
    if (!m) {
      m = { lastUse: 0, pending: new Map() };
      this.memory.set(bucket, m);
    }
    return m;
  }

  private add(bucket: string, at: number, cost: Cost): void {
    this.statements.add.run({ bucket, at, ...cost });
  }

  /** Queues a correction of slot `at`; written within `flushAfterMs`, or by the next grant's transaction. */
  private correct(bucket: string, at: number, delta: Cost): void {
    if (delta.requests === 0 && delta.input === 0 && delta.output === 0) return;
    const pending = this.bucketMemory(bucket).pending;
    const sum = pending.get(at);
    if (sum) {
      sum.requests += delta.requests;
      sum.input += delta.input;
      sum.output += delta.output;
    } else {
      pending.set(at, { ...delta });
    }
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      this.flushInBackground();
    }, this.flushAfterMs).unref();
  }

  /** Gives back what an expired or superseded grant did not use. */
  private returnGrant(bucket: string, m: BucketMemory): void {
    const grant = m.grant;
    if (!grant) return;
    m.grant = undefined;
    m.lastUse = grant.reserved.requests - grant.left.requests;
    this.correct(bucket, grant.at, {
      requests: -grant.left.requests,
      input: -grant.left.input,
      output: -grant.left.output,
    });
  }

  private writePending(bucket: string, m: BucketMemory): void {
    for (const [at, delta] of m.pending) this.add(bucket, at, delta);
    m.pending.clear();
  }

  /**
   * A flush from a timer has no caller to throw to: a failure (a full disk) would crash the worker. It is reported
   * once, the corrections that could not be written stay queued, and the next flush tries again.
   */
  private flushInBackground(): void {
    try {
      this.flush();
      this.flushFailed = false;
    } catch (err) {
      if (!this.flushFailed) {
        console.error(
          `temporal-curator: cannot write the rate limiter's window ${this.path}: ${(err as Error).message}. ` +
            'Free space on that disk; the limiter keeps its corrections in memory until then.'
        );
      }
      this.flushFailed = true;
      this.flushTimer ??= setTimeout(() => {
        this.flushTimer = undefined;
        this.flushInBackground();
      }, this.flushAfterMs).unref();
    }
  }

  /** Writes every queued correction, returning the unused part of grants that can no longer be drawn on. */
  flush(now = this.clock()): void {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    const work = [...this.memory.values()].some((m) => m.pending.size > 0 || (m.grant && m.grant.at <= now));
    if (work && this.db.open)
      this.db
        .transaction(() => {
          for (const [bucket, m] of this.memory) {
            if (m.grant && m.grant.at <= now) this.returnGrant(bucket, m);
            this.writePending(bucket, m);
          }
        })
        .immediate();
    // A grant still open is returned when it ends: check back then.
    const open = [...this.memory.values()].filter((m) => m.grant).map((m) => m.grant!.at);
    if (open.length > 0 && !this.flushTimer) {
      this.flushTimer = setTimeout(
        () => {
          this.flushTimer = undefined;
          this.flushInBackground();
        },
        Math.max(1, Math.min(...open) - now)
      ).unref();
    }
  }

  private sums(bucket: string, now: number): WindowSums {
    const row = this.statements.sums.get({
      bucket,
      minute: horizon(now),
      second: now - 1000 - WINDOW_MARGIN_MS,
    }) as Cost & { secondRequests: number };
    return {
      minute: { requests: row.requests, input: row.input, output: row.output },
      second: { requests: row.secondRequests, input: 0, output: 0 },
    };
  }

  /**
   * Admits `cost` now and says where it was counted, or how long to wait. From this process's grant when it has room
   * (memory only); else in one transaction, so processes never race: a new grant if the window's sums leave room,
   * else the exact wait from its slots.
   */
  tryAdmit(bucket: string, cost: Cost, limits: Limits, now: number): { ref: SendRef } | { waitMs: number } {
    const m = this.bucketMemory(bucket);
    const grant = m.grant;
    if (grant && now < grant.at && fitsIn(cost, grant.left) && sameLimits(grant.limits, limits)) {
      grant.left.requests -= cost.requests;
      grant.left.input -= cost.input;
      grant.left.output -= cost.output;
      return { ref: { bucket, at: grant.at, cost } };
    }
    return this.db
      .transaction((): { ref: SendRef } | { waitMs: number } => {
        this.returnGrant(bucket, m);
        this.writePending(bucket, m);
        if (now - this.lastPrune >= PRUNE_EVERY_MS) {
          this.lastPrune = now;
          this.statements.prune.run(horizon(now));
        }
        const copies = copiesThatFit(this.sums(bucket, now), cost, limits);
        if (copies < 1) {
          const entries = this.statements.live.all(bucket, horizon(now)) as WindowEntry[];
          const waitMs = admissionDelay(entries, cost, limits, now);
          // The sums and the slots agree unless the clock moved backwards; never spin on a zero wait.
          return { waitMs: Math.max(1, waitMs) };
        }
        const demand = Math.min(MAX_GRANT_REQUESTS, Math.max(FIRST_GRANT_REQUESTS, 2 * m.lastUse));
        const n = Math.max(1, Math.min(demand, Math.floor(copies * GRANT_SHARE)));
        if (n === 1) {
          // Near the limit: exactly this send, counted in its own slot as before grants existed.
          const at = slotEnd(now);
          this.add(bucket, at, cost);
          m.lastUse = 1;
          return { ref: { bucket, at, cost } };
        }
        // A grant's sends are made until its slot's end and count as made then: the safe side, as for one send.
        const at = slotEnd(now + GRANT_MS);
        const reserved = { requests: cost.requests * n, input: cost.input * n, output: cost.output * n };
        this.add(bucket, at, reserved);
        m.grant = {
          at,
          limits,
          reserved,
          left: {
            requests: reserved.requests - cost.requests,
            input: reserved.input - cost.input,
            output: reserved.output - cost.output,
          },
        };
        if (!this.flushTimer) {
          this.flushTimer = setTimeout(
            () => {
              this.flushTimer = undefined;
              this.flushInBackground();
            },
            Math.max(1, at - now)
          ).unref();
        }
        return { ref: { bucket, at, cost } };
      })
      .immediate();
  }

  /** Replaces an estimate by what the provider actually counted. */
  settle(ref: SendRef, input: number, output: number): void {
    this.correct(ref.bucket, ref.at, { requests: 0, input: input - ref.cost.input, output: output - ref.cost.output });
  }

  /** Takes back a send the provider did not count (it was refused before any work). */
  remove(ref: SendRef): void {
    this.correct(ref.bucket, ref.at, {
      requests: -ref.cost.requests,
      input: -ref.cost.input,
      output: -ref.cost.output,
    });
  }

  /** Records use of the key that this window does not know of (another machine), as reported by the provider. */
  addExternal(bucket: string, cost: Cost, now: number): void {
    this.add(bucket, slotEnd(now), cost);
  }

  /** What this bucket really sent within the window, over every process: the file without this process's unused grant. */
  totals(bucket: string, now: number): Cost {
    const m = this.bucketMemory(bucket);
    const sums = this.sums(bucket, now).minute;
    const left = m.grant && m.grant.at > horizon(now) ? m.grant.left : { requests: 0, input: 0, output: 0 };
    let requests = sums.requests - left.requests;
    let input = sums.input - left.input;
    let output = sums.output - left.output;
    for (const [at, delta] of m.pending) {
      if (at <= horizon(now)) continue;
      requests += delta.requests;
      input += delta.input;
      output += delta.output;
    }
    return { requests, input, output };
  }

  pause(bucket: string, until: number): void {
    this.statements.pause.run(bucket, until);
    const cached = this.bucketMemory(bucket).state;
    if (cached) cached.value = { ...cached.value, pausedUntil: Math.max(cached.value.pausedUntil, until) };
  }

  /** The bucket's pause and learned limits, read from the file at most every `STATE_TTL_MS`. */
  state(bucket: string): BucketState {
    const m = this.bucketMemory(bucket);
    const now = this.clock();
    if (m.state && now - m.state.at < STATE_TTL_MS) return m.state.value;
    const row = this.statements.state.get(bucket) as { pausedUntil: number; learned: string | null } | undefined;
    const learnedJson = row?.learned ?? undefined;
    // Same JSON, same object: callers may cache what they derive from it by identity.
    const previous = m.state?.value;
    const learned =
      learnedJson === undefined
        ? undefined
        : previous?.learned && JSON.stringify(previous.learned) === learnedJson
          ? previous.learned
          : (JSON.parse(learnedJson) as Limits);
    m.state = { at: now, value: { pausedUntil: row?.pausedUntil ?? 0, learned } };
    return m.state.value;
  }

  /** Records this process's requests in flight and its target, for progress displays (see `readLoad`). */
  report(bucket: string, load: { inFlight: number; target: number }, now: number): void {
    this.statements.report.run(bucket, this.processId, load.inFlight, load.target, now);
  }

  /** Other processes with requests in flight on `bucket` that reported within `LOAD_FRESH_MS`. */
  peers(bucket: string, now: number): number {
    return (this.statements.peers.get(bucket, this.processId, now - LOAD_FRESH_MS) as { n: number }).n;
  }

  learn(bucket: string, limits: Limits): void {
    this.statements.learn.run(bucket, JSON.stringify(limits));
    // Read again at the next state(): the new limits apply at once in this process.
    this.bucketMemory(bucket).state = undefined;
  }

  close(): void {
    if (this.db.open) {
      // Unused grants go back at once: other processes should not wait for them.
      for (const [bucket, m] of this.memory) this.returnGrant(bucket, m);
      this.flush();
      this.db.close();
    }
    if (this.flushTimer) clearTimeout(this.flushTimer);
  }
}
