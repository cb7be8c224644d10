/**
 * A loopback OpenAI- and Anthropic-compatible HTTP server for tests: deterministic answers, exact `usage`, the
 * providers' headers and error bodies, rate limits and fault injection. Import it as `temporal-curator/simulator`.
 *
 * @example
 * import { startSimulator } from 'temporal-curator/simulator';
 * const sim = await startSimulator({ rateLimits: { rpm: 600 } });
 * const openai = new OpenAI({ apiKey: 'sk-test', baseURL: sim.openaiBaseURL });
 * const anthropic = new Anthropic({ apiKey: 'sk-ant-test', baseURL: sim.anthropicBaseURL });
 * // A prompt containing [[sim:status=429,retryAfter=0.5,times=2]] fails twice, then succeeds.
 * await sim.close();
 */
export { startSimulator } from './server';
export type {
  BatchOptions,
  FaultRule,
  FaultSpec,
  FirstTokenOptions,
  LatencySpec,
  RateLimitOptions,
  RecordedRequest,
  SimProvider,
  Simulator,
  SimulatorOptions,
  SimulatorStats,
  TransientOptions,
} from './types';
export { SIM_HEADER_DIALECTS, type SimHeaderDialect } from './header-dialects';
export { parseDirectives, type Directive } from './faults';
export { formatGoDuration, formatRfc3339 } from './rate-limits';
export { firstTokenMs } from './streaming';
export { latencySampler, logNormal, type LatencySampler } from './latency';
export { generateFromSchema, Rng } from './answers';
