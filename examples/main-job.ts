/**
 * The quick start: `npm start`. Runs the `poems` curator over examples/data/topics.jsonl on the embedded default
 * (a local Temporal dev server with the Web UI, the simulator when no key for the curator's provider is set, a worker
 * in this process),
 * then prints where the dataset is and where to see the job in the Temporal UI.
 *
 * Options: --curator NAME (poems | haiku), --input FILE, --keep (keep the dev server and UI up until Ctrl-C).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { curate, CurationError, endLocalRun, formatSummary, signalExitCode, startLocalStack } from 'temporal-curator';
import { curators } from './curators';

async function main() {
  const { values } = parseArgs({
    options: {
      curator: { type: 'string', default: 'poems' },
      input: { type: 'string', default: join(__dirname, 'data', 'topics.jsonl') },
      keep: { type: 'boolean', default: false },
    },
  });
  const curator = curators.find((c) => c.name === values.curator) ?? values.curator!;
  // Only the curator run decides between its real provider (its key is set) and the simulator (no key at all).
  const stack = await startLocalStack({ curators, run: [values.curator!], log: (line) => console.log(line) });
  let failed = false;
  try {
    const started = Date.now();
    const result = curate(stack.client, curator, {
      dataset: values.input!,
      taskQueue: stack.taskQueue,
      cacheDir: stack.cacheDir,
      workerEnv: stack.env,
      searchAttributes: stack.searchAttributes,
    });
    result.catch(() => undefined);
    const ended = await Promise.race([result, stack.interrupted]);
    if (typeof ended === 'string') {
      await stack.close();
      console.error(`Interrupted (${ended}): the job is saved; run \`npm start\` again to resume it.`);
      process.exit(signalExitCode(ended));
    }
    console.log('');
    console.log(formatSummary(ended, Date.now() - started));
    if (stack.simulator) console.log(`Simulator calls made by this run: ${stack.simulator.stats.total}`);
    if (stack.uiUrl)
      console.log(`Temporal UI: ${stack.uiUrl}/namespaces/default/workflows/${encodeURIComponent(ended.workflowId)}`);
    console.log(`First row: ${JSON.stringify(ended.table.get(0)?.toJSON())}`);
  } catch (err) {
    failed = true;
    console.error(err instanceof CurationError ? `Curation failed (${err.type}): ${err.message}` : err);
  } finally {
    await endLocalRun(stack, { keep: values.keep!, failed });
  }
}

void main();
