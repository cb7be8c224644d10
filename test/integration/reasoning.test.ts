/**
 * Issue #15 parts 4 and 7 end to end on a real Temporal dev server, through the real SDKs to the simulator, in
 * synchronous and Batch-API mode: OpenAI `reasoning_effort` sent, its reasoning tokens in the answer's usage, the
 * stats and the cost; Anthropic extended thinking with the thinking text reaching `parse`; and reuse after a param
 * change: a rerun with a larger max_tokens whose `reuseAnswer` keeps the answers that finished, so exactly the
 * truncated rows are sent again and each reused answer is recorded with where it came from.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { curate, defineCurator, type CurationResult } from '../../src';
import type { Answer } from '../../src/types/answer';
import type { Simulator } from '../../src/simulator';
import { REUSED_EVENT } from '../../src/requests/reuse';
import { responseRecords, withMetadata } from '../helpers/backends';
import { startCuratorStack, type TestStack } from '../helpers/stack';

type Item = { id: number };
const dataset: Item[] = Array.from({ length: 6 }, (_, id) => ({ id }));
const modes = [
  ['synchronous', { maxRetries: 1 }],
  ['Batch-API', { maxRetries: 1, batch: true, batchPollIntervalSeconds: 0.25 }],
] as const;
/** Prices of one's own, so the cost is known exactly. */
const prices = { inputCostPerMillion: 1, outputCostPerMillion: 4 };

const rowsOf = (result: CurationResult) => result.table.toArray().map((r) => r.toJSON() as Record<string, unknown>);

/** The prompt and parse of the two runs of the reuse test. */
const reuseBase = (tag: string) => ({
  model: 'gpt-4o-mini',
  prompt: (row: Item) => `Reuse ${tag} ${row.id}.`,
  parse: (row: Item, text: string, answer: Answer<string>) => ({
    id: row.id,
    text,
    finish: answer.choices[0]!.finishReason,
  }),
});

const curators = modes.flatMap(([mode, backend]) => {
  const tag = mode === 'synchronous' ? 'sync' : 'batch';
  return [
    defineCurator({
      name: `reasoning-openai-${tag}`,
      model: 'o4-mini',
      prompt: (row: Item) => `Reason ${tag} ${row.id}.`,
      generationParams: { reasoning_effort: 'low' },
      parse: (row: Item, text: string, answer) => ({ id: row.id, text, reasoning: answer.usage.reasoning ?? 0 }),
      backend: { ...backend, ...prices },
    }),
    defineCurator({
      name: `reasoning-anthropic-${tag}`,
      model: 'claude-sonnet-4-5',
      prompt: (row: Item) => `Think ${tag} ${row.id}.`,
      generationParams: { thinking: { type: 'enabled', budget_tokens: 1024 } },
      parse: (row: Item, text: string, answer) => ({ id: row.id, text, thinking: answer.thinking ?? null }),
      backend,
    }),
    // The first run: short answers, the truncated ones accepted and kept too; the rerun: a larger max_tokens, the
    // answers that finished kept, the truncated ones asked again.
    defineCurator({
      ...reuseBase(tag),
      name: `reuse-short-${tag}`,
      generationParams: { max_tokens: 24 },
      backend: { ...backend, reuseAnswers: true, invalidFinishReasons: [] },
    }),
    defineCurator({
      ...reuseBase(tag),
      name: `reuse-long-${tag}`,
      generationParams: { max_tokens: 400 },
      reuseAnswer: (answer) => answer.choices[0]!.finishReason === 'stop',
      backend,
    }),
    // The rerun's curator with another parse: the same run, re-parsed from its response log.
    defineCurator({
      ...reuseBase(tag),
      name: `reuse-reparse-${tag}`,
      generationParams: { max_tokens: 400 },
      parse: (row: Item, text: string) => ({ id: row.id, length: text.length }),
      backend,
    }),
  ];
});

