/**
 * Runs the simulator from the command line until interrupted:
 *
 *   tsx src/simulator/cli.ts --port 8787 --latency 200-800 --rpm 3000 --tpm 500000
 *
 * Options: --port N, --latency MS | MIN-MAX, --rpm N, --tpm N, --input-tpm N, --output-tpm N, --window-ms N,
 * --seed TEXT, --keys KEY1,KEY2, --omit-rate-limit-headers.
 */
import { parseArgs } from 'node:util';
import { startSimulator } from './server';
import type { SimulatorOptions } from './types';

/** The options, as `curator simulator --help` prints them. */
export const SIMULATOR_USAGE = `Options:
  --port N                    port on 127.0.0.1 (default: any free port)
  --latency MS | MIN-MAX      answer latency in milliseconds, fixed or uniform in a range
  --rpm N, --tpm N            requests and tokens per minute the simulator allows (429 beyond)
  --input-tpm N, --output-tpm N
                              Anthropic-style input and output token limits
  --window-ms N               length of the rate-limit window
  --seed TEXT                 seed of the deterministic answers
  --keys KEY1,KEY2            accepted API keys (default: any)
  --omit-rate-limit-headers   answer without rate-limit headers, as self-hosted servers do`;

function positive(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} expects a non-negative number, got "${value}"`);
  return n;
}

function latency(value: string | undefined): SimulatorOptions['latencyMs'] {
  if (value === undefined) return undefined;
  const range = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(value);
  if (range) return { min: Number(range[1]), max: Number(range[2]) };
  return positive('latency', value);
}

/** Parses `argv` (without node and script) into simulator options. Exported for tests. */
export function optionsFromArgs(argv: string[]): SimulatorOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      latency: { type: 'string' },
      rpm: { type: 'string' },
      tpm: { type: 'string' },
      'input-tpm': { type: 'string' },
      'output-tpm': { type: 'string' },
      'window-ms': { type: 'string' },
      seed: { type: 'string' },
      keys: { type: 'string' },
      'omit-rate-limit-headers': { type: 'boolean' },
    },
    strict: true,
  });
  const rateLimits: NonNullable<SimulatorOptions['rateLimits']> = {};
  const set = (key: keyof typeof rateLimits, flag: string, raw: string | undefined): void => {
    const n = positive(flag, raw);
    if (n !== undefined) rateLimits[key] = n;
  };
  set('rpm', 'rpm', values.rpm);
  set('tpm', 'tpm', values.tpm);
  set('inputTpm', 'input-tpm', values['input-tpm']);
  set('outputTpm', 'output-tpm', values['output-tpm']);
  set('windowMs', 'window-ms', values['window-ms']);
  const options: SimulatorOptions = { port: positive('port', values.port) ?? 0 };
  const latencyMs = latency(values.latency);
  if (latencyMs !== undefined) options.latencyMs = latencyMs;
  if (Object.keys(rateLimits).length > 0) options.rateLimits = rateLimits;
  if (values.seed !== undefined) options.seed = values.seed;
  if (values.keys !== undefined) options.validApiKeys = values.keys.split(',').filter((k) => k !== '');
  if (values['omit-rate-limit-headers'] === true) options.omitRateLimitHeaders = true;
  return options;
}

/**
 * Starts a simulator from command-line arguments (without node and script), prints its base URLs, and resolves once
 * SIGINT or SIGTERM has closed it. `curator simulator …` calls this too.
 */
export async function runSimulatorCli(argv: string[]): Promise<void> {
  const sim = await startSimulator(optionsFromArgs(argv));
  process.stdout.write(
    `Simulator listening on ${sim.url}\n` +
      `  OpenAI:    OPENAI_BASE_URL=${sim.openaiBaseURL}\n` +
      `  Anthropic: ANTHROPIC_BASE_URL=${sim.anthropicBaseURL}\n` +
      `  Stats:     GET ${sim.url}/_sim/stats   Reset: POST ${sim.url}/_sim/reset\n`
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
