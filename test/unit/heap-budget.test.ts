import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FREE_HEAP, heapMode, workerMemoryBudgetMB } from '../../src/heap-budget';

const MB = 1024 * 1024;
const budget = 512 * MB;

test('far below the budget the collector keeps V8 settings', () => {
  assert.deepEqual(heapMode({ rss: 150 * MB, heapTotal: 60 * MB, heapUsed: 40 * MB }, budget), FREE_HEAP);
});

test('the heap may grow by what the budget leaves beside the memory outside it', () => {
  // 200 MB outside the heap: the heap may fill 0.9 × 512 - 200 = 260.8 MB; holding 200 MB, it may grow by 30%.
  const mode = heapMode({ rss: 450 * MB, heapTotal: 250 * MB, heapUsed: 200 * MB }, budget);
  assert.deepEqual(mode, { growingPercent: 30, compact: false });
  // The same heap with less outside it may grow more.
  assert.ok(heapMode({ rss: 350 * MB, heapTotal: 250 * MB, heapUsed: 200 * MB }, budget).growingPercent > 30);
});

test('no room left still allows the least growth, never none', () => {
  const mode = heapMode({ rss: 600 * MB, heapTotal: 400 * MB, heapUsed: 380 * MB }, budget);
  assert.equal(mode.growingPercent, 10);
});

test('compaction starts near the budget and stops only once clearly under it', () => {
  const near = { rss: 490 * MB, heapTotal: 300 * MB, heapUsed: 260 * MB };
  const on = heapMode(near, budget);
  assert.equal(on.compact, true);
  // Between the two thresholds the mode it was in holds.
  const between = { rss: 460 * MB, heapTotal: 280 * MB, heapUsed: 200 * MB };
  assert.equal(heapMode(between, budget, on).compact, true);
  assert.equal(heapMode(between, budget, FREE_HEAP).compact, false);
  assert.equal(heapMode({ rss: 400 * MB, heapTotal: 250 * MB, heapUsed: 150 * MB }, budget, on).compact, false);
});

test('the budget comes from the option, else the environment, else 512 MiB; 0 means none; junk is refused', () => {
  assert.equal(workerMemoryBudgetMB(1024, { CURATOR_WORKER_MEMORY_MB: '256' }), 1024);
  assert.equal(workerMemoryBudgetMB(undefined, { CURATOR_WORKER_MEMORY_MB: '256' }), 256);
  assert.equal(workerMemoryBudgetMB(undefined, { CURATOR_WORKER_MEMORY_MB: '0' }), 0);
  assert.equal(workerMemoryBudgetMB(undefined, {}), 512);
  assert.equal(workerMemoryBudgetMB(undefined, { CURATOR_WORKER_MEMORY_MB: ' ' }), 512);
  assert.throws(() => workerMemoryBudgetMB(undefined, { CURATOR_WORKER_MEMORY_MB: 'lots' }), /memory budget.*"lots"/);
  assert.throws(() => workerMemoryBudgetMB(-1, {}), /memory budget/);
});
