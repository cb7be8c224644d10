/**
 * One rate limiter per bucket (provider, base URL, model) per worker process, over the window every process sending
 * with the key shares: `limits.db` in the cache directory, or PostgreSQL when `CURATOR_DATABASE_URL` is set.
 */
import type { Curator } from '../curator';
import { inputNeedsCount, OutputEstimator, textChars } from './estimate';
import { rateBucket } from './bucket';
import { defaultConcurrencyCeiling } from './concurrency';
import { Gate } from './gate';
import { RateLimiter } from './rate-limiter';
import type { Enforcement } from './pacing';
import { LimitsProbe } from './limits-probe';
import type { LimitWindow } from './limit-window';
import { SharedWindow } from './shared-window';
import type { Cost, Limits } from './window';
import type { ProviderRequest } from '../types/requests';

export type { Permit, RefusalScope } from './rate-limiter';

export function configuredLimits(curator: Curator): Limits {
  const b = curator.backend ?? {};
  return {
    requestsPerMinute: b.maxRequestsPerMinute,
    tokensPerMinute: b.maxTokensPerMinute,
    inputTokensPerMinute: b.maxInputTokensPerMinute,
    outputTokensPerMinute: b.maxOutputTokensPerMinute,
    requestsPerSecond: b.maxRequestsPerSecond,
  };
}

/**
 * What the limiter needs of the bucket's provider (its `ProviderModule`): how it counts tokens before sending, and how
 * it enforces its limits. Without one, input is counted from the messages' length, on the high side.
 */
export interface TokenEstimates {
  estimateInputTokens(request: ProviderRequest): number;
  /** The provider counts `max_tokens` against the output budget up front. */
  readonly reservesMaxTokens?: boolean;
  /** How the provider enforces its limits over short intervals (default: per interval). */
  readonly limitEnforcement?: Enforcement;
}

const BY_LENGTH: TokenEstimates = {
  estimateInputTokens: (request) => Math.ceil(JSON.stringify(request.messages).length / 3),
};

export interface BucketLimiter {
  limiter: RateLimiter;
  outputs: OutputEstimator;
  /** Whether the endpoint has answered at least once in this process. */
  answered: boolean;
  /** The bucket's limits probe: sent by the first request while no limit is known (see `limits-probe.ts`). */
  probe: LimitsProbe;
  /** The cost to reserve before sending: the input estimate plus the expected output. */
  estimate(request: ProviderRequest): Cost;
}

/** One job's requests in flight in this process, shared by its batch activities. */
export interface JobSlots<F> {
  gate: Gate;
  /**
   * No request of the job is sent from now on in this process: it was cancelled, or `fatal` (a bad key, a missing
   * model) would fail every request alike. Its other batches see it before sending.
   */
  stop(fatal?: F): void;
  stopped(): { fatal?: F } | undefined;
  /** The batch is over. */
  done(): void;
}

/**
 * Opens the window the limiters share: PostgreSQL when `env.CURATOR_DATABASE_URL` is set (workers on several
 * machines hold one limit between them, see pg-window.ts), else the SQLite file `limitsDb` (the processes of one
 * machine, or of one shared cache directory).
 */
export function openLimitWindow(limitsDb: string, env: NodeJS.ProcessEnv = process.env): LimitWindow {
  const url = env.CURATOR_DATABASE_URL;
  if (!url) return new SharedWindow(limitsDb);
  // Loaded only when chosen: the embedded default never pays for the PostgreSQL client (see open-metadata-store.ts).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { PgWindow } = require('./pg-window') as typeof import('./pg-window');
  return new PgWindow(url);
}

export class LimiterPool {
  private window?: LimitWindow;
  private readonly buckets = new Map<string, BucketLimiter>();
  private readonly jobs = new Map<string, { gate: Gate; users: number; stopped: { fatal?: unknown } | undefined }>();

  /** @param open The shared window, opened on first use: a `limits.db` path, or a function opening any window. */
  constructor(private readonly open: string | (() => LimitWindow)) {}

  get(curator: Curator, baseURL: string, maxConcurrent: number, tokens: TokenEstimates = BY_LENGTH): BucketLimiter {
    const key = rateBucket(curator, baseURL);
    let entry = this.buckets.get(key);
    if (!entry) {
      this.window ??= typeof this.open === 'string' ? new SharedWindow(this.open) : this.open();
      const limiter = new RateLimiter({
        bucket: key,
        configured: configuredLimits(curator),
        // Shared by every job on the bucket: the machine's bound, or a job's larger one. A job's smaller
        // maxConcurrentRequests is its own gate's (`jobSlots`), not the bucket's.
        maxConcurrent: Math.max(defaultConcurrencyCeiling(), maxConcurrent),
        window: this.window,
        enforcement: tokens.limitEnforcement,
      });
      const outputs = new OutputEstimator();
      entry = {
        limiter,
        outputs,
        answered: false,
        probe: new LimitsProbe(key, limiter),
        estimate: (request) => {
          const output = outputs.estimate(request, tokens.reservesMaxTokens === true);
          const chars = textChars(request);
          // The provider counts only where its count could change when the request is sent (`inputNeedsCount`), and
          // always counts images and files; text alone is three characters a token on most text.
          const input =
            chars === undefined || inputNeedsCount(limiter.limits(), chars, output)
              ? tokens.estimateInputTokens(request)
              : Math.ceil(chars / 3);
          return { requests: 1, input, output };
        },
      };
      this.buckets.set(key, entry);
    } else {
      entry.limiter.raiseCeiling(maxConcurrent);
    }
    return entry;
  }

  /**
   * The places of one job's requests in flight in this process: its `maxConcurrentRequests`, whichever bucket they
   * go to and whatever the bucket's limiter allows (its ceiling is set by the first job that uses it). Call `done()`
   * when the batch ends; the entry is forgotten when no batch of the job uses it.
   */
  jobSlots<F>(jobId: string, maxConcurrent: number): JobSlots<F> {
    let entry = this.jobs.get(jobId);
    if (!entry) {
      entry = { gate: new Gate(() => maxConcurrent), users: 0, stopped: undefined };
      this.jobs.set(jobId, entry);
    }
    entry.users++;
    const e = entry;
    let done = false;
    return {
      gate: e.gate,
      stop: (fatal) => {
        e.stopped ??= { fatal };
      },
      stopped: () => e.stopped as { fatal?: F } | undefined,
      done: () => {
        if (done) return;
        done = true;
        if (--e.users === 0) this.jobs.delete(jobId);
      },
    };
  }

  close(): void {
    this.window?.close();
  }
}
