/**
 * The simulator in a process of its own, so that no contender shares an event loop with it: every contender talks
 * to this one instance over loopback. Controlled over IPC by `SimHandle` (sim-handle.ts): stats summaries without
 * shipping a million prompts, reset, and the arrival time of the first request after a moment (for resume).
 *
 *   fork('bench/lib/sim-process.ts', [JSON.stringify(options)])
 */
import { startSimulator } from '../../src/simulator';
import type { SimulatorOptions } from '../../src/simulator';

export interface SimSummary {
  total: number;
  byStatus: Record<string, number>;
  distinctPrompts: number;
  /** Prompts requested more than once, and the requests beyond the first of each. */
  repeatedPrompts: number;
  extraRequests: number;
  firstAt?: number;
  lastAt?: number;
  /** Requests per second between the first and last arrival. */
  arrivalRate?: number;
}

/** The simulator's load figures (`SimulatorStats` without the per-request records). */
export interface SimLoad {
  refused: { rateLimited: number; transient429: number; overloaded529: number; capacity503: number };
  maxInFlight: number;
  maxServing: number;
  /** [epoch second, completion requests answered 200 that were received in it], in time order. */
  admittedPerSecond: [number, number][];
}

export type SimCommand =
  | { id: number; cmd: 'summary' }
  | { id: number; cmd: 'load' }
  | { id: number; cmd: 'reset' }
  | { id: number; cmd: 'firstAfter'; at: number }
  | { id: number; cmd: 'countAfter'; at: number }
  | { id: number; cmd: 'close' };

async function main() {
  const options = JSON.parse(process.argv[2] ?? '{}') as SimulatorOptions;
  const sim = await startSimulator(options);

  const summary = (): SimSummary => {
    const { stats } = sim;
    let repeatedPrompts = 0;
    let extraRequests = 0;
    for (const count of stats.byPrompt.values()) {
      if (count > 1) {
        repeatedPrompts++;
        extraRequests += count - 1;
      }
    }
    const firstAt = stats.requests[0]?.at;
    const lastAt = stats.requests.at(-1)?.at;
    return {
      total: stats.total,
      byStatus: Object.fromEntries([...stats.byStatus].map(([k, v]) => [String(k), v])),
      distinctPrompts: stats.byPrompt.size,
      repeatedPrompts,
      extraRequests,
      firstAt,
      lastAt,
      arrivalRate:
        firstAt !== undefined && lastAt !== undefined && lastAt > firstAt
          ? Math.round((stats.total / (lastAt - firstAt)) * 1000 * 10) / 10
          : undefined,
    };
  };

  process.on('message', (message: SimCommand) => {
    let result: unknown;
    switch (message.cmd) {
      case 'summary':
        result = summary();
        break;
      case 'load':
        result = {
          refused: { ...sim.stats.refused },
          maxInFlight: sim.stats.maxInFlight,
          maxServing: sim.stats.maxServing,
          admittedPerSecond: [...sim.stats.admittedPerSecond].sort((a, b) => a[0] - b[0]),
        } satisfies SimLoad;
        break;
      case 'reset':
        sim.reset();
        // Drop the arrays' capacity too: a million records otherwise stay allocated in the next round.
        sim.stats.requests.splice(0);
        result = true;
        break;
      case 'firstAfter':
        result = sim.stats.requests.find((r) => r.at > message.at)?.at ?? null;
        break;
      case 'countAfter':
        result = sim.stats.requests.filter((r) => r.at > message.at).length;
        break;
      case 'close':
        void sim.close().then(() => {
          process.send?.({ id: message.id, result: true });
          process.exit(0);
        });
        return;
    }
    process.send?.({ id: message.id, result });
  });
  process.on('disconnect', () => void sim.close().then(() => process.exit(0)));
  process.send?.({ id: 0, result: { url: sim.url, openaiBaseURL: sim.openaiBaseURL } });
}

void main();
