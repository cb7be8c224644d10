/**
 * One curation job on the simulator, end to end on a local dev server: wall time and requests per second.
 *
 *   npx tsx bench/job.ts --rows 10000 [--batch-size 100] [--concurrency 64] [--latency 0|200-800]
 *
 * Uses a fresh cache directory, so every request is really made. Prints the figures and writes
 * bench/results/job-<rows>.json.
 */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { curate, defineCurator } from '../src';
import { startLocalStack } from '../src/embedded';
import { startSimulator } from '../src/simulator';

async function main() {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '10000' },
      'batch-size': { type: 'string', default: '100' },
      concurrency: { type: 'string', default: '64' },
      latency: { type: 'string', default: '0' },
    },
  });
  const rows = Number(values.rows);
  const [min, max] = values.latency!.split('-').map(Number);
  // Limits far above reach, reported in the headers: with none set the simulator reports 10,000 RPM, which the engine
  // learns and keeps to (166 requests/s), as it would with a real provider.
  const sim = await startSimulator({
    latencyMs: { min, max: max ?? min },
    rateLimits: { rpm: 1_000_000_000, tpm: 1_000_000_000_000 },
  });
  process.env.OPENAI_API_KEY = 'sim-bench-key';
  process.env.OPENAI_BASE_URL = sim.openaiBaseURL;
  const curator = defineCurator({
    name: 'bench',
    model: 'gpt-4o-mini',
    prompt: (row: { id: number }) => `Say something short about the number ${row.id}.`,
    parse: (row: { id: number }, text: string) => ({ id: row.id, text }),
  });
  const cacheDir = mkdtempSync(join(tmpdir(), 'curator-bench-'));
  const stack = await startLocalStack({ curators: [curator], cacheDir, log: (l) => console.error(l) });
  try {
    const dataset = Array.from({ length: rows }, (_, id) => ({ id }));
    const started = performance.now();
    const result = await curate(stack.client, curator, {
      dataset,
      taskQueue: stack.taskQueue,
      cacheDir,
      batchSize: Number(values['batch-size']),
      maxConcurrentRequests: Number(values.concurrency),
    });
    const seconds = (performance.now() - started) / 1000;
    const figures = {
      rows,
      batchSize: Number(values['batch-size']),
      concurrency: Number(values.concurrency),
      latencyMs: values.latency,
      wallSeconds: Number(seconds.toFixed(2)),
      requestsPerSecond: Number((rows / seconds).toFixed(1)),
      simulatorCalls: sim.stats.total,
      succeeded: result.stats.succeeded,
      failed: result.stats.failed,
      outputRows: result.stats.outputRows,
      machine: `${cpus().length} cores, node ${process.version}`,
      at: new Date().toISOString(),
    };
    console.log(JSON.stringify(figures, null, 2));
    mkdirSync(join(__dirname, 'results'), { recursive: true });
    writeFileSync(join(__dirname, 'results', `job-${rows}.json`), JSON.stringify(figures, null, 2) + '\n');
  } finally {
    await stack.close({ keepServer: false });
    await sim.close();
  }
}

void main();
