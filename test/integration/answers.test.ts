/**
 * Issue #15 parts 2, 3 and 5 end to end on a real Temporal dev server, through the real OpenAI and Anthropic SDKs to
 * the simulator, in synchronous and Batch-API mode: tool calls parsed and checked, `n` choices (OpenAI natively,
 * Anthropic as n calls or n batch lines) each a row, every choice's tokens counted, the raw body kept; a rerun makes
 * zero calls; a tool call breaking its schema is retried, and one that always breaks it fails its row alone, named;
 * a failed call among Anthropic's n is asked again alone.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { createWorker, curate, defineCurator, type Answer, type CurationResult, type ToolDefinition } from '../../src';
import type { Simulator } from '../../src/simulator';
import { startTestStack, type TestStack } from '../helpers/stack';

type Item = { id: number; note?: string };

/** A row per choice: which choice, the city its tool call asked for, and what the answer as a whole says. */
function parse(row: Item, _first: unknown, answer: Answer) {
  return answer.choices.map((c) => ({
    id: row.id,
    k: c.index,
    city: (c.toolCalls[0]?.arguments as { city?: string } | undefined)?.city ?? null,
    finish: c.finishReason,
    rawChoices: Array.isArray(answer.raw)
      ? answer.raw.length
      : ((answer.raw as { choices?: unknown[] })?.choices?.length ?? 0),
    output: answer.usage.output,
  }));
}

const prompt = (row: Item) => `Weather for row ${row.id}. ${row.note ?? ''}`;
const tool = (parameters: ToolDefinition['parameters']) => [
  { name: 'get_weather', description: 'The weather of a city.', parameters },
];
const backend = { maxRetries: 1, batchPollIntervalSeconds: 0.25 };

