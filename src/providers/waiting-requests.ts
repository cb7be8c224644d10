/**
 * The requests a worker process has sent and not yet had answered, so that a progress display can say when one has
 * waited long and how long it may still wait. A server that never answers otherwise shows nothing for minutes.
 *
 * Nothing of this goes through Temporal (no history event, no payload): while the oldest request of a bucket has
 * waited more than {@link REPORT_AFTER_MS}, the process writes `<cache>/waiting/<pid>.json` once a second, and removes
 * it when none has; a request answered in time costs a map insertion and a deletion, no file.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CallOptions, ProviderClient } from './types';

/** A request waits this long before its process reports it. */
export const REPORT_AFTER_MS = 10_000;
/** A report older than this is from a process that stopped or no longer waits: displays ignore it. */
const STALE_MS = 5_000;

/** The oldest request in flight of a bucket: when it was sent and the time limit of its attempt. */
export interface OldestWaiting {
  since: number;
  timeoutMs: number;
}

interface Report {
  at: number;
  buckets: Record<string, OldestWaiting>;
}

/** The folder of the reports under a cache root. */
export const waitingDir = (cacheRoot: string) => join(cacheRoot, 'waiting');

export class WaitingRequests {
  /** Per bucket, the requests in flight in the order they were sent: the first is the oldest. */
  private readonly buckets = new Map<string, Map<number, OldestWaiting>>();
  private next = 0;
  private timer?: NodeJS.Timeout;
  private reported = false;

  constructor(
    private readonly cacheRoot: string,
    private readonly now: () => number = Date.now
  ) {}

  /** A client whose calls are tracked under `bucket`. */
  track(bucket: string, client: ProviderClient): ProviderClient {
    return {
      provider: client.provider,
      baseURL: client.baseURL,
      ...(client.classify ? { classify: (err: unknown) => client.classify!(err) } : {}),
      // A limits probe is not a request of any job: it is not shown as one waiting.
      ...(client.probeLimits ? { probeLimits: (model: string, o: CallOptions) => client.probeLimits!(model, o) } : {}),
      call: async (request, options) => {
        const done = this.sent(bucket, options.timeoutMs);
        try {
          return await client.call(request, options);
        } finally {
          done();
        }
      },
    };
  }

  /** Records a request sent now; the function returned forgets it. */
  sent(bucket: string, timeoutMs: number | undefined): () => void {
    let inFlight = this.buckets.get(bucket);
    if (!inFlight) this.buckets.set(bucket, (inFlight = new Map()));
    const id = this.next++;
    inFlight.set(id, { since: this.now(), timeoutMs: timeoutMs ?? 0 });
    this.timer ??= setInterval(() => this.report(), 1000).unref();
    return () => {
      inFlight.delete(id);
      if (inFlight.size === 0) this.buckets.delete(bucket);
    };
  }

  /** The oldest request in flight per bucket, for those that have waited more than {@link REPORT_AFTER_MS}. */
  longWaits(): Record<string, OldestWaiting> {
    const now = this.now();
    const out: Record<string, OldestWaiting> = {};
    for (const [bucket, inFlight] of this.buckets) {
      const oldest = inFlight.values().next().value;
      if (oldest && now - oldest.since > REPORT_AFTER_MS) out[bucket] = oldest;
    }
    return out;
  }

  /** Writes this process's report, or removes it when no request waits long. Best effort: progress only. */
  report(): void {
    const buckets = this.longWaits();
    const file = join(waitingDir(this.cacheRoot), `${process.pid}.json`);
    try {
      if (Object.keys(buckets).length > 0) {
        mkdirSync(waitingDir(this.cacheRoot), { recursive: true });
        const report: Report = { at: this.now(), buckets };
        writeFileSync(`${file}.tmp`, JSON.stringify(report));
        renameSync(`${file}.tmp`, file);
        this.reported = true;
      } else if (this.reported) {
        rmSync(file, { force: true });
        this.reported = false;
      }
    } catch {
      // A full or read-only disk must not fail requests over a progress hint.
    }
    if (this.buckets.size === 0 && !this.reported) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.reported) rmSync(join(waitingDir(this.cacheRoot), `${process.pid}.json`), { force: true });
  }
}

/** The oldest request in flight of `bucket` over the processes that report under `cacheRoot`; undefined if none. */
export function readOldestWaiting(cacheRoot: string, bucket: string, now: number): OldestWaiting | undefined {
  let oldest: OldestWaiting | undefined;
  let names: string[];
  try {
    names = readdirSync(waitingDir(cacheRoot)).filter((n) => n.endsWith('.json'));
  } catch {
    return undefined;
  }
  for (const name of names) {
    try {
      const report = JSON.parse(readFileSync(join(waitingDir(cacheRoot), name), 'utf8')) as Report;
      const entry = report.buckets?.[bucket];
      if (now - report.at > STALE_MS || !entry) continue;
      if (!oldest || entry.since < oldest.since) oldest = entry;
    } catch {
      // A report removed or replaced while read: the next look sees it.
    }
  }
  return oldest;
}
