/**
 * Run metadata on PostgreSQL: the tables and queries of `metadata.db` (metadata-db.ts), in PostgreSQL's dialect.
 * Columns keep their SQLite meaning so that a {@link RunRecord} reads the same from either: times stay ISO-8601 text
 * (they sort as text), `batch_mode` stays 0/1, counters are `bigint` read back as numbers (exact below 2^53).
 */
import pg from 'pg';
import { METADATA_SCHEMA, type RunRecord } from '../metadata-db';
import type { MetadataStore, RunEvent, RunFinish, RunStart } from './metadata-store';

/** metadata.db's tables in PostgreSQL's types: each rule must apply, so a change there cannot slip past here. */
const SCHEMA_RULES: [RegExp, string][] = [
  [/\bid INTEGER PRIMARY KEY AUTOINCREMENT\b/, 'id BIGSERIAL PRIMARY KEY'],
  // 0/1 as in SQLite, so a RunRecord reads the same from either.
  [/\bbatch_mode BOOLEAN NOT NULL DEFAULT 0\b/, 'batch_mode SMALLINT NOT NULL DEFAULT 0'],
  [/\bINTEGER\b/g, 'BIGINT'],
  [/\bREAL\b/g, 'DOUBLE PRECISION'],
];

/** {@link METADATA_SCHEMA} translated by {@link SCHEMA_RULES}. */
export function pgSchema(sqlite = METADATA_SCHEMA): string {
  return SCHEMA_RULES.reduce((text, [pattern, replacement]) => {
    if (!pattern.test(text)) throw new Error(`metadata schema: no match for ${pattern} (update SCHEMA_RULES)`);
    pattern.lastIndex = 0;
    return text.replace(pattern, replacement);
  }, sqlite);
}
const SCHEMA = pgSchema();

/** Any constant: the key of the advisory lock that serializes schema creation among workers starting together. */
const SCHEMA_LOCK = 0x63757261746f72;
const INT8_OID = 20;

/** Counters as numbers (pg returns `bigint` as text by default). */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'the database URL';
  }
}

/** A {@link MetadataStore} on PostgreSQL. */
export class PgMetadataStore implements MetadataStore {
  private constructor(
    private readonly pool: pg.Pool,
    readonly location: string
  ) {}

  /**
   * Connects (a small pool: metadata is a few rows per run) and creates the tables if missing.
   * @param url A `postgres://user:password@host:port/database` URL.
   */
  static async open(url: string, poolSize = 4): Promise<PgMetadataStore> {
    const pool = new pg.Pool({ connectionString: url, max: poolSize, types });
    // An idle client's error (the server restarted) would otherwise be an uncaught 'error' event.
    pool.on('error', () => undefined);
    const store = new PgMetadataStore(pool, redactUrl(url));
    try {
      await store.transaction(async (c) => {
        // Concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalog: one creator at a time.
        await c.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
        await c.query(SCHEMA);
      });
    } catch (err) {
      await pool.end();
      throw new Error(`cannot open run metadata at ${store.location}: ${(err as Error).message}`, { cause: err });
    }
    return store;
  }

  private async transaction<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    // A checked-out client has no listener of the pool's: the server going away mid-transaction would emit an
    // uncaught 'error' and end the worker. The failed query reports it; the broken client is not reused.
    const ignore = () => undefined;
    c.on('error', ignore);
    let failure: Error | undefined;
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      failure = err as Error;
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      // A failed client is dropped with the listener kept: the broken connection may still report its end.
      if (!failure) c.removeListener('error', ignore);
      c.release(failure);
    }
  }

  async startRun(run: RunStart): Promise<void> {
    const now = new Date().toISOString();
    await this.pool.query(
      `INSERT INTO runs (run_hash, parse_hash, curator_name, dataset_hash, prompt_func, model_name, provider, base_url,
         response_format, batch_mode, created_time, last_edited_time, status, workflow_id, total_requests)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, 'running', $12, $13)
       ON CONFLICT(run_hash) DO UPDATE SET parse_hash = excluded.parse_hash, last_edited_time = excluded.last_edited_time,
         status = 'running', workflow_id = excluded.workflow_id, total_requests = excluded.total_requests`,
      [
        run.run_hash,
        run.parse_hash,
        run.curator_name,
        run.dataset_hash,
        run.prompt_func,
        run.model_name,
        run.provider,
        run.base_url,
        run.response_format,
        run.batch_mode ?? 0,
        now,
        run.workflow_id,
        run.total_requests,
      ]
    );
    await this.event(run.run_hash, 'started', run.workflow_id, { parse_hash: run.parse_hash });
  }

  async finishRun(runHash: string, f: RunFinish): Promise<void> {
    await this.pool.query(
      `UPDATE runs SET status = $2, parse_hash = $3, workflow_id = $4, total_requests = $5, succeeded_requests = $6,
         failed_requests = $7, cached_requests = $8, total_prompt_tokens = $9, total_completion_tokens = $10,
         total_cost_milli_dollars = $11, output_rows = $12, dataset_path = $13, dataset_sha256 = $14,
         failed_requests_path = $15, last_edited_time = $16
       WHERE run_hash = $1`,
      [
        runHash,
        f.status,
        f.parse_hash,
        f.workflow_id,
        f.total_requests,
        f.succeeded_requests,
        f.failed_requests,
        f.cached_requests,
        f.total_prompt_tokens,
        f.total_completion_tokens,
        f.total_cost_milli_dollars ?? null,
        f.output_rows,
        f.dataset_path,
        f.dataset_sha256,
        f.failed_requests_path,
        new Date().toISOString(),
      ]
    );
    await this.event(runHash, f.status, f.workflow_id, { dataset_sha256: f.dataset_sha256 });
  }

  async event(runHash: string, event: string, workflowId: string | null, detail?: unknown): Promise<void> {
    await this.pool.query(
      'INSERT INTO run_events (run_hash, at, event, workflow_id, detail) VALUES ($1, $2, $3, $4, $5)',
      [runHash, new Date().toISOString(), event, workflowId, detail === undefined ? null : JSON.stringify(detail)]
    );
  }

  async getRun(runHash: string): Promise<RunRecord | undefined> {
    return (await this.pool.query<RunRecord>('SELECT * FROM runs WHERE run_hash = $1', [runHash])).rows[0];
  }

  async listRuns(limit = 50): Promise<RunRecord[]> {
    return (
      await this.pool.query<RunRecord>('SELECT * FROM runs ORDER BY last_edited_time DESC, run_hash LIMIT $1', [limit])
    ).rows;
  }

  async events(runHash: string): Promise<RunEvent[]> {
    return (
      await this.pool.query<RunEvent>(
        'SELECT at, event, workflow_id, detail FROM run_events WHERE run_hash = $1 ORDER BY id',
        [runHash]
      )
    ).rows;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
