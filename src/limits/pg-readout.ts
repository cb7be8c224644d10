/**
 * What the workers sharing a PostgreSQL send window (pg-window.ts) record there, read for progress displays: the
 * limits learned from the provider's headers and the load of a bucket over every machine. The counterpart of
 * readout.ts's `limits.db` reads for a client that may run on none of the workers' machines. Best effort: a database
 * that is out, slow or without the tables yet reads as nothing, and a read never waits more than a second or two.
 */
import pg from 'pg';
import type { LimiterLoad } from './rate-limiter';
import { DB_NOW } from './pg-window';
import { LOAD_FRESH_MS } from './shared-window';
import type { Limits } from './window';

/** How long a look waits for the database before it reads as nothing. */
const READ_TIMEOUT_MS = 1500;

/** Reads of the rate limits' tables in one PostgreSQL database, over one connection kept between looks. */
export class PgReadout {
  private readonly pool: pg.Pool;

  /** @param url The workers' `CURATOR_DATABASE_URL`. */
  constructor(url: string) {
    this.pool = new pg.Pool({
      connectionString: url,
      max: 1,
      connectionTimeoutMillis: READ_TIMEOUT_MS,
      query_timeout: READ_TIMEOUT_MS,
    });
    // An idle connection's error (the server restarted) must not end the process that only watches.
    this.pool.on('error', () => undefined);
  }

  private async read<T>(sql: string, params: unknown[]): Promise<T | undefined> {
    try {
      const { rows } = await this.pool.query(sql, params);
      return rows[0] as T | undefined;
    } catch {
      // Progress is best effort: the workers may not have created the tables yet, or the database may be out.
      return undefined;
    }
  }

  /** The limits learned from the provider's headers for `bucket`. */
  async learned(bucket: string): Promise<Limits | undefined> {
    const row = await this.read<{ learned: string | null }>(
      'SELECT learned FROM curator_limit_buckets WHERE bucket = $1',
      [bucket]
    );
    return row?.learned ? (JSON.parse(row.learned) as Limits) : undefined;
  }

  /** Requests in flight and the concurrency target of `bucket` over the processes that reported lately. */
  async load(bucket: string): Promise<LimiterLoad | undefined> {
    const row = await this.read<{ n: number; in_flight: number; target: number }>(
      `SELECT COUNT(*)::int AS n, COALESCE(SUM(in_flight), 0)::int AS in_flight, COALESCE(SUM(target), 0)::int AS target
       FROM curator_limit_loads WHERE bucket = $1 AND at > ${DB_NOW} - $2`,
      [bucket, LOAD_FRESH_MS]
    );
    return row && row.n > 0 ? { inFlight: row.in_flight, target: row.target } : undefined;
  }

  /** Lets go of the database. */
  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
