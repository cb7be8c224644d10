/**
 * The quick start: `npm start`. Runs the `poems` curator over examples/data/topics.jsonl on the embedded default
 * (a local Temporal dev server with the Web UI, the simulator unless an API key is set, a worker in this process),
 * then prints where the dataset is and where to see the job in the Temporal UI.
 *
 * Options: --curator NAME (poems | haiku), --input FILE, --keep (keep the dev server and UI up until Ctrl-C).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { curate, CurationError } from '../src';
import { endLocalRun, startLocalStack } from '../src/embedded';
import { formatSummary } from '../src/cli/summary';
import { curators } from './curators';

async function main() {
  const { values } = parseArgs({
    options: {
      curator: { type: 'string', default: 'poems' },
      input: { type: 'string', default: join(__dirname, 'data', 'topics.jsonl') },
      keep: { type: 'boolean', default: false },
    },
  });
  const stack = await startLocalStack({ curators, log: (line) => console.log(line) });
  let failed = false;
  try {
    const started = Date.now();
    const result = await curate(stack.client, values.curator!, {
      dataset: values.input!,
      taskQueue: stack.taskQueue,
      searchAttributes: stack.searchAttributes,
    });
    console.log('');
    console.log(formatSummary(result, Date.now() - started));
    if (stack.simulator) console.log(`Simulator calls made by this run: ${stack.simulator.stats.total}`);
    if (stack.uiUrl)
      console.log(`Temporal UI: ${stack.uiUrl}/namespaces/default/workflows/${encodeURIComponent(result.workflowId)}`);
    console.log(`First row: ${JSON.stringify(result.table.get(0)?.toJSON())}`);
  } catch (err) {
    failed = true;
    console.error(err instanceof CurationError ? `Curation failed (${err.type}): ${err.message}` : err);
  } finally {
    await endLocalRun(stack, { keep: values.keep!, failed });
  }
}

void main();
