/** Picks the limiter for a `rateLimits.enforcement` mode. */
import { PerSecondLimiter } from './per-second-limiter';
import { SlidingWindowLimiter, type Enforcement, type Limiter } from './rate-limits';
import { TokenBucketLimiter } from './token-bucket-limiter';

export function createLimiter(enforcement: Enforcement): Limiter {
  switch (enforcement) {
    case 'sliding-window':
      return new SlidingWindowLimiter();
    case 'per-second':
      return new PerSecondLimiter();
    case 'token-bucket':
      return new TokenBucketLimiter();
  }
}
