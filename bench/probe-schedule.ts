/**
 * Probe (issue #12): when each batch's requests reach the simulator, to see how the workflow schedules batches. Our
 * stack (dev server + one worker process) runs one job against an in-process simulator that records every request;
 * prints, per batch, its first and last arrival (seconds from the job's first request), calls and refusals, and the
 * 200s per second.
 *   npx tsx bench/probe-schedule.ts --rows 2000 --min-ms 1000 --rpm 6000 [--enforcement per-second]
 */
import { parseArgs } from 'node:util';
import { curationResult, startCuration } from '../src/client';
import { startSimulator } from '../src/simulator';
import { OurStack } from './lib/ours';

async function main() {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '2000' },
      'min-ms': { type: 'string', default: '1000' },
      rpm: { type: 'string', default: '6000' },
      enforcement: { type: 'string', default: 'per-second' },
      'batch-size': { type: 'string' },
    },
  });
  const rows = Number(values.rows);
  const minMs = Number(values['min-ms']);
  const sim = await startSimulator({
    latencyMs: minMs > 0 ? { min: minMs, max: 2 * minMs } : 0,
    rateLimits: { rpm: Number(values.rpm), tpm: 150_000_000, enforcement: values.enforcement as 'per-second' },
  });
  const stack = await OurStack.start({ openaiBaseURL: sim.openaiBaseURL });
  try {
    sim.reset();
    const t0 = Date.now();
    const handle = await startCuration(stack.client, 'bench-text', {
      dataset: Array.from({ length: rows }, (_, id) => ({ id })),
      cacheDir: stack.cacheDir,
      ...(values['batch-size'] ? { batchSize: Number(values['batch-size']) } : {}),
    });
    const result = await curationResult(handle);
    const wall = (Date.now() - t0) / 1000;
    const reqs = sim.stats.requests.filter((r) => r.path.includes('completions'));
    const first = reqs[0]!.at;
    const batchSize = Number(values['batch-size'] ?? 100);
    const perBatch = new Map<number, { first: number; last: number; n: number; refused: number }>();
    const perSecond = new Map<number, number>();
    for (const r of reqs) {
      const id = Number(/number (\d+)/.exec(r.prompt)![1]);
      const b = Math.floor(id / batchSize);
      const t = (r.at - first) / 1000;
      const e = perBatch.get(b) ?? { first: t, last: t, n: 0, refused: 0 };
      e.first = Math.min(e.first, t);
      e.last = Math.max(e.last, t);
      e.n++;
      if (r.status !== 200) e.refused++;
      perBatch.set(b, e);
      if (r.status === 200) perSecond.set(Math.floor(t), (perSecond.get(Math.floor(t)) ?? 0) + 1);
    }
    console.log(`wall ${wall.toFixed(1)} s, ${reqs.length} calls, succeeded ${result.stats.succeeded}`);
    console.log('batch first..last (calls, refused)');
    console.log(
      [...perBatch]
        .sort((a, b) => a[0] - b[0])
        .map(([b, e]) => `${b}:${e.first.toFixed(1)}..${e.last.toFixed(1)}(${e.n},${e.refused})`)
        .join(' ')
    );
    const last = Math.max(...perSecond.keys());
    console.log('per second:', Array.from({ length: last + 1 }, (_, s) => perSecond.get(s) ?? 0).join(','));
    // The tail: calls after the last second at half the limit or more, by attempt and by the gap since the same
    // prompt's previous call (a retry inside its shard follows its refusal within about a second; a retry round of
    // the workflow waits for the batch's slowest answer).
    const half = Number(values.rpm) / 120;
    const sweepEnd = Math.max(...[...perSecond].filter(([, n]) => n >= half).map(([t]) => t));
    const previous = new Map<string, number>();
    const tail = { calls: 0, firstAttempts: 0, gapsS: [] as number[] };
    for (const r of reqs) {
      const t = (r.at - first) / 1000;
      const before = previous.get(r.prompt);
      previous.set(r.prompt, r.at);
      if (t < sweepEnd + 1) continue;
      tail.calls++;
      if (before === undefined) tail.firstAttempts++;
      else tail.gapsS.push((r.at - before) / 1000);
    }
    const gaps = tail.gapsS.sort((a, b) => a - b);
    const q = (p: number) =>
      gaps.length ? gaps[Math.min(gaps.length - 1, Math.floor(p * gaps.length))]!.toFixed(1) : '-';
    console.log(
      `tail after second ${sweepEnd}: ${tail.calls} calls, ${tail.firstAttempts} first attempts; gap since the ` +
        `previous call of the same prompt p10 ${q(0.1)} s, p50 ${q(0.5)} s, p90 ${q(0.9)} s, max ${q(1)} s`
    );
  } finally {
    await stack.stop();
    await sim.close();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  }
);
