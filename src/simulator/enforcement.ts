/** Picks the limiter for a `rateLimits.enforcement` mode. */
import { MinuteReportedLimiter } from './minute-report';
import { quantized } from './per-second-limiter';
import { SlidingWindowLimiter, type Enforcement, type Limiter } from './rate-limits';
import { TokenBucketLimiter } from './token-bucket-limiter';

export function createLimiter(enforcement: Enforcement): Limiter {
  switch (enforcement) {
    case 'sliding-window':
      return new SlidingWindowLimiter();
    case 'per-second':
      return new MinuteReportedLimiter(new SlidingWindowLimiter(), quantized);
    case 'token-bucket':
      return new MinuteReportedLimiter(new TokenBucketLimiter(), (settings) => settings);
  }
}