const openaiSync = defineCurator({
  name: 'answers-openai',
  model: 'gpt-4o-mini',
  prompt,
  parse,
  tools: tool(z.object({ city: z.string() })),
  toolChoice: { name: 'get_weather' },
  generationParams: { n: 2 },
  includeRawAnswer: true,
  backend,
});
const anthropicSync = defineCurator({
  name: 'answers-anthropic',
  model: 'claude-3-5-haiku-latest',
  prompt,
  parse,
  tools: tool({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
  toolChoice: 'required',
  generationParams: { n: 2, max_tokens: 200 },
  includeRawAnswer: true,
  backend,
});
const curators = [
  openaiSync,
  anthropicSync,
  defineCurator({ ...openaiSync, name: 'answers-openai-batch', backend: { ...backend, batch: true } }),
  defineCurator({ ...anthropicSync, name: 'answers-anthropic-batch', backend: { ...backend, batch: true } }),
];

/** The output rows, Arrow's 64-bit integers as numbers. */
const rowsOf = (result: CurationResult) =>
  result.table
    .toArray()
    .map((r) =>
      Object.fromEntries(
        Object.entries(r.toJSON() as Record<string, unknown>).map(([k, v]) => [
          k,
          typeof v === 'bigint' ? Number(v) : v,
        ])
      )
    );

describe('tools, n and the raw answer on a real Temporal dev server', () => {
  let stack: TestStack;
  let sim: Simulator;
  const taskQueue = 'answers-test';

  before(async () => {
    stack = await startTestStack({
      name: 'answers',
      worker: ({ env, cacheDir, providerEnv }) =>
        createWorker({ connection: env.nativeConnection, taskQueue, cacheDir, curators, env: providerEnv }),
    });
    sim = stack.sim;
  });

  after(() => stack?.close());
  beforeEach(() => sim.reset());

  for (const curator of curators) {
    const batch = curator.backend?.batch === true;
    const calls = curator.provider === 'anthropic' ? 2 : 1;
    const mode = `${curator.provider}, ${batch ? 'Batch-API' : 'synchronous'}`;
    const base = curators.indexOf(curator) * 100;

    test(`${mode}: a row per choice with its tool call, tokens of every choice, the raw body; a rerun makes zero calls`, async () => {
      const dataset: Item[] = [{ id: base }, { id: base + 1 }, { id: base + 2 }];
      const options = { dataset, taskQueue, cacheDir: stack.cacheDir, batchSize: 2 };
      const result = await curate(stack.client, curator.name, options);
      assert.equal(result.stats.failed, 0);
      const rows = rowsOf(result);
      assert.deepEqual(
        rows.map((r) => [r.id, r.k]),
        dataset.flatMap((d) => [
          [d.id, 0],
          [d.id, 1],
        ])
      );
      for (const r of rows) {
        assert.equal(typeof r.city, 'string', `row ${String(r.id)} choice ${String(r.k)} has its tool call`);
        assert.equal(r.rawChoices, 2, 'the raw body of both choices');
      }
      // Anthropic: n calls per row; OpenAI: one call with n. Usage counts every choice.
      assert.equal(sim.stats.total, dataset.length * calls);
      for (const sent of sim.stats.requests) {
        assert.equal(sent.params?.n, curator.provider === 'anthropic' ? undefined : 2);
        assert.deepEqual(
          (sent.params?.tools as { name?: string; function?: { name: string } }[]).map(
            (t) => t.name ?? t.function?.name
          ),
          ['get_weather']
        );
        if (batch) assert.ok(sent.batchId, 'inside a provider batch');
      }
      const outputs = new Map(rows.map((r) => [r.id, Number(r.output)]));
      assert.equal(
        result.stats.tokens.output,
        [...outputs.values()].reduce((a, b) => a + b, 0)
      );

      sim.reset();
      const again = await curate(stack.client, curator.name, options);
      assert.equal(again.fromCache, true);
      assert.deepEqual(rowsOf(again), rows, 'the same rows, raw bodies and tool calls from the log');
      assert.equal(sim.stats.total, 0);
      assert.equal(sim.stats.batchCalls, 0);
    });

    test(`${mode}: a tool call breaking its schema is retried; one always breaking it fails its row alone, named`, async () => {
      const dataset: Item[] = [
        { id: base + 10 },
        { id: base + 11, note: '[[sim:invalid-json=schema,times=1]]' },
        { id: base + 12, note: '[[sim:invalid-json=schema]]' },
        { id: base + 13 },
        // One call of the request fails (for Anthropic, one of its n): the retry asks only for what is missing.
        { id: base + 14, note: '[[sim:status=500,times=1]]' },
      ];
      const result = await curate(stack.client, curator.name, {
        dataset,
        taskQueue,
        cacheDir: stack.cacheDir,
        batchSize: 2,
        requireAllResponses: false,
      });
      assert.equal(result.stats.failed, 1);
      assert.deepEqual(
        [...new Set(rowsOf(result).map((r) => Number(r.id)))],
        [base + 10, base + 11, base + 13, base + 14]
      );
      assert.equal(sim.callsFor(`row ${base + 14}.`), calls + 1, 'each choice paid once');
      assert.deepEqual(
        rowsOf(result)
          .filter((r) => r.id === base + 14)
          .map((r) => [r.k, typeof r.city, r.rawChoices]),
        [
          [0, 'string', 2],
          [1, 'string', 2],
        ]
      );
      assert.equal(sim.callsFor(`row ${base + 11}.`), 2 * calls, 'broken once, asked again');
      assert.equal(sim.callsFor(`row ${base + 12}.`), 2 * calls, 'asked until maxRetries ran out');
      const failed = readFileSync(result.failedRequestsPath, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { index: number; row: Item; errors: { type: string; message: string }[] });
      assert.deepEqual(
        failed.map((f) => [f.index, f.row.id]),
        [[2, base + 12]]
      );
      assert.equal(failed[0]!.errors.at(-1)!.type, 'SchemaMismatch');
      assert.match(failed[0]!.errors.at(-1)!.message, /tool call 'get_weather' breaks the tool's parameters/);
    });
  }
});
