/**
 * The send log of each rate-limit bucket, in a SQLite file beside the cache, so every worker process on the machine
 * (or on a volume they share) admits requests against one window: two workers with one key get one limit between
 * them, not one each. Also keeps each bucket's pause (after a 429) and the limits learned from headers.
 *
 * Sends are summed into 100 ms slots, so a window holds at most 600 rows however fast requests go: admission costs
 * the same at 5 or 5,000 requests per second.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { admissionDelay, horizon, type Cost, type Limits, type WindowEntry } from './window';

export const SLOT_MS = 100;

export interface BucketState {
  pausedUntil: number;
  learned?: Limits;
}

/** Where a send was counted, so it can be corrected by the actual usage or taken back. */
export interface SendRef {
  bucket: string;
  /** The slot's end: a send counts as if made at the latest moment of its slot, which errs on the safe side. */
  at: number;
  cost: Cost;
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
      CREATE TABLE IF NOT EXISTS slots (bucket TEXT NOT NULL, at INTEGER NOT NULL, requests INTEGER NOT NULL,
        input INTEGER NOT NULL, output INTEGER NOT NULL, PRIMARY KEY (bucket, at)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS buckets (bucket TEXT PRIMARY KEY, paused_until INTEGER NOT NULL DEFAULT 0, learned TEXT);
    `);
    this.statements = {
      prune: this.db.prepare('DELETE FROM slots WHERE bucket = ? AND at <= ?'),
      live: this.db.prepare('SELECT at, requests, input, output FROM slots WHERE bucket = ? ORDER BY at'),
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
      learn: this.db.prepare(
        `INSERT INTO buckets (bucket, learned) VALUES (?, ?) ON CONFLICT(bucket) DO UPDATE SET learned = excluded.learned`
      ),
      totals: this.db.prepare(
        `SELECT COALESCE(SUM(requests), 0) AS requests, COALESCE(SUM(input), 0) AS input,
           COALESCE(SUM(output), 0) AS output FROM slots WHERE bucket = ? AND at > ?`
      ),
    };
  }

  private add(bucket: string, at: number, cost: Cost): void {
    this.statements.add.run({ bucket, at, ...cost });
  }

  /** Admits `cost` now and says where it was counted, or how long to wait; one transaction, so processes never race. */
  tryAdmit(bucket: string, cost: Cost, limits: Limits, now: number): { ref: SendRef } | { waitMs: number } {
    return this.db
      .transaction(() => {
        this.statements.prune.run(bucket, horizon(now));
        const entries = this.statements.live.all(bucket) as WindowEntry[];
        const waitMs = admissionDelay(entries, cost, limits, now);
        if (waitMs > 0) return { waitMs };
        const at = Math.ceil((now + 1) / SLOT_MS) * SLOT_MS;
        this.add(bucket, at, cost);
        return { ref: { bucket, at, cost } };
      })
      .immediate();
  }

  /** Replaces an estimate by what the provider actually counted. */
  settle(ref: SendRef, input: number, output: number): void {
    this.add(ref.bucket, ref.at, { requests: 0, input: input - ref.cost.input, output: output - ref.cost.output });
  }

  /** Takes back a send the provider did not count (it was refused before any work). */
  remove(ref: SendRef): void {
    this.add(ref.bucket, ref.at, { requests: -ref.cost.requests, input: -ref.cost.input, output: -ref.cost.output });
  }

  /** Records use of the key that this window does not know of (another machine), as reported by the provider. */
  addExternal(bucket: string, cost: Cost, now: number): void {
    this.add(bucket, Math.ceil((now + 1) / SLOT_MS) * SLOT_MS, cost);
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
