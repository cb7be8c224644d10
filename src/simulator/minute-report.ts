/**
 * The headers of the short-interval modes. OpenAI's observed headers (remaining just under the limit, `reset` of a
 * few ms after one request) fit a per-minute bucket that refills continuously, and Anthropic documents one
 * ("continuously replenished up to your maximum limit"). So these modes report such a bucket, of the full per-minute
 * limit, while a stricter limiter enforces the short interval. A client pacing evenly at the limit thus sees
 * `remaining` near the limit; when the short interval is used up, `remaining` says 0 and `reset` is the time until
 * the enforcing limiter admits again (at most a second or the burst), so a 429 never contradicts the headers.
 */
import { DIMENSIONS, type Cost, type LimitSettings, type Limiter, type Rejection, type Snapshot } from './rate-limits';
import { TokenBucketLimiter } from './token-bucket-limiter';

export class MinuteReportedLimiter implements Limiter {
  private readonly minute = new TokenBucketLimiter();
  /** The per-minute settings of the last call, and their one-minute-bucket form (recomputed on change only). */
  private last?: { settings: LimitSettings; minute: LimitSettings };

  /**
   * @param enforcer - the limiter that decides admission
   * @param enforced - the settings it is given, derived from the per-minute ones
   */
  constructor(
    private readonly enforcer: Limiter,
    private readonly enforced: (settings: LimitSettings) => LimitSettings
  ) {}

  admit(now: number, cost: Cost, settings: LimitSettings): Rejection | undefined {
    const rejection = this.enforcer.admit(now, cost, this.enforced(settings));
    if (rejection !== undefined) return { ...rejection, limit: settings.buckets[rejection.dimension].limit };
    // Reporting only: the enforcer already keeps every minute within the limit.
    this.minute.admit(now, cost, this.minuteSettings(settings));
    return undefined;
  }

  snapshot(now: number, settings: LimitSettings): Snapshot {
    const short = this.enforcer.snapshot(now, this.enforced(settings));
    const report = this.minute.snapshot(now, this.minuteSettings(settings));
    for (const d of DIMENSIONS) {
      report[d].limit = settings.buckets[d].limit;
      if (short[d].enforced && short[d].remaining === 0) {
        report[d].remaining = 0;
        report[d].resetMs = Math.max(report[d].resetMs, short[d].resetMs);
      }
    }
    return report;
  }

  clear(): void {
    this.enforcer.clear();
    this.minute.clear();
  }

  private minuteSettings(settings: LimitSettings): LimitSettings {
    if (this.last?.settings !== settings) this.last = { settings, minute: { ...settings, burstSeconds: 60 } };
    return this.last.minute;
  }
}
