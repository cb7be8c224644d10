/**
 * Runs the simulator from the command line until interrupted:
 *
 *   tsx src/simulator/cli.ts --port 8787 --latency 200-800 --rpm 3000 --tpm 500000
 *
 * `--help` lists every option (see {@link SIMULATOR_USAGE}).
 */
import { parseArgs } from 'node:util';
import { startSimulator } from './server';
import { SIM_HEADER_DIALECTS } from './header-dialects';
import type { LatencySpec, RateLimitOptions, SimulatorOptions } from './types';

/** The options, as `curator simulator --help` prints them. */
export const SIMULATOR_USAGE = `Options:
  --port N                    port on 127.0.0.1 (default: any free port)
  --seed TEXT                 seed of the deterministic answers
  --keys KEY1,KEY2            accepted API keys (default: any)

Latency (per request, before answering):
  --latency MS | MIN-MAX      fixed, or uniform in a range, in milliseconds
  --latency-median MS         log-normal with this median ...
  --latency-p99 MS            ... and this 99th percentile (default: 5 x the median)
  --latency-max MS            cut log-normal draws at this many ms

Rate limits (per minute; unset ones are reported in the headers but not enforced):
  --rpm N, --tpm N            requests and tokens per minute the simulator allows (429 beyond)
  --input-tpm N, --output-tpm N
                              Anthropic-style input and output token limits
  --enforcement MODE          sliding-window (default): over a window of --window-ms (default 60000);
                              per-second: OpenAI's quantization, limit/60 in any one second;
                              token-bucket: Anthropic's bucket, refilled at limit/60 per second
  --window-ms N               length of the sliding-window rate-limit window
  --burst-seconds N           token-bucket size, in seconds of refill (default 1)
  --omit-rate-limit-headers   answer without rate-limit headers, as self-hosted servers do
  --header-dialect NAME       OpenAI-format rate-limit headers as openai (default), groq or together send them

Transient errors (sent with budget left, before the rate limiter):
  --transient-429 RATE        chance per request of a 429 with retry-after and the true remaining headers
  --overloaded-529 RATE       chance per Anthropic request of a 529 overloaded_error
  --retry-after S             retry-after of those errors, in seconds (default 1)

Capacity (a server like vLLM or Ollama, without rate-limit headers):
  --capacity N                serve at most N requests at once ...
  --queue Q                   ... queue up to Q more (default 0), answer 503 beyond`;

