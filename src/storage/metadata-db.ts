/**
 * `metadata.db` at the cache root: one row per run, as Curator keeps, plus the columns Curator never fills in (status,
 * workflow id, request counts, tokens, cost) and a `run_events` table that records each job's history on this machine.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** One run in `metadata.db`, as Curator's columns name it. */
export interface RunRecord {
  run_hash: string;
  parse_hash: string | null;
  curator_name: string;
  dataset_hash: string;
  prompt_func: string;
  model_name: string;
  provider: string;
  base_url: string;
  response_format: string;
  batch_mode: number;
  created_time: string;
  last_edited_time: string;
  status: string;
  workflow_id: string | null;
  total_requests: number;
  succeeded_requests: number;
  failed_requests: number;
  cached_requests: number;
  total_prompt_tokens: number;
  total_completion_tokens: number;
  total_cost_milli_dollars: number | null;
  output_rows: number;
  dataset_path: string | null;
  dataset_sha256: string | null;
  failed_requests_path: string | null;
}

/** The tables (SQLite); the PostgreSQL store translates this same text, so the two never drift apart. */
export const METADATA_SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  run_hash TEXT PRIMARY KEY,
  parse_hash TEXT,
  curator_name TEXT NOT NULL,
  dataset_hash TEXT NOT NULL,
  prompt_func TEXT NOT NULL,
  model_name TEXT NOT NULL,
  provider TEXT NOT NULL,
  base_url TEXT NOT NULL,
  response_format TEXT NOT NULL,
  batch_mode BOOLEAN NOT NULL DEFAULT 0,
  created_time TEXT NOT NULL,
  last_edited_time TEXT NOT NULL,
  status TEXT NOT NULL,
  workflow_id TEXT,
  total_requests INTEGER NOT NULL DEFAULT 0,
  succeeded_requests INTEGER NOT NULL DEFAULT 0,
  failed_requests INTEGER NOT NULL DEFAULT 0,
  cached_requests INTEGER NOT NULL DEFAULT 0,
  total_prompt_tokens INTEGER NOT NULL DEFAULT 0,
  total_completion_tokens INTEGER NOT NULL DEFAULT 0,
  total_cost_milli_dollars REAL,
  output_rows INTEGER NOT NULL DEFAULT 0,
  dataset_path TEXT,
  dataset_sha256 TEXT,
  failed_requests_path TEXT
);
CREATE TABLE IF NOT EXISTS run_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_hash TEXT NOT NULL,
  at TEXT NOT NULL,
  event TEXT NOT NULL,
  workflow_id TEXT,
  detail TEXT
);
CREATE INDEX IF NOT EXISTS run_events_run ON run_events(run_hash);
`;

/** Opens (and creates) the database; WAL lets several worker processes and the CLI read while one writes. */
export class MetadataDb {
  private readonly db: Database.Database;

  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 10000');
    this.db.exec(METADATA_SCHEMA);
  }

  /** Records a run's identity when it starts; a known run keeps its creation time. */
  startRun(
    run: Pick<
      RunRecord,
      | 'run_hash'
      | 'parse_hash'
      | 'curator_name'
      | 'dataset_hash'
      | 'prompt_func'
      | 'model_name'
      | 'provider'
      | 'base_url'
      | 'response_format'
      | 'workflow_id'
      | 'total_requests'
    > &
      Partial<Pick<RunRecord, 'batch_mode'>>
  ): void {
    const now = new Date().toISOString();
    this.db
      .prepare(
        `INSERT INTO runs (run_hash, parse_hash, curator_name, dataset_hash, prompt_func, model_name, provider, base_url,
           response_format, batch_mode, created_time, last_edited_time, status, workflow_id, total_requests)
         VALUES (@run_hash, @parse_hash, @curator_name, @dataset_hash, @prompt_func, @model_name, @provider, @base_url,
           @response_format, @batch_mode, @now, @now, 'running', @workflow_id, @total_requests)
         ON CONFLICT(run_hash) DO UPDATE SET parse_hash = excluded.parse_hash, last_edited_time = excluded.last_edited_time,
           status = 'running', workflow_id = excluded.workflow_id, total_requests = excluded.total_requests`
      )
      .run({ batch_mode: 0, ...run, now });
    this.event(run.run_hash, 'started', run.workflow_id, { parse_hash: run.parse_hash });
  }

  /** Records a finished run's counts, output and hashes. */
  finishRun(
    runHash: string,
    fields: Pick<
      RunRecord,
      | 'status'
      | 'parse_hash'
      | 'workflow_id'
      | 'total_requests'
      | 'succeeded_requests'
      | 'failed_requests'
      | 'cached_requests'
      | 'total_prompt_tokens'
      | 'total_completion_tokens'
      | 'output_rows'
      | 'dataset_path'
      | 'dataset_sha256'
      | 'failed_requests_path'
    > &
      Partial<Pick<RunRecord, 'total_cost_milli_dollars'>>
  ): void {
    this.db
      .prepare(
        `UPDATE runs SET status = @status, parse_hash = @parse_hash, workflow_id = @workflow_id,
           total_requests = @total_requests, succeeded_requests = @succeeded_requests, failed_requests = @failed_requests,
           cached_requests = @cached_requests, total_prompt_tokens = @total_prompt_tokens,
           total_completion_tokens = @total_completion_tokens, total_cost_milli_dollars = @total_cost_milli_dollars,
           output_rows = @output_rows, dataset_path = @dataset_path,
           dataset_sha256 = @dataset_sha256, failed_requests_path = @failed_requests_path, last_edited_time = @now
         WHERE run_hash = @run_hash`
      )
      .run({ total_cost_milli_dollars: null, ...fields, run_hash: runHash, now: new Date().toISOString() });
    this.event(runHash, fields.status, fields.workflow_id, { dataset_sha256: fields.dataset_sha256 });
  }

  /** Records an event of a run (`cache-hit`, a status change, ...). */
  event(runHash: string, event: string, workflowId: string | null, detail?: unknown): void {
    this.db
      .prepare('INSERT INTO run_events (run_hash, at, event, workflow_id, detail) VALUES (?, ?, ?, ?, ?)')
      .run(runHash, new Date().toISOString(), event, workflowId, detail === undefined ? null : JSON.stringify(detail));
  }

  /** The run of that hash, if known. */
  getRun(runHash: string): RunRecord | undefined {
    return this.db.prepare('SELECT * FROM runs WHERE run_hash = ?').get(runHash) as RunRecord | undefined;
  }

  /** The most recently changed runs, newest first. */
  listRuns(limit = 50): RunRecord[] {
    return this.db
      .prepare('SELECT * FROM runs ORDER BY last_edited_time DESC, run_hash LIMIT ?')
      .all(limit) as RunRecord[];
  }

  /** A run's events, oldest first. */
  events(runHash: string): { at: string; event: string; workflow_id: string | null; detail: string | null }[] {
    return this.db
      .prepare('SELECT at, event, workflow_id, detail FROM run_events WHERE run_hash = ? ORDER BY id')
      .all(runHash) as never;
  }

  /** Closes the database. */
  close(): void {
    this.db.close();
  }
}
