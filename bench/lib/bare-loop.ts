/**
 * The machine's ceiling: the `openai` SDK (retries off) sending the benchmark's requests at a fixed concurrency,
 * with nothing persisted. Same model, same prompts and the same body our engine sends.
 *
 *   node --import tsx bench/lib/bare-loop.ts --rows 20000 --concurrency 64 --base-url http://127.0.0.1:PORT/v1 [--fetch node]
 *
 * `--fetch node` gives the SDK our engine's HTTP path (`src/providers/http-transport.ts`) instead of the global
 * `fetch`: the ceiling for the HTTP path the engine uses, so the comparison shows what the engine adds beside it.
 *
 * Prints one JSON line: wall seconds (the loop only, not start-up), requests per second, errors.
 */
import OpenAI from 'openai';
import { parseArgs } from 'node:util';
import { bufferedFetch } from '../../src/providers/http-transport';

async function main() {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '20000' },
      concurrency: { type: 'string', default: '64' },
      'base-url': { type: 'string' },
      fetch: { type: 'string', default: 'global' },
    },
  });
  const rows = Number(values.rows);
  const concurrency = Number(values.concurrency);
  const client = new OpenAI({
    apiKey: process.env.OPENAI_API_KEY ?? 'sk-sim',
    baseURL: values['base-url'] ?? process.env.OPENAI_BASE_URL,
    maxRetries: 0,
    fetch: values.fetch === 'node' ? bufferedFetch : undefined,
  });
  let next = 0;
  let ok = 0;
  let errors = 0;
  let outputChars = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, rows) }, async () => {
      while (next < rows) {
        const id = next++;
        try {
          const answer = await client.chat.completions.create({
            model: 'gpt-4o-mini',
            messages: [{ role: 'user', content: `Say something short about the number ${id}.` }],
          });
          outputChars += answer.choices[0]?.message.content?.length ?? 0;
          ok++;
        } catch {
          errors++;
        }
      }
    })
  );
  const wallSeconds = (performance.now() - started) / 1000;
  console.log(
    JSON.stringify({
      rows,
      concurrency,
      succeeded: ok,
      errors,
      outputChars,
      wallSeconds,
      requestsPerSecond: rows / wallSeconds,
    })
  );
}

void main();