function positive(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} expects a non-negative number, got "${value}"`);
  return n;
}

function rate(name: string, value: string | undefined): number | undefined {
  const n = positive(name, value);
  if (n !== undefined && n > 1) throw new Error(`--${name} expects a chance between 0 and 1, got "${value}"`);
  return n;
}

function latency(values: Record<string, string | boolean | undefined>): LatencySpec | undefined {
  const median = positive('latency-median', values['latency-median'] as string | undefined);
  if (median !== undefined) {
    if (values.latency !== undefined) throw new Error('--latency and --latency-median exclude each other');
    const p99 = positive('latency-p99', values['latency-p99'] as string | undefined) ?? 5 * median;
    const max = positive('latency-max', values['latency-max'] as string | undefined);
    return max === undefined ? { median, p99 } : { median, p99, max };
  }
  const value = values.latency as string | undefined;
  if (value === undefined) return undefined;
  const range = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(value);
  if (range) return { min: Number(range[1]), max: Number(range[2]) };
  return positive('latency', value);
}

const ENFORCEMENTS = ['sliding-window', 'per-second', 'token-bucket'] as const;

/** Parses `argv` (without node and script) into simulator options. Exported for tests. */
export function optionsFromArgs(argv: string[]): SimulatorOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      latency: { type: 'string' },
      'latency-median': { type: 'string' },
      'latency-p99': { type: 'string' },
      'latency-max': { type: 'string' },
      rpm: { type: 'string' },
      tpm: { type: 'string' },
      'input-tpm': { type: 'string' },
      'output-tpm': { type: 'string' },
      enforcement: { type: 'string' },
      'window-ms': { type: 'string' },
      'burst-seconds': { type: 'string' },
      'transient-429': { type: 'string' },
      'overloaded-529': { type: 'string' },
      'retry-after': { type: 'string' },
      capacity: { type: 'string' },
      queue: { type: 'string' },
      seed: { type: 'string' },
      keys: { type: 'string' },
      'omit-rate-limit-headers': { type: 'boolean' },
      'header-dialect': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  const rateLimits: RateLimitOptions = {};
  const set = (key: Exclude<keyof RateLimitOptions, 'enforcement'>, flag: string, raw: string | undefined): void => {
    const n = positive(flag, raw);
    if (n !== undefined) rateLimits[key] = n;
  };
  set('rpm', 'rpm', values.rpm);
  set('tpm', 'tpm', values.tpm);
  set('inputTpm', 'input-tpm', values['input-tpm']);
  set('outputTpm', 'output-tpm', values['output-tpm']);
  set('windowMs', 'window-ms', values['window-ms']);
  set('burstSeconds', 'burst-seconds', values['burst-seconds']);
  if (values.enforcement !== undefined) {
    const mode = ENFORCEMENTS.find((m) => m === values.enforcement);
    if (mode === undefined) {
      throw new Error(`--enforcement expects one of ${ENFORCEMENTS.join(', ')}, got "${values.enforcement}"`);
    }
    rateLimits.enforcement = mode;
  }
  const options: SimulatorOptions = { port: positive('port', values.port) ?? 0 };
  const latencyMs = latency(values);
  if (latencyMs !== undefined) options.latencyMs = latencyMs;
  if (Object.keys(rateLimits).length > 0) options.rateLimits = rateLimits;
  const rate429 = rate('transient-429', values['transient-429']);
  const rate529 = rate('overloaded-529', values['overloaded-529']);
  const retryAfterSeconds = positive('retry-after', values['retry-after']);
  if (rate429 !== undefined || rate529 !== undefined) {
    options.transient = {};
    if (rate429 !== undefined) options.transient.rate429 = rate429;
    if (rate529 !== undefined) options.transient.rate529 = rate529;
    if (retryAfterSeconds !== undefined) options.transient.retryAfterSeconds = retryAfterSeconds;
  }
  const concurrent = positive('capacity', values.capacity);
  if (concurrent !== undefined) options.capacity = { concurrent, queue: positive('queue', values.queue) ?? 0 };
  if (values.seed !== undefined) options.seed = values.seed;
  if (values.keys !== undefined) options.validApiKeys = values.keys.split(',').filter((k) => k !== '');
  if (values['omit-rate-limit-headers'] === true) options.omitRateLimitHeaders = true;
  if (values['header-dialect'] !== undefined) {
    const dialect = SIM_HEADER_DIALECTS.find((d) => d === values['header-dialect']);
    if (dialect === undefined) {
      throw new Error(
        `--header-dialect expects one of ${SIM_HEADER_DIALECTS.join(', ')}, got "${values['header-dialect']}"`
      );
    }
    options.rateLimitHeaderDialect = dialect;
  }
  return options;
}

/**
 * Starts a simulator from command-line arguments (without node and script), prints its base URLs, and resolves once
 * SIGINT or SIGTERM has closed it. `curator simulator …` calls this too. `--help` prints the usage and returns.
 */
export async function runSimulatorCli(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`Usage: tsx src/simulator/cli.ts [options]\n\n${SIMULATOR_USAGE}\n`);
    return;
  }
  const sim = await startSimulator(optionsFromArgs(argv));
  process.stdout.write(
    `Simulator listening on ${sim.url}\n` +
      `  OpenAI:    OPENAI_BASE_URL=${sim.openaiBaseURL}\n` +
      `  Anthropic: ANTHROPIC_BASE_URL=${sim.anthropicBaseURL}\n` +
      `  Stats:     GET ${sim.url}/_sim/stats   Load: GET ${sim.url}/_sim/load-stats   Reset: POST ${sim.url}/_sim/reset\n`
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void sim.close().then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

if (require.main === module) {
  runSimulatorCli(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
