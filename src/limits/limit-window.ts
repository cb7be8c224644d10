/**
 * What a rate limiter needs from the window its bucket's sends are counted in, whichever store keeps it: the SQLite
 * file of the machine (`shared-window.ts`) or PostgreSQL for workers on several machines (`pg-window.ts`). Every
 * method is synchronous and cheap: admission runs once per request, so a window answers from memory and does its I/O
 * in batches (SQLite in short transactions, PostgreSQL in the background).
 */
import type { Cost, Limits } from './window';

/** A bucket's pause (after a 429 with its budget used up) and the limits learned from the provider's headers. */
export interface BucketState {
  pausedUntil: number;
  learned?: Limits;
}

/** Where a send was counted, so it can be corrected by the actual usage or taken back. */
export interface SendRef {
  bucket: string;
  /** The slot's end, on the window's clock: a send counts as if made at the latest moment of its slot (the safe side). */
  at: number;
  cost: Cost;
}

/** A bucket's send window shared by every process that sends with the same key. */
export interface LimitWindow {
  /** Admits `cost` now (this process's clock) and says where it was counted, or how long to wait before asking again. */
  tryAdmit(bucket: string, cost: Cost, limits: Limits, now: number): { ref: SendRef } | { waitMs: number };
  /** Replaces an estimate by what the provider actually counted. */
  settle(ref: SendRef, input: number, output: number): void;
  /** Takes back a send the provider did not count (it was refused before any work). */
  remove(ref: SendRef): void;
  /** Records use of the key that this window does not know of, as reported by the provider. */
  addExternal(bucket: string, cost: Cost, now: number): void;
  /** What this bucket really sent within the window, over every process. */
  totals(bucket: string, now: number): Cost;
  /** Pauses the bucket for every process until `until` (this process's clock). */
  pause(bucket: string, until: number): void;
  /** The bucket's pause (on this process's clock) and learned limits, as recently known. */
  state(bucket: string): BucketState;
  /** Records this process's requests in flight and its target, for the others and for progress displays. */
  report(bucket: string, load: { inFlight: number; target: number }, now: number): void;
  /** Other processes with requests in flight on `bucket` lately. */
  peers(bucket: string, now: number): number;
  /** Keeps limits learned from headers for every process and later job. */
  learn(bucket: string, limits: Limits): void;
  /** Gives back what is reserved and not used, writes what is queued, and lets go of the store. */
  close(): void;
}
