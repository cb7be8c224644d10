/**
 * Latency distributions: a delay drawn per request from a fixed value, a uniform range, or a log-normal with a long
 * tail given its median and 99th percentile (reasoning models and overloaded gateways answer like that: most requests
 * near the median, a few several times slower).
 *
 * Samplers are pure functions of a `random()` source, so a test can seed them and check the distribution without
 * timing anything.
 */
import type { LatencySpec } from './types';

/** z of the standard normal's 99th percentile. */
const Z99 = 2.326347874040841;

/** Draws one delay in ms. `random` returns floats in [0, 1). */
export type LatencySampler = (random: () => number) => number;

/** The sampler for a latency option; `undefined` means no delay. */
export function latencySampler(spec: LatencySpec | undefined): LatencySampler {
  if (spec === undefined) return () => 0;
  if (typeof spec === 'number') {
    const ms = Math.max(0, spec);
    return () => ms;
  }
  if ('median' in spec) return logNormal(spec.median, spec.p99, spec.max);
  const min = Math.max(0, Math.min(spec.min, spec.max));
  const max = Math.max(0, spec.min, spec.max);
  return (random) => Math.round(min + random() * (max - min));
}

/**
 * A log-normal sampler: `ln(delay)` is normal with mean `ln(median)` and a spread that puts the 99th percentile at
 * `p99`. Draws above `max` (if given) are cut to `max`.
 */
export function logNormal(median: number, p99: number, max = Infinity): LatencySampler {
  if (!(median > 0)) return () => 0;
  const mu = Math.log(median);
  const sigma = p99 > median ? Math.log(p99 / median) / Z99 : 0;
  return (random) => Math.min(max, Math.round(Math.exp(mu + sigma * standardNormal(random))));
}

/** Box–Muller: one standard normal draw from two uniforms. */
function standardNormal(random: () => number): number {
  const u = 1 - random(); // in (0, 1], so the log is finite
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
