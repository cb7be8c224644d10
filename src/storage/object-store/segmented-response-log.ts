/**
 * The response log of one batch on a store that cannot append: a set of immutable segments, one per flush of one
 * writer, under the batch's prefix. It keeps the guarantees of the append-only file (response-log.ts):
 *
 * - an answer counts only once durable: {@link SegmentLogWriter.append} resolves when the segment holding the record
 *   has been stored (the PUT answered), and not before;
 * - nothing torn is read as data: a segment's key carries its length and SHA-256, and a reader skips (and reports) an
 *   object whose bytes do not match its name;
 * - a rerun reads every recorded answer: {@link loadSegmentedLog} lists the prefix and folds every segment with
 *   {@link ShardLog.apply}, the same fold as the local file.
 *
 * Keys are `<prefix>/<writer>.<seq>.<bytes>-<sha256/16>.jsonl`: written once (`If-None-Match: *`), never replaced,
 * so writers on different machines (a terminated job's orphan and its successor) never overwrite each other.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ShardLog, type AttemptRecord } from '../response-log';
import type { ObjectStore } from './object-store';

/** When a writer stores what it has queued. */
export interface SegmentFlushOptions {
  /**
   * Store the queued records once this many bytes are queued.
   * @defaultValue 65536
   */
  flushBytes?: number;
  /**
   * Store the queued records at most this long after the first of them was queued: the records of a batch's answers
   * arriving together share one PUT. 0 stores on the next turn of the event loop (today's local coalescing).
   * @defaultValue 100
   */
  flushDelayMs?: number;
}

const SEGMENT_NAME = /^([A-Za-z0-9_.-]+)\.(\d{8})\.(\d+)-([0-9a-f]{16})\.jsonl$/;
const WRITER_ID = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

/** What a segment's key says about it. */
export interface SegmentName {
  writer: string;
  seq: number;
  bytes: number;
  sha256: string;
}

const digest16 = (body: Buffer): string => createHash('sha256').update(body).digest('hex').slice(0, 16);

/** The key of a segment holding `body` (`prefix` without a trailing slash). */
export function segmentKey(prefix: string, writer: string, seq: number, body: Buffer): string {
  if (!WRITER_ID.test(writer)) throw new Error(`invalid segment writer id '${writer}'`);
  return `${prefix}/${writer}.${String(seq).padStart(8, '0')}.${body.length}-${digest16(body)}.jsonl`;
}

/** Parses the last part of a segment key; `undefined` for any other object under the prefix. */
export function parseSegmentName(name: string): SegmentName | undefined {
  const m = SEGMENT_NAME.exec(name);
  return m ? { writer: m[1], seq: Number(m[2]), bytes: Number(m[3]), sha256: m[4] } : undefined;
}

/** True when `body` is exactly what the segment's name says it holds. */
export function segmentIntact(name: SegmentName, body: Buffer): boolean {
  return body.length === name.bytes && digest16(body) === name.sha256;
}

/** A writer id unique to one activity attempt: `<job>.<attempt>.<random>` with unsafe characters replaced. */
export function newWriterId(job: string, attempt: number): string {
  const safe = job.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 80) || 'job';
  return `${safe}.${attempt}.${randomBytes(4).toString('hex')}`;
}

interface Pending {
  lines: string[];
  bytes: number;
  done: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
  timer?: NodeJS.Timeout;
}

/** Appends attempt records to a batch's segmented log; one writer per activity attempt. */
export class SegmentLogWriter {
  private seq = 0;
  private pending?: Pending;
  private chain: Promise<void> = Promise.resolve();
  private failed?: Error;
  private readonly flushBytes: number;
  private readonly flushDelayMs: number;

  /**
   * @param store Where the segments go.
   * @param prefix The batch's prefix (e.g. `<run>/responses/<batch>`), without a trailing slash.
   * @param writer This writer's id ({@link newWriterId}); no other writer may use it.
   */
  constructor(
    private readonly store: ObjectStore,
    private readonly prefix: string,
    readonly writer: string,
    opts: SegmentFlushOptions = {}
  ) {
    if (!WRITER_ID.test(writer)) throw new Error(`invalid segment writer id '${writer}'`);
    this.flushBytes = opts.flushBytes ?? 65536;
    this.flushDelayMs = opts.flushDelayMs ?? 100;
  }

