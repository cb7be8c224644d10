/**
 * Leases as PostgreSQL rows: the batch lease (one activity at a time per batch) for workers on several machines when
 * `CURATOR_DATABASE_URL` is set. One clock decides expiry, the database's, so machines' clock skew does not matter
 * (the object-store lease, store-lease.ts, has to allow for it). Taking a lease is one statement: insert it, or take
 * over a row that has expired or is already this owner's; the row returned says who holds it.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { redactUrl } from './pg-metadata-store';

const SCHEMA = `CREATE TABLE IF NOT EXISTS curator_leases (
  key TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL
)`;
/** Any constant other than the metadata schema's: serializes table creation among workers starting together. */
const SCHEMA_LOCK = 0x6c6561736573;

/** Timing of the leases of a {@link PgLeases}. */
export interface PgLeaseOptions {
  /**
   * A lease not refreshed for this long is taken over.
   * @defaultValue 15000
   */
  staleMs?: number;
  /**
   * How often the holder refreshes it (0: never by itself; call {@link PgLease.refresh}).
   * @defaultValue 5000
   */
  refreshMs?: number;
  /**
   * How often a waiter looks again.
   * @defaultValue 250
   */
  pollMs?: number;
  /** Called once if a refresh finds the lease taken over: stop sending. */
  onLost?: () => void;
}

/** The lease table of one database. */
export class PgLeases {
  private constructor(
    private readonly pool: pg.Pool,
    readonly location: string
  ) {}

  /** Connects and creates the table if missing. */
  static async open(url: string, poolSize = 4): Promise<PgLeases> {
    const pool = new pg.Pool({ connectionString: url, max: poolSize });
    pool.on('error', () => undefined);
    const leases = new PgLeases(pool, redactUrl(url));
    const c = await pool.connect().catch(async (err: Error) => {
      await pool.end();
      throw new Error(`cannot open the lease table at ${leases.location}: ${err.message}`, { cause: err });
    });
    try {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
      await c.query(SCHEMA);
      await c.query('COMMIT');
    } finally {
      c.release();
    }
    return leases;
  }

  /** Waits for `key` to be free or stale (calling `waiting` meanwhile), then holds it. */
  async acquire(key: string, signal: AbortSignal, waiting: () => void, opts: PgLeaseOptions = {}): Promise<PgLease> {
    const staleMs = opts.staleMs ?? 15_000;
    const owner = `${process.pid}.${randomBytes(4).toString('hex')}`;
    for (;;) {
      signal.throwIfAborted();
      const { rowCount } = await this.pool.query(
        `INSERT INTO curator_leases (key, owner, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
         ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
           WHERE curator_leases.expires_at < now() OR curator_leases.owner = excluded.owner
         RETURNING owner`,
        [key, owner, staleMs]
      );
      if (rowCount === 1) return new PgLease(this.pool, key, owner, staleMs, opts);
      waiting();
      await delay(opts.pollMs ?? 250, undefined, { signal });
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** A held row lease. */
export class PgLease {
  private timer?: NodeJS.Timeout;
  private isLost = false;

  /** @internal */
  constructor(
    private readonly pool: pg.Pool,
    readonly key: string,
    readonly owner: string,
    private readonly staleMs: number,
    private readonly opts: PgLeaseOptions
  ) {
    const every = opts.refreshMs ?? 5000;
    if (every > 0) {
      this.timer = setInterval(() => void this.refresh().catch(() => undefined), every);
      this.timer.unref();
    }
  }

  /** True once a refresh found the lease taken over. */
  get lost(): boolean {
    return this.isLost;
  }

  /** Pushes the expiry forward; false (and {@link lost} set, `onLost` called) when another holder took it over. */
  async refresh(): Promise<boolean> {
    if (this.isLost) return false;
    const { rowCount } = await this.pool.query(
      `UPDATE curator_leases SET expires_at = now() + $3 * interval '1 millisecond' WHERE key = $1 AND owner = $2`,
      [this.key, this.owner, this.staleMs]
    );
    if (rowCount === 1) return true;
    this.isLost = true;
    clearInterval(this.timer);
    this.opts.onLost?.();
    return false;
  }

  /** Stops refreshing and deletes the row if it is still this holder's. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    await this.pool.query('DELETE FROM curator_leases WHERE key = $1 AND owner = $2', [this.key, this.owner]);
  }
}
