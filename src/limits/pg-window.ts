/**
 * The send window of each rate-limit bucket in PostgreSQL (`CURATOR_DATABASE_URL`), so workers on several machines
 * sharing one API key hold the provider's limit between them. The tables are those of `limits.db` (shared-window.ts):
 * sends summed into 100 ms slots, each bucket's pause and learned limits, each sender's load.
 *
 * Admission never waits for the database. A process reserves *grants* in the background (room for the next ~200 ms of
 * its demand, at most a quarter of what the limits leave), one transaction per grant under a per-bucket advisory
 * lock, counted in the table at once so every other machine sees them; it admits requests from its grants in memory
 * and reserves the next one when half of the current one is used. Unused room, actual usage and refused requests are
 * written back in batches every ~100 ms. A grant's sends count at its slot's end on the database's clock, and a
 * process draws on a grant only until then by its own clock, with the round trip's whole uncertainty taken off: the
 * table never holds less than was sent, in any minute and any second, whatever the machines' clocks say.
 *
 * No single point of failure: when PostgreSQL does not answer (an error, or no answer within a second), the process
 * keeps admitting from memory on a conservative share of each limit (`outageLimits`) counted over its own sends since
 * the outage began, queues what it sends, and tries the database again every half second. Once it answers, the queued
 * sends are written before the next grant, and grants resume. A job never fails or stops for the database.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { redactUrl } from '../storage/metadata/pg-metadata-store';
import type { BucketState, LimitWindow, SendRef } from './limit-window';
import {
  copiesThatFit,
  FIRST_GRANT_REQUESTS,
  fitsIn,
  GRANT_SHARE,
  LOAD_FRESH_MS,
  MAX_GRANT_REQUESTS,
  slotEnd,
  type WindowSums,
} from './shared-window';
import {
  admissionDelay,
  hasLimits,
  horizon,
  MINUTE_MS,
  sameLimits,
  WINDOW_MARGIN_MS,
  type Cost,
  type Limits,
  type WindowEntry,
} from './window';

/**
 * How far ahead a grant reaches at least: its sends count at the end of the slot this long after it was reserved.
 * A database further away gets a longer reach (`REACH_PER_ROUND_TRIP` times a reservation's duration), or a grant
 * would end before it arrived.
 */
export const PG_GRANT_MS = 200;
/** A grant reaches at least this many times as far as its reservation took. */
const REACH_PER_ROUND_TRIP = 4;
/** Nor further than this: a grant's unused room is hidden from the other machines until it ends. */
const MAX_REACH_MS = 2000;
/** How long a bucket's pause, learned limits and peers are taken from memory before they are read again. */
export const PG_STATE_TTL_MS = 100;
/** Queued corrections are written at most this long after they were made. */
export const PG_FLUSH_MS = 100;
/** A database that has not answered for this long is treated as out: admission goes on from memory. */
export const OUTAGE_AFTER_MS = 1000;
/** How often a process tries the database again during an outage. */
export const RETRY_MS = 500;
/** A grant this close to its end has the next one reserved. */
const PREFETCH_MS = 100;
/** How long a request waits before asking again while its grant is being reserved. */
const WAIT_FOR_GRANT_MS = 5;
/** Old slots and loads are deleted at most this often (the sums ignore old slots anyway). */
const PRUNE_EVERY_MS = 5000;
/** The class of this module's advisory locks (two-key form, so it never meets the other tables' one-key locks). */
const LOCK_CLASS = 0x6c696d;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS curator_limit_slots (bucket TEXT NOT NULL, at BIGINT NOT NULL,
  requests DOUBLE PRECISION NOT NULL, input DOUBLE PRECISION NOT NULL, output DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (bucket, at));
CREATE TABLE IF NOT EXISTS curator_limit_buckets (bucket TEXT PRIMARY KEY, paused_until BIGINT NOT NULL DEFAULT 0,
  learned TEXT);