describe('reasoning models and reuse after a param change on a real Temporal dev server', () => {
  let stack: TestStack;
  let sim: Simulator;
  const taskQueue = 'reasoning-test';

  before(async () => {
    stack = await startCuratorStack('reasoning', taskQueue, curators);
    sim = stack.sim;
  });
  after(() => stack?.close());
  beforeEach(() => sim.reset());

  const run = (name: string) =>
    curate(stack.client, name, { dataset, taskQueue, cacheDir: stack.cacheDir, batchSize: 4 });

  for (const [mode] of modes) {
    const tag = mode === 'synchronous' ? 'sync' : 'batch';

    test(`${mode}: reasoning_effort is sent; reasoning tokens reach parse, the stats and the cost`, async () => {
      const result = await run(`reasoning-openai-${tag}`);
      assert.equal(result.stats.succeeded, dataset.length);
      assert.equal(sim.stats.total, dataset.length);
      assert.ok(sim.stats.requests.every((r) => r.params?.reasoning_effort === 'low'));
      if (mode === 'Batch-API') assert.ok(sim.stats.requests.every((r) => r.batchId));
      const reasoning = rowsOf(result).map((r) => Number(r.reasoning));
      assert.ok(
        reasoning.every((n) => n > 0),
        'every answer reasoned'
      );
      const { tokens } = result.stats;
      assert.equal(
        tokens.reasoning,
        reasoning.reduce((a, b) => a + b, 0)
      );
      assert.ok(tokens.output > tokens.reasoning!, 'reasoning is part of the output');
      // Billed as output, at half price in batch mode.
      const factor = mode === 'Batch-API' ? 0.5 : 1;
      assert.ok(Math.abs(result.costUsd! - ((tokens.input * 1 + tokens.output * 4) / 1e6) * factor) < 1e-12);
    });

    test(`${mode}: Anthropic thinking is sent and its text reaches parse, apart from the answer`, async () => {
      const result = await run(`reasoning-anthropic-${tag}`);
      assert.equal(result.stats.succeeded, dataset.length);
      assert.ok(
        sim.stats.requests.every((r) => (r.params?.thinking as { budget_tokens?: number }).budget_tokens === 1024)
      );
      for (const row of rowsOf(result)) {
        assert.equal(typeof row.thinking, 'string');
        assert.ok((row.thinking as string).length > 0, `row ${String(row.id)} has its thinking`);
        assert.ok(!(row.text as string).includes(row.thinking as string), 'the thinking is not in the answer text');
      }
      sim.reset();
      const again = await run(`reasoning-anthropic-${tag}`);
      assert.equal(sim.stats.total, 0, 'a rerun makes no call');
      assert.deepEqual(rowsOf(again), rowsOf(result));
    });

    test(`${mode}: a rerun with a larger max_tokens sends exactly the truncated rows again; the rest are reused`, async () => {
      const first = await run(`reuse-short-${tag}`);
      const finished = rowsOf(first)
        .filter((r) => r.finish === 'stop')
        .map((r) => Number(r.id));
      const truncated = rowsOf(first)
        .filter((r) => r.finish === 'length')
        .map((r) => Number(r.id));
      assert.ok(
        finished.length > 0 && truncated.length > 0,
        `a mix of finished and truncated: ${finished} / ${truncated}`
      );

      sim.reset();
      const second = await run(`reuse-long-${tag}`);
      assert.notEqual(second.runHash, first.runHash);
      assert.deepEqual(
        sim.stats.requests.map((r) => r.prompt).sort(),
        truncated.map((id) => `Reuse ${tag} ${id}.`).sort(),
        'exactly the truncated rows are sent again'
      );
      assert.ok(sim.stats.requests.every((r) => r.params?.max_tokens === 400));
      assert.equal(second.stats.succeeded, dataset.length);
      assert.equal(second.stats.cached, finished.length);
      assert.equal(second.stats.reused, finished.length);
      const byId = new Map(rowsOf(first).map((r) => [Number(r.id), r]));
      for (const row of rowsOf(second)) {
        if (finished.includes(Number(row.id))) assert.equal(row.text, byId.get(Number(row.id))!.text, 'reused as is');
        else assert.equal(row.finish, 'stop', 'asked again with room to finish');
      }

      // Where each answer came from, in this run's response log.
      const log = await responseRecords(second.runDir);
      const reused = log.filter((r) => r.job === 'reused');
      assert.deepEqual(reused.map((r) => r.i).sort(), finished.sort());
      for (const r of reused) {
        assert.deepEqual(r.reused && { ...r.reused, key: '' }, {
          key: '',
          identical: false,
          params: { max_tokens: 24 },
          run: first.runHash,
          job: r.reused!.job,
        });
      }
      const events = await withMetadata(stack.cacheDir, (db) => db.events(second.runHash));
      const event = events.find((e) => e.event === REUSED_EVENT);
      assert.deepEqual(JSON.parse(event!.detail!), {
        answered: dataset.length,
        cached: finished.length,
        reused: finished.length,
      });

      // The reused answers are this run's now: a rerun is a plain cache hit.
      sim.reset();
      const third = await run(`reuse-long-${tag}`);
      assert.equal(third.fromCache, true);
      assert.equal(sim.stats.total, 0);
      assert.equal(sim.stats.batchCalls, 0);
      // And re-parsing it reads every answer, reused or not, from its response log.
      const reparsed = await run(`reuse-reparse-${tag}`);
      assert.equal(reparsed.runHash, second.runHash);
      assert.equal(reparsed.stats.succeeded, dataset.length);
      assert.equal(sim.stats.total, 0);
      assert.equal(sim.stats.batchCalls, 0);
    });
  }
});
