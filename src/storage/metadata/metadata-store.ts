/**
 * The metadata of runs (what `curator runs`/`show`/`export` read) behind one asynchronous interface: `metadata.db`
 * (SQLite) in the cache directory by default, PostgreSQL when `CURATOR_DATABASE_URL` is set, so that workers on
 * several machines and the CLI anywhere see the same runs.
 */
import { MetadataDb, type RunRecord } from '../metadata-db';

/** What {@link MetadataStore.startRun} records about a starting run (as {@link MetadataDb.startRun}). */
export type RunStart = Parameters<MetadataDb['startRun']>[0];
/** What {@link MetadataStore.finishRun} records about a finished run (as {@link MetadataDb.finishRun}). */
export type RunFinish = Parameters<MetadataDb['finishRun']>[1];
/** One entry of a run's history. */
export type RunEvent = ReturnType<MetadataDb['events']>[number];

/** {@link MetadataDb}'s methods, asynchronous (a network database answers later). */
export interface MetadataStore {
  /** Where the metadata lives, for messages (a path, or the database URL without its password). */
  readonly location: string;
  /** Records a run's identity when it starts; a known run keeps its creation time. */
  startRun(run: RunStart): Promise<void>;
  /** Records a finished run's counts, output and hashes. */
  finishRun(runHash: string, fields: RunFinish): Promise<void>;
  /** Appends one entry to a run's history. */
  event(runHash: string, event: string, workflowId: string | null, detail?: unknown): Promise<void>;
  getRun(runHash: string): Promise<RunRecord | undefined>;
  /** The most recently edited runs first. */
  listRuns(limit?: number): Promise<RunRecord[]>;
  /** A run's history, oldest first. */
  events(runHash: string): Promise<RunEvent[]>;
  close(): Promise<void>;
}

/** `metadata.db` through the {@link MetadataStore} interface. */
export class SqliteMetadataStore implements MetadataStore {
  private readonly db: MetadataDb;

  constructor(readonly location: string) {
    this.db = new MetadataDb(location);
  }

  async startRun(run: RunStart): Promise<void> {
    this.db.startRun(run);
  }
  async finishRun(runHash: string, fields: RunFinish): Promise<void> {
    this.db.finishRun(runHash, fields);
  }
  async event(runHash: string, event: string, workflowId: string | null, detail?: unknown): Promise<void> {
    this.db.event(runHash, event, workflowId, detail);
  }
  async getRun(runHash: string): Promise<RunRecord | undefined> {
    return this.db.getRun(runHash);
  }
  async listRuns(limit?: number): Promise<RunRecord[]> {
    return this.db.listRuns(limit);
  }
  async events(runHash: string): Promise<RunEvent[]> {
    return this.db.events(runHash);
  }
  async close(): Promise<void> {
    this.db.close();
  }
}
