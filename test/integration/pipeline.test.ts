/**
 * The question → answer → judge example on a real Temporal dev server: one parent workflow chaining three curations
 * by reference, on a user's own worker (own workflows file, own task queue) that gets curation from CuratorPlugin.
 * Proves the fan-out (3 questions per subject), the chaining, the judge's filter, and that a rerun is all cache hits.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { tableFromIPC } from 'apache-arrow';
import { CuratorPlugin } from '../../src';
import type { Simulator } from '../../src/simulator';
import { curators, MIN_SCORE, QUESTIONS_PER_SUBJECT } from '../../examples/pipeline/curators';
import { createPipelineWorker } from '../../examples/pipeline/worker';
import { qaPipelineWorkflow, type QaPipelineResult } from '../../examples/pipeline/workflows';
import { startTestStack, type TestStack } from '../helpers/stack';

const SUBJECTS = ['photosynthesis', 'the French Revolution', 'prime numbers', 'plate tectonics', 'the TCP handshake'];

const rowsOf = (path: string) =>
  tableFromIPC(readFileSync(path))
    .toArray()
    .map((r) => r.toJSON() as Record<string, unknown>);

describe('the question → answer → judge pipeline', () => {
  let stack: TestStack;
  let sim: Simulator;
  let client: Client;
  let cacheDir: string;
  let subjectsPath: string;
  let workerEnv: NodeJS.ProcessEnv;
  let first: QaPipelineResult;
  const taskQueue = 'pipeline-test';
  const workflowId = 'qa-pipeline-test';

  const runPipeline = () =>
    client.workflow.execute(qaPipelineWorkflow, {
      taskQueue,
      workflowId,
      args: [{ subjects: { kind: 'jsonl', path: subjectsPath } }],
    });

  before(async () => {
    stack = await startTestStack({
      name: 'pipeline',
      // The example's worker: Worker.create with the pipeline's workflowsPath and a CuratorPlugin. Keys through the
      // plugin's `env` option, not process.env: the worker talks to the simulator and nothing else does.
      worker: ({ env, cacheDir, providerEnv }) =>
        createPipelineWorker({ connection: env.nativeConnection, taskQueue, cacheDir, env: providerEnv }),
    });
    ({ sim, client, cacheDir, providerEnv: workerEnv } = stack);
    subjectsPath = join(cacheDir, 'subjects.jsonl');
    writeFileSync(subjectsPath, SUBJECTS.map((subject) => JSON.stringify({ subject })).join('\n') + '\n');
  });

  after(() => stack?.close());

  test('three chained curations: fan-out, answers, and a judge that filters', async (t) => {
    const callsBefore = sim.stats.total;
    first = await runPipeline();
    const expected = SUBJECTS.length * QUESTIONS_PER_SUBJECT;

    assert.equal(first.questions.workflowId, `${workflowId}/questions`, 'child ids derive from the pipeline id');
    assert.equal(first.answers.workflowId, `${workflowId}/answers`);
    assert.equal(first.judge.workflowId, `${workflowId}/judge`);
    assert.equal(sim.stats.total - callsBefore, SUBJECTS.length + 2 * expected, 'one request per row of each step');

    const questions = rowsOf(first.questions.datasetPath);
    assert.equal(first.questions.stats.total, SUBJECTS.length);
    assert.equal(questions.length, expected, `${QUESTIONS_PER_SUBJECT} questions per subject`);
    for (const [i, subject] of SUBJECTS.entries()) {
      const mine = questions.slice(i * QUESTIONS_PER_SUBJECT, (i + 1) * QUESTIONS_PER_SUBJECT);
      assert.ok(
        mine.every((r) => r.subject === subject && typeof r.question === 'string' && r.question.length > 0),
        `fan-out rows are grouped under their subject, in input order: ${JSON.stringify(mine)}`
      );
    }

    const answers = rowsOf(first.answers.datasetPath);
    assert.equal(first.answers.stats.total, expected, 'the answers step read the questions dataset');
    assert.equal(answers.length, expected);
    answers.forEach((row, i) => {
      assert.deepEqual({ subject: row.subject, question: row.question }, questions[i], 'answers keep the order');
      assert.ok(typeof row.answer === 'string' && row.answer.length > 0);
    });

    const judged = rowsOf(first.judge.datasetPath);
    assert.equal(first.judge.stats.total, expected, 'every answer was judged');
    assert.equal(first.judge.stats.succeeded, expected);
    assert.equal(first.judge.stats.outputRows, judged.length);
    assert.ok(judged.length <= expected);
    t.diagnostic(`the judge kept ${judged.length} of ${expected} answers (score >= ${MIN_SCORE})`);
    // The simulator draws scores uniformly from the schema's 1-10: some answers pass, some are dropped.
    assert.ok(judged.length > 0, 'the judge kept some answers');
    assert.ok(judged.length < expected, 'the judge dropped some answers');
    const answered = new Set(answers.map((r) => `${r.subject}\n${r.question}\n${r.answer}`));
    for (const row of judged) {
      const score = Number(row.score);
      assert.ok(Number.isInteger(score) && score >= MIN_SCORE && score <= 10, `score ${score}`);
      assert.ok(typeof row.answer === 'string' && row.answer.length > 0);
      assert.ok(typeof row.verdict === 'string');
      assert.ok(answered.has(`${row.subject}\n${row.question}\n${row.answer}`), 'a kept row is one of the answers');
    }
  });

  test('the same pipeline again: three cache hits, zero API calls', async () => {
    assert.ok(first, 'needs the first run');
    const callsBefore = sim.stats.total;
    const again = await runPipeline();
    assert.equal(sim.stats.total - callsBefore, 0);
    for (const step of ['questions', 'answers', 'judge'] as const) {
      assert.equal(again[step].fromCache, true, `${step} from cache`);
      assert.equal(again[step].datasetSha256, first[step].datasetSha256);
    }
  });

  test("the pipeline's history replays with the plugin on a replay worker", async () => {
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    await Worker.runReplayHistory(
      {
        workflowsPath: require.resolve('../../examples/pipeline/workflows'),
        plugins: [new CuratorPlugin({ curators, cacheDir, env: workerEnv })],
      },
      history,
      workflowId
    );
  });
});