CREATE TABLE IF NOT EXISTS curator_limit_loads (bucket TEXT NOT NULL, sender TEXT NOT NULL, in_flight INTEGER NOT NULL,
  target INTEGER NOT NULL, at BIGINT NOT NULL, PRIMARY KEY (bucket, sender));`;
/** Serializes table creation among workers starting together; any constant other than the other tables'. */
const SCHEMA_LOCK = 0x6c696d697473;
/** The database's clock in milliseconds: every time in the tables is on it. */
export const DB_NOW = `(extract(epoch from clock_timestamp()) * 1000)::float8`;
/** How long a send counts in the window (see `horizon`). */
const WINDOW_MS = MINUTE_MS + WINDOW_MARGIN_MS;

/**
 * How many requests a grant covers: twice the demand seen (the last grant's use, or the last second's rate over the
 * grant's reach `reachMs`), between the first grant's size and the cap, and at most `GRANT_SHARE` of the `copies` that fit, but
 * at least one.
 */
export function grantRequests(
  demand: { lastUse: number; perSecond: number },
  copies: number,
  reachMs = PG_GRANT_MS
): number {
  const wanted = Math.max(FIRST_GRANT_REQUESTS, 2 * demand.lastUse, Math.ceil((2 * demand.perSecond * reachMs) / 1000));
  return Math.max(1, Math.min(wanted, MAX_GRANT_REQUESTS, Math.floor(copies * GRANT_SHARE)));
}

/**
 * The limits one process admits against while the database is out: each limit split between the senders last seen
 * on the bucket (`peers` others and this one) and one more that may have started meanwhile. Machines that knew of
 * each other stay within the limit together; a lone one uses half of it until the database is back.
 */
export function outageLimits(limits: Limits, peers: number): Limits {
  const share = 1 / (peers + 2);
  const part = (v: number | undefined) => (v === undefined ? undefined : v * share);
  // A minute's share counted only from the outage on would let a process send it all in the first seconds: its
  // requests are also held to the share of a second's rate.
  const perSecond = [limits.requestsPerSecond, limits.requestsPerMinute && limits.requestsPerMinute / 60].filter(
    (v): v is number => typeof v === 'number' && v > 0
  );
  return {
    requestsPerMinute: part(limits.requestsPerMinute),
    tokensPerMinute: part(limits.tokensPerMinute),
    inputTokensPerMinute: part(limits.inputTokensPerMinute),
    outputTokensPerMinute: part(limits.outputTokensPerMinute),
    requestsPerSecond: part(perSecond.length > 0 ? Math.min(...perSecond) : undefined),
  };
}

/**
 * Bounds on the database's clock against this process's from one read: the query left at `sentAt`, the answer came
 * at `receivedAt`, and the database read `dbNow` in between. The offset (database minus local) lies between `low` and
 * `high`. A grant counted at `at` (database) may be drawn on until `at - high` (local): every send is then counted no
 * earlier than it was made, whatever the round trip.
 */
export function clockBounds(sentAt: number, receivedAt: number, dbNow: number): { low: number; high: number } {
  return { low: dbNow - receivedAt, high: dbNow - sentAt };
}

/** Adds `delta` to `into`. */
function addCost(into: Cost, delta: Cost, times = 1): void {
  into.requests += delta.requests * times;
  into.input += delta.input * times;
  into.output += delta.output * times;
}

const ZERO: Cost = { requests: 0, input: 0, output: 0 };

interface Grant {
  /** The slot the grant is counted in, on the database's clock. */
  at: number;
  /** The last moment (this process's clock) its room may be drawn on. */
  until: number;
  limits: Limits;
  reserved: Cost;
  left: Cost;
}

/** What one read of a bucket's row says (times on the database's clock). */
interface BucketRead {
  now: number;
  pausedUntil: number;
  learned: string | null;
  peers: number;
  sums: WindowSums;
}

interface BucketMemory {
  /** The grant drawn on, and the next one reserved ahead of need. */
  grants: Grant[];
  /** Requests admitted from the last grant that ended: the next one is sized by it. */
  lastUse: number;
  /** This process's own sends over the last minute (its clock, 100 ms slots), for the demand and for outages. */
  sent: WindowEntry[];
  /** Corrections not yet written, by slot (database clock). */
  pending: Map<number, Cost>;
  /** The window is full until then (this process's clock): no grant is asked for before. */
  fullUntil: number;
  reserving: boolean;
  refreshing: boolean;
  /** The last read of the bucket, at `at` (this process's clock); undefined until the first. */
  read?: { at: number; value: BucketRead; state: BucketState };
  learnedJson?: string;
  pause?: number;
  learn?: string;
  load?: { inFlight: number; target: number };
  /** Whether this process reported its load on the bucket yet. */
  reported?: boolean;
}

/** Options of a {@link PgWindow}; tests shorten the outage timings. */
export interface PgWindowOptions {
  /**
   * The database is treated as out when it has not answered for this long.
   * @defaultValue `OUTAGE_AFTER_MS`
   */
  outageAfterMs?: number;
  /**
   * Reports when the database goes out and comes back.
   * @defaultValue a line on stderr for each
   */
  log?: (message: string) => void;
}

/** The send window of every bucket in one PostgreSQL database (see the module comment). */
export class PgWindow implements LimitWindow {
  private readonly pool: pg.Pool;
  private readonly location: string;
  private readonly sender = `${hostname()}.${process.pid}.${randomBytes(3).toString('hex')}`;
  private readonly memory = new Map<string, BucketMemory>();
  private readonly outageAfterMs: number;
  private readonly log: (message: string) => void;
  /** Database operations run one at a time, in order: a correction is never overtaken by a later grant. */
  private chain: Promise<unknown> = Promise.resolve();
  /** When the operation running now began (this process's clock), if one is. */
  private busySince?: number;
  private schema?: Promise<void>;
  /** Bounds on the database's clock minus this process's (see `clockBounds`); 0 until the first read. */
  private clock = { low: 0, high: 0 };
  /** How far ahead grants reach now (see `PG_GRANT_MS`). */
  private reach = PG_GRANT_MS;
  /** Since when the database is out (this process's clock), and when it was last tried. */
  private outage?: { since: number; tried: number };
  private timer?: NodeJS.Timeout;
  private lastPrune = 0;
  private writing = false;
  private closed = false;
  private reportedNotFinite = false;
  /** Resolves when `close` has written what was queued and let go of the database. */
  ended: Promise<void> = Promise.resolve();

  constructor(url: string, options: PgWindowOptions = {}) {
    this.location = redactUrl(url);
    this.outageAfterMs = options.outageAfterMs ?? OUTAGE_AFTER_MS;
    this.log = options.log ?? ((message) => console.error(`temporal-curator: ${message}`));
    // Short timeouts: a database that does not answer quickly is out, and admission goes on without it.
    this.pool = new pg.Pool({
      connectionString: url,
      max: 2,
      connectionTimeoutMillis: this.outageAfterMs,
      query_timeout: 2 * this.outageAfterMs,
      keepAlive: true,
    });
    // An idle client's error (the server restarted) would otherwise be an uncaught 'error' event.
    this.pool.on('error', () => undefined);
    // The window is worth seconds (as limits.db's `synchronous = OFF`): a commit need not wait for the disk.
    this.pool.on('connect', (c) => void c.query('SET synchronous_commit = off').catch(() => undefined));
  }

  private bucketMemory(bucket: string): BucketMemory {
    let m = this.memory.get(bucket);
    if (!m) {
      m = { grants: [], lastUse: 0, sent: [], pending: new Map(), fullUntil: 0, reserving: false, refreshing: false };
      this.memory.set(bucket, m);
    }
    return m;
  }

  /** Whether admission goes on without the database now. */
  private out(now: number): boolean {
    if (!this.outage && this.busySince !== undefined && now - this.busySince > this.outageAfterMs) {
      this.wentOut(now, `no answer for ${now - this.busySince} ms`);
    }
    return this.outage !== undefined;
  }

  private wentOut(now: number, why: string): void {
    if (this.outage || this.closed) return;
    this.outage = { since: now, tried: now };
    this.log(
      `the rate limits' database ${this.location} is out (${why}): each worker admits its share of the limits ` +
        'from memory until it is back.'
    );
  }

  /** Runs `fn` on a connection after the operations queued before it; an error or a timeout marks an outage. */
  private io<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const run = this.chain.then(async () => {
      this.busySince = Date.now();
      try {
        this.schema ??= this.createSchema();
        await this.schema.catch((err: unknown) => {
          this.schema = undefined;
          throw err;
        });
        return await this.withClient(fn);
      } finally {
        this.busySince = undefined;
      }
    });
    this.chain = run.then(
      () => {
        if (this.outage) {
          this.log(`the rate limits' database ${this.location} is back after ${Date.now() - this.outage.since} ms.`);
          this.outage = undefined;
        }
      },
      (err: unknown) => this.wentOut(Date.now(), (err as Error).message)
    );
    return run;
  }

  /** Runs `fn` on a client of the pool, which is dropped when it failed (the server may have restarted). */
  private async withClient<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    // A checked-out client has no listener of the pool's: the server going away mid-query would emit an uncaught
    // 'error' and end the worker. The failed query reports it.
    const ignore = () => undefined;
    c.on('error', ignore);
    try {
      const result = await fn(c);
      c.removeListener('error', ignore);
      c.release();
      return result;
    } catch (err) {
      // Dropped with the listener kept: the broken connection may still report its end.
      c.release(err as Error);
      throw err;
    }
  }

  private createSchema(): Promise<void> {
    return this.withClient(async (c) => {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
      await c.query(SCHEMA);
      await c.query('COMMIT');
    });
  }

  /** Reads a bucket's state and sums, taking the clock bounds from the same round trip. */
  private async readBucket(c: pg.PoolClient, bucket: string): Promise<BucketRead> {
    const sentAt = Date.now();
    const { rows } = await c.query<{
      now: number;
      paused_until: string | null;
      learned: string | null;
      peers: string;
      requests: number;
      input: number;
      output: number;
      second: number;
    }>(
      `WITH t AS (SELECT ${DB_NOW} AS now)
       SELECT t.now,
         (SELECT paused_until FROM curator_limit_buckets WHERE bucket = $1) AS paused_until,
         (SELECT learned FROM curator_limit_buckets WHERE bucket = $1) AS learned,
         (SELECT COUNT(*) FROM curator_limit_loads
           WHERE bucket = $1 AND sender <> $2 AND at > t.now - $3 AND in_flight > 0) AS peers,
         COALESCE(SUM(s.requests), 0)::float8 AS requests, COALESCE(SUM(s.input), 0)::float8 AS input,
         COALESCE(SUM(s.output), 0)::float8 AS output,
         COALESCE(SUM(s.requests) FILTER (WHERE s.at > t.now - $4), 0)::float8 AS second
       FROM t LEFT JOIN curator_limit_slots s ON s.bucket = $1 AND s.at > t.now - $5
       GROUP BY t.now`,
      [bucket, this.sender, LOAD_FRESH_MS, 1000 + WINDOW_MARGIN_MS, WINDOW_MS]
    );
    const r = rows[0]!;
    this.clock = clockBounds(sentAt, Date.now(), r.now);
    return {
      now: r.now,
      pausedUntil: Number(r.paused_until ?? 0),
      learned: r.learned,
      peers: Number(r.peers),
      sums: {
        minute: { requests: r.requests, input: r.input, output: r.output },
        second: { requests: r.second, input: 0, output: 0 },
      },
    };
  }

  /** Keeps a read in memory, with the pause on this process's clock (the later end of its bounds: the safe side). */
  private remember(m: BucketMemory, read: BucketRead): void {
    const previous = m.read?.state.learned;
    // Same JSON, same object: callers may cache what they derive from it by identity.
    // Limits learned here and not yet written win over the read.
    const json = m.learn ?? read.learned ?? undefined;
    const learned =
      json === undefined ? undefined : json === m.learnedJson && previous ? previous : (JSON.parse(json) as Limits);
    m.learnedJson = json;
    const pausedUntil = read.pausedUntil > 0 ? read.pausedUntil - this.clock.low : 0;
    m.read = {
      at: Date.now(),
      value: read,
      state: { pausedUntil: Math.max(pausedUntil, m.pause !== undefined ? m.pause - this.clock.high : 0), learned },
    };
  }

  /** Whether the database may be tried now: always, except during an outage at most every `RETRY_MS`. */
  private mayTry(now: number): boolean {
    if (!this.outage) return true;
    if (now - this.outage.tried < RETRY_MS) return false;
    this.outage.tried = now;
    return true;
  }

  private refresh(bucket: string, m: BucketMemory): void {
    if (m.refreshing || this.closed || !this.mayTry(Date.now())) return;
    m.refreshing = true;
    void this.io(async (c) => this.remember(m, await this.readBucket(c, bucket)))
      .catch(() => undefined)
      .finally(() => (m.refreshing = false));
  }

  /**
   * Reserves a grant for `cost`-sized requests in one transaction: the queued corrections first, then under the
   * bucket's lock the sums, and room counted at once, or the time the window is full until.
   */
  private reserve(bucket: string, m: BucketMemory, cost: Cost, limits: Limits, now: number): void {
    if (m.reserving || this.closed) return;
    m.reserving = true;
    const demand = { lastUse: m.lastUse, perSecond: sentWithin(m.sent, now, 1000) };
    void this.io(async (c) => {
      await this.writeQueued(c);
      const began = Date.now();
      await c.query('BEGIN');
      try {
        await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CLASS, bucket]);
        const read = await this.readBucket(c, bucket);
        this.remember(m, read);
        const copies = copiesThatFit(read.sums, cost, limits);
        if (copies < 1) {
          const { rows } = await c.query<WindowEntry>(
            `SELECT at::float8 AS at, requests, input, output FROM curator_limit_slots
             WHERE bucket = $1 AND at > $2::float8 ORDER BY at`,
            [bucket, horizon(read.now)]
          );
          await c.query('COMMIT');
          m.fullUntil = Date.now() + Math.max(1, admissionDelay(rows, cost, limits, read.now));
          return;
        }
        const n = grantRequests(demand, copies, this.reach);
        const at = slotEnd(read.now + this.reach);
        const reserved = { requests: cost.requests * n, input: cost.input * n, output: cost.output * n };
        await this.addSlots(c, [[bucket, at, reserved]]);
        await c.query('COMMIT');
        this.reach = Math.min(MAX_REACH_MS, Math.max(PG_GRANT_MS, REACH_PER_ROUND_TRIP * (Date.now() - began)));
        m.grants.push({ at, until: at - this.clock.high, limits, reserved, left: { ...reserved } });
        this.schedule(PG_FLUSH_MS);
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    })
      .catch(() => undefined)
      .finally(() => (m.reserving = false));
  }

  /** Adds to slots, in key order so that two writers never deadlock. */
  private async addSlots(c: pg.PoolClient, rows: [string, number, Cost][]): Promise<void> {
    if (rows.length === 0) return;
    rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
    await c.query(
      `INSERT INTO curator_limit_slots (bucket, at, requests, input, output)
       SELECT * FROM unnest($1::text[], $2::bigint[], $3::float8[], $4::float8[], $5::float8[])
       ON CONFLICT (bucket, at) DO UPDATE SET requests = curator_limit_slots.requests + excluded.requests,
         input = curator_limit_slots.input + excluded.input, output = curator_limit_slots.output + excluded.output`,
      [
        rows.map((r) => r[0]),
        rows.map((r) => r[1]),
        rows.map((r) => r[2].requests),
        rows.map((r) => r[2].input),
        rows.map((r) => r[2].output),
      ]
    );
  }

  /**
   * Writes every queued correction, pause, learned limit and load in one transaction. What could not be written is
   * queued again (added to what came meanwhile), so an outage loses nothing that was sent.
   */
  private async writeQueued(c: pg.PoolClient): Promise<void> {
    const slots: [string, number, Cost][] = [];
    const taken: {
      bucket: string;
      m: BucketMemory;
      pending: Map<number, Cost>;
      pause?: number;
      learn?: string;
      load?: BucketMemory['load'];
    }[] = [];
    for (const [bucket, m] of this.memory) {
      if (m.pending.size === 0 && m.pause === undefined && m.learn === undefined && !m.load) continue;
      for (const [at, delta] of m.pending) slots.push([bucket, at, delta]);
      taken.push({ bucket, m, pending: m.pending, pause: m.pause, learn: m.learn, load: m.load });
      m.pending = new Map();
      m.pause = m.learn = m.load = undefined;
    }
    const now = Date.now();
    const prune = now - this.lastPrune >= PRUNE_EVERY_MS;
    if (taken.length === 0 && !prune) return;
    try {
      await c.query('BEGIN');
      await this.addSlots(c, slots);
      for (const { bucket, pause, learn, load } of taken) {
        if (pause !== undefined)
          await c.query(
            `INSERT INTO curator_limit_buckets (bucket, paused_until) VALUES ($1, $2) ON CONFLICT (bucket)
             DO UPDATE SET paused_until = GREATEST(curator_limit_buckets.paused_until, excluded.paused_until)`,
            [bucket, Math.ceil(pause)]
          );
        if (learn !== undefined)
          await c.query(
            `INSERT INTO curator_limit_buckets (bucket, learned) VALUES ($1, $2)
             ON CONFLICT (bucket) DO UPDATE SET learned = excluded.learned`,
            [bucket, learn]
          );
        if (load)
          await c.query(
            `INSERT INTO curator_limit_loads (bucket, sender, in_flight, target, at) VALUES ($1, $2, $3, $4, ${DB_NOW})
             ON CONFLICT (bucket, sender) DO UPDATE SET in_flight = excluded.in_flight, target = excluded.target,
               at = excluded.at`,
            [bucket, this.sender, load.inFlight, load.target]
          );
      }
      if (prune) {
        await c.query(`DELETE FROM curator_limit_slots WHERE at <= ${DB_NOW} - $1`, [WINDOW_MS]);
        await c.query(`DELETE FROM curator_limit_loads WHERE at <= ${DB_NOW} - 3600000`);
      }
      await c.query('COMMIT');
      if (prune) this.lastPrune = now;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      // Rolled back: all of it again. (A COMMIT that succeeded but whose answer was lost would count twice; that
      // needs the connection to drop in the instant between, and mostly errs on the safe side.)
      for (const t of taken) {
        for (const [at, delta] of t.pending) this.correct(t.m, at, delta);
        if (t.pause !== undefined) t.m.pause = Math.max(t.m.pause ?? 0, t.pause);
        t.m.learn ??= t.learn;
        t.m.load ??= t.load;
      }
      throw err;
    }
  }

  /**
   * `cost` with anything that is not a finite number counted as 0, reported once. One NaN written to the table would
   * make every sum of the bucket NaN for a minute, and every grant sized from it NaN: no machine could send.
   */
  private finite(cost: Cost): Cost {
    if (Number.isFinite(cost.requests) && Number.isFinite(cost.input) && Number.isFinite(cost.output)) return cost;
    if (!this.reportedNotFinite) {
      this.reportedNotFinite = true;
      this.log(`the rate limiter was given a cost that is not a number (${JSON.stringify(cost)}); counted as 0.`);
    }
    const f = (v: number) => (Number.isFinite(v) ? v : 0);
    return { requests: f(cost.requests), input: f(cost.input), output: f(cost.output) };
  }

  /** Queues a correction of slot `at` (database clock). */
  private correct(m: BucketMemory, at: number, delta: Cost): void {
    delta = this.finite(delta);
    if (delta.requests === 0 && delta.input === 0 && delta.output === 0) return;
    const sum = m.pending.get(at);
    if (sum) addCost(sum, delta);
    else m.pending.set(at, { ...delta });
    this.schedule(PG_FLUSH_MS);
  }

  /** Runs `maintain` within `ms` (or sooner if already due). */
  private schedule(ms: number): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.maintain();
    }, ms).unref();
  }

  /** Returns ended grants and writes what is queued; comes back while grants are open or writes are queued. */
  private maintain(): void {
    const now = Date.now();
    let work = false;
    let open = false;
    for (const m of this.memory.values()) {
      this.returnEnded(m, now);
      if (m.pending.size > 0 || m.pause !== undefined || m.learn !== undefined || m.load) work = true;
      if (m.grants.length > 0) open = true;
    }
    if (work && !this.writing && this.mayTry(now)) {
      this.writing = true;
      void this.io((c) => this.writeQueued(c))
        .catch(() => undefined)
        .finally(() => (this.writing = false));
    }
    if (work || open) this.schedule(this.outage ? RETRY_MS : PG_FLUSH_MS);
  }

  /** Gives back what grants that can no longer be drawn on did not use. */
  private returnEnded(m: BucketMemory, now: number, all = false): void {
    while (m.grants.length > 0 && (all || m.grants[0]!.until <= now)) {
      const g = m.grants.shift()!;
      m.lastUse = g.reserved.requests - g.left.requests;
      this.correct(m, g.at, { requests: -g.left.requests, input: -g.left.input, output: -g.left.output });
    }
  }

  /** Notes an admitted send in this process's own log (100 ms slots over the last minute). */
  private noteSent(m: BucketMemory, cost: Cost, now: number): void {
    const at = slotEnd(now);
    const last = m.sent[m.sent.length - 1];
    if (last && last.at === at) addCost(last, cost);
    else m.sent.push({ at, ...cost });
    const old = horizon(now);
    let k = 0;
    while (k < m.sent.length && m.sent[k]!.at <= old) k++;
    if (k > 0) m.sent.splice(0, k);
  }

  /** Admits `cost` from memory without a grant, counted in the slot of now on the database's clock (queued). */
  private admitUncounted(bucket: string, m: BucketMemory, cost: Cost, now: number): { ref: SendRef } {
    const at = slotEnd(now + this.clock.high);
    this.correct(m, at, cost);
    this.noteSent(m, cost, now);
    return { ref: { bucket, at, cost } };
  }

  tryAdmit(bucket: string, cost: Cost, limits: Limits, now: number): { ref: SendRef } | { waitMs: number } {
    cost = this.finite(cost);
    const m = this.bucketMemory(bucket);
    this.returnEnded(m, now);
    for (const g of m.grants) {
      if (!sameLimits(g.limits, limits)) continue;
      if (!fitsIn(cost, g.left)) continue;
      addCost(g.left, cost, -1);
      this.noteSent(m, cost, now);
      // Half used, or about to end: the next grant is reserved now, so that it is there before it is needed.
      const last = m.grants[m.grants.length - 1]!;
      if (g === last && (2 * g.left.requests <= g.reserved.requests || g.until - now < PREFETCH_MS)) {
        if (!this.out(now) && m.fullUntil <= now) this.reserve(bucket, m, cost, limits, now);
      }
      return { ref: { bucket, at: g.at, cost } };
    }
    // Grants of other limits (they changed) go back: the next grant is reserved under the new ones.
    if (m.grants.length > 0) this.returnEnded(m, now, true);
    if (this.out(now)) {
      if (this.mayTry(now)) this.reserve(bucket, m, cost, limits, now);
      const share = outageLimits(limits, m.read?.value.peers ?? 0);
      // The minute before the outage was held by the database: its own sends since then count against the minute's
      // share (the pace spreads them). Its sends of the last second, from before too, count against the second's.
      const since = this.outage!.since;
      const { requestsPerSecond, ...minute } = share;
      const waitMs = Math.max(
        admissionDelay(
          m.sent.filter((e) => e.at > since),
          cost,
          minute,
          now
        ),
        admissionDelay(m.sent, cost, { requestsPerSecond }, now)
      );
      if (waitMs > 0) return { waitMs: Math.min(waitMs, RETRY_MS) };
      return this.admitUncounted(bucket, m, cost, now);
    }
    // The first admission waits for the bucket's pause and learned limits.
    if (!m.read) {
      this.refresh(bucket, m);
      return { waitMs: WAIT_FOR_GRANT_MS };
    }
    // With no limit known, sends are counted without a grant: the first answer's headers may reveal a limit.
    if (!hasLimits(limits)) return this.admitUncounted(bucket, m, cost, now);
    if (m.fullUntil > now) return { waitMs: m.fullUntil - now };
    this.reserve(bucket, m, cost, limits, now);
    return { waitMs: WAIT_FOR_GRANT_MS };
  }

  settle(ref: SendRef, input: number, output: number): void {
    this.correct(this.bucketMemory(ref.bucket), ref.at, {
      requests: 0,
      input: input - ref.cost.input,
      output: output - ref.cost.output,
    });
  }

  remove(ref: SendRef): void {
    this.correct(this.bucketMemory(ref.bucket), ref.at, {
      requests: -ref.cost.requests,
      input: -ref.cost.input,
      output: -ref.cost.output,
    });
  }

  addExternal(bucket: string, cost: Cost, now: number): void {
    this.correct(this.bucketMemory(bucket), slotEnd(now + this.clock.high), cost);
  }

  /** The sums of the last read, without this process's unused grants, with its corrections not yet written. */
  totals(bucket: string, now: number): Cost {
    const m = this.bucketMemory(bucket);
    const sums = { ...(m.read?.value.sums.minute ?? ZERO) };
    for (const g of m.grants) addCost(sums, g.left, -1);
    const old = horizon(now + this.clock.high);
    for (const [at, delta] of m.pending) if (at > old) addCost(sums, delta);
    return sums;
  }

  pause(bucket: string, until: number): void {
    const m = this.bucketMemory(bucket);
    // On the database's clock, at the later end of the bounds: the safe side.
    const dbUntil = until + this.clock.high;
    m.pause = Math.max(m.pause ?? 0, dbUntil);
    if (m.read) m.read.state = { ...m.read.state, pausedUntil: Math.max(m.read.state.pausedUntil, until) };
    this.schedule(0);
  }

  state(bucket: string): BucketState {
    const m = this.bucketMemory(bucket);
    if (!m.read || Date.now() - m.read.at >= PG_STATE_TTL_MS) this.refresh(bucket, m);
    return m.read?.state ?? { pausedUntil: 0 };
  }

  report(bucket: string, load: { inFlight: number; target: number }): void {
    const m = this.bucketMemory(bucket);
    // The first report at once: until the others see this sender, they pace to the whole rate.
    const first = !m.reported;
    m.reported = true;
    m.load = { ...load };
    if (first && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.schedule(first ? 0 : PG_FLUSH_MS);
  }

  peers(bucket: string): number {
    return this.bucketMemory(bucket).read?.value.peers ?? 0;
  }

  learn(bucket: string, limits: Limits): void {
    const m = this.bucketMemory(bucket);
    const json = JSON.stringify(limits);
    m.learn = json;
    // In force at once in this process; the others read it within `PG_STATE_TTL_MS`.
    const state = m.read?.state ?? { pausedUntil: 0 };
    m.learnedJson = json;
    m.read = { at: m.read?.at ?? 0, value: m.read?.value ?? emptyRead(), state: { ...state, learned: limits } };
    this.schedule(0);
  }

  /** Gives back unused grants at once, writes what is queued (in the background: see `ended`) and disconnects. */
  close(): void {
    if (this.closed) return;
    for (const m of this.memory.values()) this.returnEnded(m, Date.now(), true);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.closed = true;
    const work = [...this.memory.values()].some((m) => m.pending.size > 0 || m.pause !== undefined || m.learn);
    this.ended = (work && !this.outage ? this.io((c) => this.writeQueued(c)).catch(() => undefined) : this.chain)
      .catch(() => undefined)
      .then(() => this.pool.end())
      .catch(() => undefined);
  }
}

function emptyRead(): BucketRead {
  return { now: 0, pausedUntil: 0, learned: null, peers: 0, sums: { minute: { ...ZERO }, second: { ...ZERO } } };
}

/** Requests of `sent` (slot ends) within the last `ms` before `now`. */
function sentWithin(sent: readonly WindowEntry[], now: number, ms: number): number {
  let n = 0;
  for (let k = sent.length - 1; k >= 0 && sent[k]!.at > now - ms; k--) n += sent[k]!.requests;
  return n;
}
