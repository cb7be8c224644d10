/**
 * One activity at a time per batch, across machines, on the object store alone (no database): the lease is an object
 * created with `If-None-Match: *` (one winner among concurrent takers), refreshed and taken over with `If-Match` on
 * the version last seen (one winner again), and released with a conditional delete (only one's own lease). It plays
 * the part of the local `ShardLease` file; as there, correctness of the data never depends on it (segments are
 * write-once), it only keeps a terminated job's orphan and its successor from sending the same requests at once.
 *
 * Expiry compares the holder's `expiresAt` with the reader's clock, so `staleMs` must exceed the worst clock skew
 * between machines.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { ObjectStore } from './object-store';

/** Timing of a {@link StoreLease}. */
export interface StoreLeaseOptions {
  /**
   * A lease not refreshed for this long is taken over.
   * @defaultValue 15000
   */
  staleMs?: number;
  /**
   * How often the holder refreshes it (0: never by itself; call {@link StoreLease.refresh}).
   * @defaultValue 5000
   */
  refreshMs?: number;
  /**
   * How often a waiter looks again.
   * @defaultValue 250
   */
  pollMs?: number;
  /** This holder's name, recorded in the lease; by default the process id and a random tag. */
  owner?: string;
  /** The clock, in ms since the epoch (tests inject one). */
  now?: () => number;
  /** Called once if a refresh finds the lease taken over: stop sending. */
  onLost?: () => void;
}

/** The lease object's content. */
interface LeaseBody {
  owner: string;
  expiresAt: number;
}

function parseBody(body: Buffer): LeaseBody | undefined {
  try {
    const v = JSON.parse(body.toString('utf8')) as LeaseBody;
    return typeof v.owner === 'string' && typeof v.expiresAt === 'number' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** A held lease on one key of an {@link ObjectStore}. */
export class StoreLease {
  private timer?: NodeJS.Timeout;
  private refreshing?: Promise<boolean>;
  private isLost = false;

  private constructor(
    private readonly store: ObjectStore,
    readonly key: string,
    readonly owner: string,
    private etag: string,
    private readonly opts: Required<Omit<StoreLeaseOptions, 'owner' | 'onLost'>> & Pick<StoreLeaseOptions, 'onLost'>
  ) {
    if (opts.refreshMs > 0) {
      this.timer = setInterval(() => void this.refresh(), opts.refreshMs);
      this.timer.unref();
    }
  }

  /** True once a refresh found the lease taken over by another holder. */
  get lost(): boolean {
    return this.isLost;
  }

  /** Waits for the key to be free or stale (calling `waiting` meanwhile), then holds it. */
  static async acquire(
    store: ObjectStore,
    key: string,
    signal: AbortSignal,
    waiting: () => void,
    options: StoreLeaseOptions = {}
  ): Promise<StoreLease> {
    const opts = {
      staleMs: options.staleMs ?? 15_000,
      refreshMs: options.refreshMs ?? 5000,
      pollMs: options.pollMs ?? 250,
      now: options.now ?? Date.now,
      onLost: options.onLost,
    };
    const owner = options.owner ?? `${process.pid}.${randomBytes(4).toString('hex')}`;
    const body = () => JSON.stringify({ owner, expiresAt: opts.now() + opts.staleMs } satisfies LeaseBody);
    for (;;) {
      signal.throwIfAborted();
      let etag = await store.putIfAbsent(key, body());
      if (etag === undefined) {
        const current = await store.get(key);
        if (current === undefined) continue; // released meanwhile: try to create it again
        const held = parseBody(current.body);
        // Stale, unreadable, or ours from before a restart: take it over from exactly the version we read.
        if (!held || held.expiresAt < opts.now() || held.owner === owner) {
          etag = await store.putIfMatch(key, body(), current.etag);
        }
      }
      if (etag !== undefined) return new StoreLease(store, key, owner, etag, opts);
      waiting();
      await delay(opts.pollMs, undefined, { signal });
    }
  }

  /**
   * Pushes the expiry forward. False (and {@link lost} set, `onLost` called) when another holder has taken the lease
   * over; a store error leaves the lease as it was (the next refresh tries again) and rethrows.
   */
  refresh(): Promise<boolean> {
    this.refreshing ??= (async () => {
      try {
        if (this.isLost) return false;
        const body = JSON.stringify({ owner: this.owner, expiresAt: this.opts.now() + this.opts.staleMs });
        const etag = await this.store.putIfMatch(this.key, body, this.etag);
        if (etag !== undefined) {
          this.etag = etag;
          return true;
        }
        this.isLost = true;
        clearInterval(this.timer);
        this.opts.onLost?.();
        return false;
      } finally {
        this.refreshing = undefined;
      }
    })();
    // The timer's refreshes have no one to tell about a store error but the next refresh.
    this.refreshing.catch(() => undefined);
    return this.refreshing;
  }

  /** Stops refreshing and deletes the lease if it is still this holder's version. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    await this.refreshing?.catch(() => undefined);
    if (!this.isLost) await this.store.deleteIfMatch(this.key, this.etag);
  }
}
