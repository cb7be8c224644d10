/**
 * The send log of each rate-limit bucket, in a SQLite file beside the cache, so every worker process on the machine
 * (or on a volume they share) admits requests against one window: two workers with one key get one limit between
 * them, not one each. Also keeps each bucket's pause (after a 429) and the limits learned from headers.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { admissionDelay, horizon, type Cost, type Limits, type WindowEntry } from './window';

export interface BucketState {
  pausedUntil: number;
  learned?: Limits;
}

export class SharedWindow {
  private readonly db: Database.Database;
  private readonly statements;

  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // The window is worth seconds: losing its tail in a power cut costs nothing, a sync per request costs speed.
    this.db.pragma('synchronous = OFF');
    this.db.pragma('busy_timeout = 10000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS sends (id INTEGER PRIMARY KEY, bucket TEXT NOT NULL, at INTEGER NOT NULL,
        requests INTEGER NOT NULL, input INTEGER NOT NULL, output INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS sends_bucket_at ON sends(bucket, at);
      CREATE TABLE IF NOT EXISTS buckets (bucket TEXT PRIMARY KEY, paused_until INTEGER NOT NULL DEFAULT 0, learned TEXT);
    `);
    this.statements = {
      prune: this.db.prepare('DELETE FROM sends WHERE bucket = ? AND at <= ?'),
      live: this.db.prepare('SELECT at, requests, input, output FROM sends WHERE bucket = ? ORDER BY at'),
      insert: this.db.prepare('INSERT INTO sends (bucket, at, requests, input, output) VALUES (?, ?, ?, ?, ?)'),
      settle: this.db.prepare('UPDATE sends SET input = ?, output = ? WHERE id = ?'),
      remove: this.db.prepare('DELETE FROM sends WHERE id = ?'),
      state: this.db.prepare('SELECT paused_until AS pausedUntil, learned FROM buckets WHERE bucket = ?'),
      pause: this.db.prepare(
        `INSERT INTO buckets (bucket, paused_until) VALUES (?, ?)
         ON CONFLICT(bucket) DO UPDATE SET paused_until = MAX(paused_until, excluded.paused_until)`
      ),
      learn: this.db.prepare(
        `INSERT INTO buckets (bucket, learned) VALUES (?, ?) ON CONFLICT(bucket) DO UPDATE SET learned = excluded.learned`
      ),
      totals: this.db.prepare(
        'SELECT COALESCE(SUM(requests), 0) AS requests, COALESCE(SUM(input), 0) AS input, COALESCE(SUM(output), 0) AS output FROM sends WHERE bucket = ? AND at > ?'
      ),
    };
  }

  /** Admits `cost` now and returns its entry id, or returns how long to wait; one transaction, so processes never race. */
  tryAdmit(bucket: string, cost: Cost, limits: Limits, now: number): { id: number } | { waitMs: number } {
    return this.db
      .transaction(() => {
        this.statements.prune.run(bucket, horizon(now));
        const entries = this.statements.live.all(bucket) as WindowEntry[];
        const waitMs = admissionDelay(entries, cost, limits, now);
        if (waitMs > 0) return { waitMs };
        const { lastInsertRowid } = this.statements.insert.run(bucket, now, cost.requests, cost.input, cost.output);
        return { id: Number(lastInsertRowid) };
      })
      .immediate();
  }

  /** Replaces an estimate by what the provider actually counted. */
  settle(id: number, input: number, output: number): void {
    this.statements.settle.run(input, output, id);
  }

  /** Takes back a send the provider did not count (it was refused before any work). */
  remove(id: number): void {
    this.statements.remove.run(id);
  }

  /** Records use of the key that this window does not know of (another machine), as reported by the provider. */
  addExternal(bucket: string, cost: Cost, now: number): void {
    this.statements.insert.run(bucket, now, cost.requests, cost.input, cost.output);
  }

  totals(bucket: string, now: number): Cost {
    return this.statements.totals.get(bucket, horizon(now)) as Cost;
  }

  pause(bucket: string, until: number): void {
    this.statements.pause.run(bucket, until);
  }

  state(bucket: string): BucketState {
    const row = this.statements.state.get(bucket) as { pausedUntil: number; learned: string | null } | undefined;
    return {
      pausedUntil: row?.pausedUntil ?? 0,
      learned: row?.learned ? (JSON.parse(row.learned) as Limits) : undefined,
    };
  }

  learn(bucket: string, limits: Limits): void {
    this.statements.learn.run(bucket, JSON.stringify(limits));
  }

  close(): void {
    this.db.close();
  }
}