  /** Resolves once the record is stored in a segment; rejects (as does every later append) if storing failed. */
  append(record: AttemptRecord): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    const line = JSON.stringify(record) + '\n';
    let p = this.pending;
    if (!p) {
      let resolve!: () => void;
      let reject!: (err: Error) => void;
      const done = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      p = this.pending = { lines: [], bytes: 0, done, resolve, reject };
      p.timer = setTimeout(() => this.seal(), this.flushDelayMs);
    }
    p.lines.push(line);
    p.bytes += Buffer.byteLength(line);
    if (p.bytes >= this.flushBytes) this.seal();
    return p.done;
  }

  /** Queues the pending records as the next segment, behind the segment being stored (one PUT at a time). */
  private seal(): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    clearTimeout(p.timer);
    this.chain = this.chain.then(async () => {
      if (this.failed) return p.reject(this.failed);
      try {
        await this.storeSegment(Buffer.from(p.lines.join('')));
        p.resolve();
      } catch (err) {
        this.failed = err as Error;
        p.reject(this.failed);
      }
    });
  }

  private async storeSegment(body: Buffer): Promise<void> {
    const key = segmentKey(this.prefix, this.writer, ++this.seq, body);
    if ((await this.store.putIfAbsent(key, body)) !== undefined) return;
    // Taken: only by this very PUT, retried by the client after its answer was lost. Then the bytes are ours.
    const there = await this.store.get(key);
    if (!there?.body.equals(body)) throw new Error(`segment ${key} exists with other content`);
  }

  /** Stores what is queued and waits for every segment; appends after close are not allowed. */
  async close(): Promise<void> {
    this.seal();
    await this.chain;
  }
}

/** Every record of a batch's segments, oldest first, each exactly once. */
export interface SegmentRecords {
  /** The records, as JSON lines (without the newline), in (`at`, key, line) order. */
  lines: string[];
  /** The segments read. */
  keys: string[];
  /** Objects under the prefix that are not intact segments: never read as data. */
  torn: string[];
}

/** Reads every intact segment under `prefix` (a record stored twice, by a compaction, counts once). */
export async function readSegments(store: ObjectStore, prefix: string): Promise<SegmentRecords> {
  const out: SegmentRecords = { lines: [], keys: [], torn: [] };
  const seen = new Set<string>();
  const dated: { at: string; line: string }[] = [];
  for await (const entry of store.list(`${prefix}/`)) {
    const rest = entry.key.slice(prefix.length + 1);
    const name = rest.includes('/') ? undefined : parseSegmentName(rest);
    const obj = name && (await store.get(entry.key));
    if (!obj) {
      if (!name) out.torn.push(entry.key);
      continue;
    }
    if (!segmentIntact(name, obj.body)) {
      out.torn.push(entry.key);
      continue;
    }
    out.keys.push(entry.key);
    for (const line of obj.body.toString('utf8').split('\n')) {
      if (line === '' || seen.has(line)) continue;
      seen.add(line);
      dated.push({ at: (JSON.parse(line) as AttemptRecord).at, line });
    }
  }
  // Stable: records of one instant keep the key order (writer, then seq) and their order within a segment.
  dated.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  out.lines = dated.map((d) => d.line);
  return out;
}

/** The batch's state for job `jobId`, folded from every segment (as {@link ShardLog.load} does for the file). */
export async function loadSegmentedLog(store: ObjectStore, prefix: string, jobId: string): Promise<ShardLog> {
  const log = new ShardLog();
  for (const line of (await readSegments(store, prefix)).lines) log.apply(JSON.parse(line) as AttemptRecord, jobId);
  return log;
}

/**
 * Merges the batch's segments into one (written first), then deletes the ones merged. A crash between the two leaves
 * records twice, which {@link readSegments} reads once; segments stored meanwhile are left for the next compaction.
 * Returns how many segments were merged (0 when there was nothing to do).
 */
export async function compactSegments(
  store: ObjectStore,
  prefix: string,
  writer = newWriterId('compact', 1)
): Promise<number> {
  const { lines, keys } = await readSegments(store, prefix);
  if (keys.length <= 1) return 0;
  const body = Buffer.from(lines.map((l) => l + '\n').join(''));
  await store.putIfAbsent(segmentKey(prefix, writer, 1, body), body);
  for (const key of keys) await store.delete(key);
  return keys.length;
}
