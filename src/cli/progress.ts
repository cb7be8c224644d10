/**
 * Live progress of a job for people: a panel redrawn in place on a terminal, a plain line every few seconds in logs.
 * Everything comes from `curationProgress` (queries and describes), so watching a job adds nothing to its history.
 */
import type { Client } from '@temporalio/client';
import { dirname, join } from 'node:path';
import { curationProgress, type CurationProgress } from '../client';
import type { LimiterLoad } from '../limits/rate-limiter';
import { readLearnedLimits, readWorkerLoad } from '../limits/readout';
import type { Limits } from '../limits/window';
import { readOldestWaiting, type OldestWaiting } from '../providers/waiting-requests';

/** One look at a job, reduced to the counters that rates are computed from. */
interface Sample {
  at: number;
  settled: number;
  succeeded: number;
  input: number;
  output: number;
  cost: number;
}

export interface Rates {
  requestsPerMinute: number;
  inputTokensPerMinute: number;
  outputTokensPerMinute: number;
  costPerMinute: number;
}

/** Rates over the last minute of samples (or since the first one), so a burst or a stall shows within a minute. */
export class RateMeter {
  private readonly samples: Sample[] = [];

  constructor(private readonly windowMs = 60_000) {}

  add(sample: Sample): Rates {
    this.samples.push(sample);
    while (this.samples.length > 2 && sample.at - this.samples[1].at >= this.windowMs) this.samples.shift();
    const first = this.samples[0];
    const minutes = (sample.at - first.at) / 60_000;
    if (minutes <= 0)
      return { requestsPerMinute: 0, inputTokensPerMinute: 0, outputTokensPerMinute: 0, costPerMinute: 0 };
    return {
      requestsPerMinute: (sample.settled - first.settled) / minutes,
      inputTokensPerMinute: (sample.input - first.input) / minutes,
      outputTokensPerMinute: (sample.output - first.output) / minutes,
      costPerMinute: (sample.cost - first.cost) / minutes,
    };
  }
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const money = (n: number) => `$${n < 1 ? n.toFixed(4) : n.toFixed(2)}`;

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

function bar(share: number, width = 30): string {
  const filled = Math.round(Math.min(1, Math.max(0, share)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

function spent(p: CurationProgress): number {
  if (!p.prices) return 0;
  const t = p.stats.tokens;
  return (t.input * p.prices.inputPerMillion + t.output * p.prices.outputPerMillion) / 1_000_000;
}

/** The workers' `limits.db` beside the run, when the run is on this machine. */
function limitsDbOf(p: Pick<CurationProgress, 'runDir' | 'rateBucket'>): { path: string; bucket: string } | undefined {
  if (!p.runDir || !p.rateBucket) return undefined;
  return { path: join(dirname(p.runDir), 'limits.db'), bucket: p.rateBucket };
}

/**
 * The limits learned from the provider's headers, when the workers' `limits.db` is on this machine (the embedded
 * default, `curator dev`, or a shared cache volume); undefined otherwise.
 */
export function learnedLimits(p: Pick<CurationProgress, 'runDir' | 'rateBucket'>): Limits | undefined {
  const db = limitsDbOf(p);
  return db && readLearnedLimits(db.path, db.bucket);
}

/**
 * Requests in flight and the concurrency target over the worker processes of this machine that send to the run's
 * bucket, as they report them in `limits.db` every second; undefined when none did lately.
 */
export function workerLoad(p: Pick<CurationProgress, 'runDir' | 'rateBucket'>, now: number): LimiterLoad | undefined {
  const db = limitsDbOf(p);
  return db && readWorkerLoad(db.path, db.bucket, now);
}

/** Where the panel reads the limits learned from headers and the workers' load for a run. */
export interface LimitsReadout {
  /** The limits learned from the provider's headers for the run's bucket; undefined when none are known here. */
  learned(p: Pick<CurationProgress, 'runDir' | 'rateBucket'>): Promise<Limits | undefined>;
  /** Requests in flight and the concurrency target over the workers that reported lately; undefined when none did. */
  load(p: Pick<CurationProgress, 'runDir' | 'rateBucket'>, now: number): Promise<LimiterLoad | undefined>;
  /** Lets go of what the readout opened. */
  close(): Promise<void>;
}

/**
 * The readout of the store the workers share their limits through: PostgreSQL when `env.CURATOR_DATABASE_URL` is
 * set (the workers may be on other machines), else the `limits.db` beside the run on this machine.
 */
export function openLimitsReadout(env: NodeJS.ProcessEnv = process.env): LimitsReadout {
  const url = env.CURATOR_DATABASE_URL;
  if (!url) {
    return {
      learned: async (p) => learnedLimits(p),
      load: async (p, now) => workerLoad(p, now),
      close: async () => undefined,
    };
  }
  // Loaded only when chosen, as the workers' window is (limits/index.ts `openLimitWindow`).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { PgReadout } = require('../limits/pg-readout') as typeof import('../limits/pg-readout');
  const db = new PgReadout(url);
  return {
    learned: async (p) => (p.rateBucket ? db.learned(p.rateBucket) : undefined),
    load: async (p) => (p.rateBucket ? db.load(p.rateBucket) : undefined),
    close: () => db.close(),
  };
}

/**
 * The oldest request in flight of the run's bucket over the worker processes of this machine, when one has waited
 * long (see `WaitingRequests`); undefined otherwise.
 */
export function oldestWaiting(
  p: Pick<CurationProgress, 'runDir' | 'rateBucket'>,
  now: number
): OldestWaiting | undefined {
  if (!p.runDir || !p.rateBucket) return undefined;
  return readOldestWaiting(dirname(p.runDir), p.rateBucket, now);
}

/** A wait as people read it: `47 s`, `3 min`, `2 min 5 s`. */
export function formatWait(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const rest = s % 60;
  return `${Math.floor(s / 60)} min${rest ? ` ${rest} s` : ''}`;
}

/** Says how long the oldest request has waited and when it times out, so a silent server does not look stuck. */
function waitingNote(waiting: OldestWaiting | undefined, now: number): string {
  if (!waiting) return '';
  const timeout = waiting.timeoutMs > 0 ? ` (times out after ${formatWait(waiting.timeoutMs)})` : '';
  return `  |  oldest request waiting ${formatWait(now - waiting.since)}${timeout}`;
}

/** A limit as shown: the user's setting wins; a limit learned from headers says so. */
function limit(set: number | undefined, learned: number | undefined, unit: string): string {
  if (set) return ` (limit ${int(set)} ${unit})`;
  return learned ? ` (limit ${int(learned)} ${unit} from headers)` : '';
}

/** Turns one look at a job into a sample for the rate meter. */
export function sampleOf(p: CurationProgress, at: number): Sample {
  return {
    at,
    settled: p.settled,
    succeeded: p.stats.succeeded,
    input: p.stats.tokens.input,
    output: p.stats.tokens.output,
    cost: spent(p),
  };
}

/** The panel: progress and time, requests, tokens against the limits, cost; the workers' load when known. */
export function renderPanel(
  p: CurationProgress,
  rates: Rates,
  now: number,
  learned: Limits = {},
  load?: LimiterLoad,
  waiting?: OldestWaiting
): string[] {
  const s = p.stats;
  const share = p.totalRequests > 0 ? p.settled / p.totalRequests : 1;
  const elapsed = p.startedAt !== undefined ? now - p.startedAt : undefined;
  const left = p.totalRequests - p.settled;
  const remaining = rates.requestsPerMinute > 0 ? (left / rates.requestsPerMinute) * 60_000 : undefined;
  const finishedRequests = s.succeeded + s.failed;
  const avg = (n: number) => (finishedRequests > 0 ? ` (avg ${int(n / finishedRequests)})` : '');
  const cost = spent(p);
  const projected = finishedRequests > 0 ? (cost / finishedRequests) * p.totalRequests : 0;
  const l = p.limits ?? {};
  const lines = [
    `${p.curator} ${bar(share)} ${(share * 100).toFixed(1)}%  ${int(p.settled)}/${int(p.totalRequests)} requests` +
      (elapsed !== undefined ? `  elapsed ${formatDuration(elapsed)}` : '') +
      `  remaining ${remaining !== undefined ? `~${formatDuration(remaining)}` : '?'}`,
    `Requests  succeeded ${int(s.succeeded)}  failed ${int(s.failed)}  cached ${int(s.cached)}  ` +
      `in progress ${int(p.inProgress)}  retries ${int(s.retries)}  |  ` +
      `${int(rates.requestsPerMinute)} req/min${limit(l.requestsPerMinute, learned.requestsPerMinute, 'RPM')}` +
      (load ? `  |  in flight ${int(load.inFlight)} (target ${int(load.target)})` : '') +
      waitingNote(waiting, now),
    `Tokens    in ${int(s.tokens.input)}${avg(s.tokens.input)}  out ${int(s.tokens.output)}${avg(s.tokens.output)}  |  ` +
      `${int(rates.inputTokensPerMinute + rates.outputTokensPerMinute)} TPM${limit(l.tokensPerMinute, learned.tokensPerMinute, 'TPM')}, ` +
      `input ${int(rates.inputTokensPerMinute)}${limit(l.inputTokensPerMinute, learned.inputTokensPerMinute, 'ITPM')}, ` +
      `output ${int(rates.outputTokensPerMinute)}${limit(l.outputTokensPerMinute, learned.outputTokensPerMinute, 'OTPM')}`,
  ];
  lines.push(
    p.prices
      ? `Cost      ${money(cost)} so far  ~${money(projected)} projected  ${money(rates.costPerMinute)}/min  |  ` +
          `$${p.prices.inputPerMillion} in / $${p.prices.outputPerMillion} out per 1M tokens` +
          (p.prices.batch ? ' (batch API: 50% off)' : '')
      : 'Cost      unknown: no price for this model (set inputCostPerMillion / outputCostPerMillion)'
  );
  return lines;
}

/** One line for logs, where a redrawn panel would be noise. */
export function renderLine(p: CurationProgress, rates: Rates, now = Date.now(), waiting?: OldestWaiting): string {
  const s = p.stats;
  const share = p.totalRequests > 0 ? (100 * p.settled) / p.totalRequests : 100;
  return (
    `${p.curator}: ${p.settled}/${p.totalRequests} requests (${share.toFixed(1)}%), ok ${s.succeeded}, ` +
    `failed ${s.failed}, cached ${s.cached}, in progress ${p.inProgress}, ${Math.round(rates.requestsPerMinute)} req/min, ` +
    `tokens ${s.tokens.input} in ${s.tokens.output} out` +
    (p.prices ? `, ${money(spent(p))} so far` : '') +
    waitingNote(waiting, now).replace('  |  ', ', ')
  );
}

export interface WatchOptions {
  /** Where to draw: stderr by default, so stdout stays for results. */
  stream?: NodeJS.WriteStream;
  /** Between looks, in ms: 1 s on a terminal, 5 s in logs by default. */
  intervalMs?: number;
  /** Stops the watch (the job may go on). */
  signal?: AbortSignal;
  /** Force the plain-log mode even on a terminal. */
  plain?: boolean;
  /** Show one look and return. */
  once?: boolean;
  /**
   * Where the learned limits and the workers' load are read.
   * @defaultValue `openLimitsReadout()`: PostgreSQL when `CURATOR_DATABASE_URL` is set, else `limits.db`
   */
  readout?: LimitsReadout;
}

/**
 * Shows a job's progress until it stops running or `signal` aborts. A job that is not running (finished, or not
 * started yet) is simply looked at again later; failed looks are retried, because progress must never stop a job.
 */
export async function watchProgress(client: Client, workflowId: string, options: WatchOptions = {}): Promise<void> {
  const readout = options.readout ?? openLimitsReadout();
  try {
    await lookUntilStopped(client, workflowId, options, readout);
  } finally {
    if (!options.readout) await readout.close();
  }
}

async function lookUntilStopped(
  client: Client,
  workflowId: string,
  options: WatchOptions,
  readout: LimitsReadout
): Promise<void> {
  const stream = options.stream ?? process.stderr;
  const tty = !options.plain && stream.isTTY === true;
  const interval = options.intervalMs ?? (tty ? 1000 : 5000);
  const meter = new RateMeter();
  let seeded = false;
  let drawn = 0;
  let looks = 0;
  let learned: Limits = {};
  const sleep = () =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, interval);
      options.signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
  while (!options.signal?.aborted) {
    const progress = await curationProgress(client, workflowId).catch(() => undefined);
    if (progress && !options.signal?.aborted) {
      const now = Date.now();
      // Until a minute of looks exists, rates are averages since the job began rather than nothing.
      if (!seeded && progress.startedAt !== undefined && progress.startedAt < now) {
        meter.add({ at: progress.startedAt, settled: 0, succeeded: 0, input: 0, output: 0, cost: 0 });
      }
      seeded = true;
      const rates = meter.add(sampleOf(progress, now));
      if (tty || options.once) {
        // Learned limits change rarely: read them every ten looks at most.
        if (looks++ % 10 === 0) learned = (await readout.learned(progress)) ?? {};
        const lines = renderPanel(
          progress,
          rates,
          now,
          learned,
          await readout.load(progress, now),
          oldestWaiting(progress, now)
        );
        if (tty) {
          // Move up over the previous panel and clear each line, so the panel stays in one place.
          if (drawn) stream.write(`\x1b[${drawn}A`);
          stream.write(lines.map((line) => `\x1b[2K${line}\n`).join(''));
          drawn = lines.length;
        } else {
          stream.write(lines.join('\n') + '\n');
        }
      } else {
        stream.write(renderLine(progress, rates, now, oldestWaiting(progress, now)) + '\n');
      }
      if (options.once) return;
    }
    await sleep();
  }
}

/**
 * `curator status`: the panel once, or redrawn until the job ends with `watch`. Says how a job that is not running
 * ended.
 */
export async function showStatus(client: Client, workflowId: string, watch: boolean): Promise<void> {
  const handle = client.workflow.getHandle(workflowId);
  const ended = async () => {
    const status = (await handle.describe()).status.name;
    return status === 'RUNNING' ? undefined : status.toLowerCase();
  };
  let end = await ended();
  if (!end) {
    const stop = new AbortController();
    const watching = watchProgress(client, workflowId, {
      stream: process.stdout,
      signal: stop.signal,
      once: !watch,
    });
    if (watch) {
      while (!(end = await ended())) await new Promise((r) => setTimeout(r, 1000));
      stop.abort();
    }
    await watching;
  }
  if (end) console.log(`${workflowId}: ${end}`);
}
