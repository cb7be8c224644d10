/**
 * Issue #15 part 1 end to end on a real Temporal dev server, through the real OpenAI and Anthropic SDKs to the
 * simulator (which checks each image and document part and counts its tokens): images and a PDF given by path in
 * synchronous (OpenAI) and Batch-API (Anthropic) mode. Every row present, a rerun makes zero calls, a changed image makes exactly one new call
 * (with `reuseAnswers`), and a missing and an oversized image each fail only their row, named.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWorker, curate, defineCurator, type CurationResult } from '../../src';
import type { Simulator } from '../../src/simulator';
import { anthropicImageTokens, openaiImageTokens, PDF_PAGE_TOKENS } from '../../src/simulator/media';
import { pdf, png } from '../helpers/media-bytes';
import { assertFreeRerun } from '../helpers/reruns';
import { startTestStack, type TestStack } from '../helpers/stack';

type Item = { id: number; image: string; pdf?: string };

const prompt = (prefix: string) => (row: Item) => [
  {
    role: 'user' as const,
    content: [
      { type: 'text' as const, text: `${prefix} ${row.id}.` },
      { type: 'image' as const, path: row.image },
      ...(row.pdf ? [{ type: 'file' as const, path: row.pdf }] : []),
    ],
  },
];
const parse = (row: Item, response: string) => ({ id: row.id, response });

const syncCurator = defineCurator({
  name: 'media-sync',
  model: 'gpt-4o-mini',
  prompt: prompt('Sync image'),
  parse,
  backend: { maxRetries: 1, reuseAnswers: true },
});
const batchCurator = defineCurator({
  name: 'media-batch',
  model: 'claude-sonnet-4-5',
  prompt: prompt('Batch image'),
  parse,
  backend: { batch: true, batchPollIntervalSeconds: 0.25, maxRetries: 1, reuseAnswers: true },
});

const rowsOf = (result: CurationResult) => result.table.toArray().map((r) => r.toJSON() as Record<string, unknown>);

describe('images in prompts on a real Temporal dev server', () => {
  let stack: TestStack;
  let sim: Simulator;
  let dir: string;
  const taskQueue = 'media-prompts-test';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'media-prompts-'));
    stack = await startTestStack({
      name: 'media-prompts',
      worker: ({ env, cacheDir, providerEnv }) =>
        createWorker({
          connection: env.nativeConnection,
          taskQueue,
          cacheDir,
          curators: [syncCurator, batchCurator],
          env: providerEnv,
        }),
    });
    sim = stack.sim;
  });

  after(async () => {
    await stack?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => sim.reset());

  for (const [mode, curator, prefix, imageTokens] of [
    [
      'synchronous (OpenAI)',
      syncCurator,
      'Sync image',
      (w: number) => openaiImageTokens({ width: w, height: 64 }, 'auto'),
    ],
    [
      'Batch-API (Anthropic)',
      batchCurator,
      'Batch image',
      (w: number) => anthropicImageTokens({ width: w, height: 64 }),
    ],
  ] as const) {
    const key = curator.name;

    test(`${mode}: every row present; a rerun makes zero calls; a changed image makes exactly one new call`, async () => {
      const rows: Item[] = Array.from({ length: 4 }, (_, id) => ({ id, image: join(dir, `${key}-${id}.png`) }));
      rows.forEach((row) => writeFileSync(row.image, png(64 + row.id, 64)));
      // Row 0 also attaches a three-page PDF.
      rows[0]!.pdf = join(dir, `${key}.pdf`);
      writeFileSync(rows[0]!.pdf, pdf(3));
      const options = { dataset: rows, taskQueue, cacheDir: stack.cacheDir, batchSize: 2 };
      const result = await curate(stack.client, curator.name, options);
      assert.equal(result.stats.failed, 0);
      assert.deepEqual(
        rowsOf(result).map((r) => Number(r.id)),
        [0, 1, 2, 3]
      );
      assert.equal(sim.stats.total, rows.length);
      for (const row of rows) assert.equal(sim.callsFor(`${prefix} ${row.id}.`), 1, `row ${row.id} sent once`);
      if (mode.startsWith('Batch'))
        assert.ok(
          sim.stats.requests.every((r) => r.batchId),
          'inside provider batches'
        );
      // The simulator counts each image's tokens from its bytes and a PDF's by its pages: they arrived inline.
      const media = rows.reduce((n, row) => n + imageTokens(64 + row.id), 3 * PDF_PAGE_TOKENS);
      assert.ok(
        result.stats.tokens.input > media,
        `${result.stats.tokens.input} input tokens include ${media} of media`
      );

      await assertFreeRerun(stack, curator.name, options, rows.length);

      // Row 2's image changes on disk, its row does not: a new run, in which only that row is a new request.
      writeFileSync(rows[2]!.image, png(200, 64));
      sim.reset();
      const third = await curate(stack.client, curator.name, options);
      assert.notEqual(third.runHash, result.runHash);
      assert.equal(sim.stats.total, 1, 'exactly one new call');
      assert.equal(sim.callsFor(`${prefix} 2.`), 1);
      assert.equal(third.stats.cached, rows.length - 1);
      assert.deepEqual(
        rowsOf(third).filter((r) => Number(r.id) !== 2),
        rowsOf(result).filter((r) => Number(r.id) !== 2),
        'the other rows keep their answers'
      );
    });

    test(`${mode}: a missing image and an oversized image fail only their rows, named`, async () => {
      const rows: Item[] = Array.from({ length: 4 }, (_, k) => ({
        id: 10 + k,
        image: join(dir, `${key}-bad-${k}.png`),
      }));
      rows.forEach((row) => writeFileSync(row.image, png(32, 32)));
      rmSync(rows[1]!.image);
      // Over OpenAI's 20 MB, and over Anthropic's 5 MB of base64: refused by its size, before it is read.
      truncateSync(rows[2]!.image, mode.startsWith('Batch') ? 4 * 1024 * 1024 : 21 * 1024 * 1024);
      // Some rows may fail: the job still finishes, with the others' answers.
      const partial = { dataset: rows, taskQueue, cacheDir: stack.cacheDir, requireAllResponses: false };
      const result = await curate(stack.client, curator.name, partial);
      assert.equal(result.stats.failed, 2);
      assert.equal(result.stats.succeeded, 2);
      assert.deepEqual(
        rowsOf(result).map((r) => Number(r.id)),
        [10, 13]
      );
      const failures = readFileSync(result.failedRequestsPath, 'utf8');
      assert.match(
        failures,
        /row 1: cannot read the image messages\[0\]\.content\[1\] at [^ ]*-bad-1\.png: no such file/
      );
      assert.match(failures, /row 2: the image messages\[0\]\.content\[1\] \([^)]*-bad-2\.png\) is too large/);
      assert.equal(sim.callsFor(`${prefix} 11.`), 0, 'never sent');
      assert.equal(sim.callsFor(`${prefix} 12.`), 0, 'never sent');
      assert.equal(sim.stats.total, 2);
    });
  }
});
