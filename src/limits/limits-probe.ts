/**
 * The limits probe of a bucket. A bucket with no limit known starts with one request at a time until an answer tells
 * the limits (see `RateLimiter.concurrencyTarget`), which costs a whole answer's latency: seconds, tens of seconds for
 * reasoning models. Providers send their rate-limit headers as soon as a streamed response starts, so the first
 * request of such a bucket also starts one tiny streamed request ("hi", as Curator's own probe) and learns the
 * limits from its headers within a time to first token.
 *
 * The probe only adds: the bucket behaves as before until its headers come, and a probe that fails (a wrong key, a
 * server that does not stream, a timeout) leaves it so, with one log line. Its errors never reach a request: the
 * bucket's first real request meets the same error and fails the job as it always did. Once per bucket and process,
 * shared by every job on the bucket.
 */
import type { RateLimiter } from './rate-limiter';

/**
 * How long a probe waits for its headers. The bucket's first request goes meanwhile, so a longer wait costs only a
 * socket; a server slower than this to start a stream is left to that request.
 */
export const PROBE_TIMEOUT_MS = 10_000;

/** Sends the probe: the headers of a streamed answer, undefined when the server does not stream; throws as a call. */
export type ProbeSend = (signal: AbortSignal, timeoutMs: number) => Promise<Headers | undefined>;

/** The run history's event of a probe that a request of the run started, with its bucket and outcome. */
export const LIMITS_PROBE_EVENT = 'limits-probe';

/** How a probe ended: its headers were learned, the server answered without streaming, or it failed. */
export type ProbeOutcome = 'learned' | 'not-streamed' | 'failed';

/** Whether a bucket sends its probe now. Pure. */
export function shouldProbe(state: {
  /** The bucket's probe was sent already (in this process). */
  sent: boolean;
  /** The limiter wants limits: nothing answered yet and no limit learned or configured. */
  wanted: boolean;
}): boolean {
  return state.wanted && !state.sent;
}

export interface ProbeOptions {
  send: ProbeSend;
  /** One line for the worker's log. */
  log: (line: string) => void;
  /** An error of `send`, in a few words (its type and status). */
  describe: (err: unknown) => string;
  /** @defaultValue {@link PROBE_TIMEOUT_MS} */
  timeoutMs?: number;
}

/** One bucket's probe in this process. */
export class LimitsProbe {
  private outcome?: Promise<ProbeOutcome>;

  constructor(
    private readonly bucket: string,
    private readonly limiter: Pick<RateLimiter, 'wantsLimits' | 'probed'>
  ) {}

  /** Whether the probe was sent (at most once). */
  get sent(): boolean {
    return this.outcome !== undefined;
  }

  /**
   * Sends the probe if the bucket wants it and it was not sent; resolves to its outcome (never rejects), or returns
   * undefined when no probe was sent by this call.
   */
  start(options: ProbeOptions): Promise<ProbeOutcome> | undefined {
    if (!shouldProbe({ sent: this.sent, wanted: this.limiter.wantsLimits() })) return undefined;
    const { send, log, describe, timeoutMs = PROBE_TIMEOUT_MS } = options;
    const started = Date.now();
    const after = () => `${Date.now() - started} ms`;
    const fallback = 'one request at a time until the first answer';
    this.outcome = send(AbortSignal.timeout(timeoutMs), timeoutMs).then(
      (headers): ProbeOutcome => {
        if (headers === undefined) {
          log(`limits probe of ${this.bucket}: the server answered without streaming after ${after()}; ${fallback}`);
          return 'not-streamed';
        }
        this.limiter.probed(headers);
        log(`limits probe of ${this.bucket}: headers after ${after()}, learned (not a paid request of the run)`);
        return 'learned';
      },
      (err: unknown): ProbeOutcome => {
        log(`limits probe of ${this.bucket} failed after ${after()} (${describe(err)}); ${fallback}`);
        return 'failed';
      }
    );
    return this.outcome;
  }
}
