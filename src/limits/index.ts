/** One rate limiter per bucket (provider, base URL, model) per worker process, over the window shared on disk. */
import type { Curator } from '../curator';
import { estimateInputTokens, OutputEstimator } from './estimate';
import { rateBucket } from './bucket';
import { RateLimiter } from './rate-limiter';
import { SharedWindow } from './shared-window';
import type { Cost, Limits } from './window';
import type { ProviderRequest } from '../providers/types';

export type { Permit } from './rate-limiter';

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

export interface BucketLimiter {
  limiter: RateLimiter;
  outputs: OutputEstimator;
  /** Whether the endpoint has answered at least once in this process. */
  answered: boolean;
  /** The cost to reserve before sending: the input estimate plus the expected output. */
  estimate(request: ProviderRequest): Cost;
}

export class LimiterPool {
  private window?: SharedWindow;
  private readonly buckets = new Map<string, BucketLimiter>();

  constructor(private readonly path: string) {}

  get(curator: Curator, baseURL: string, maxConcurrent: number): BucketLimiter {
    const key = rateBucket(curator, baseURL);
    let entry = this.buckets.get(key);
    if (!entry) {
      this.window ??= new SharedWindow(this.path);
      const limiter = new RateLimiter({
        bucket: key,
        configured: configuredLimits(curator),
        maxConcurrent,
        window: this.window,
      });
      const outputs = new OutputEstimator();
      entry = {
        limiter,
        outputs,
        answered: false,
        estimate: (request) => ({
          requests: 1,
          input: estimateInputTokens(curator.provider, request),
          output: outputs.estimate(request, curator.provider),
        }),
      };
      this.buckets.set(key, entry);
    }
    return entry;
  }

  close(): void {
    this.window?.close();
  }
}
