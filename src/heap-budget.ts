/**
 * The worker's memory budget. On a machine with memory to spare, V8 lets a busy heap grow to several times what it
 * holds before collecting it again, so a worker with thousands of requests in flight would sit far above its live
 * objects. Collecting sooner keeps it near them, but costs CPU on every request, and a worker sending hundreds of
 * requests a second needs that CPU to keep its pace. So, as Go's `GOMEMLIMIT` does, the collector keeps V8's own
 * settings while the process is far below its budget and works harder only as the process nears it: the heap may
 * grow by the headroom left (relative to what it holds), and near the budget V8 also compacts fragmented pages.
 *
 * Both settings are V8 flags read at every collection, so they can change while the process runs. They are
 * process-wide: one budget holds for every worker of the process (the last one started sets it).
 */
import { setFlagsFromString } from 'node:v8';
import { DEFAULT_WORKER_MEMORY_MB } from './defaults';

/** What the process holds, in bytes. */
export interface HeapReading {
  /** Resident memory of the whole process (`process.memoryUsage().rss`). */
  rss: number;
  /** Memory the main heap has taken, in use or not (`heapTotal`): the rest of `rss` is outside it. */
  heapTotal: number;
  /**
   * Bytes in the main heap's objects, live or not yet collected (`heapUsed`): taken for the live heap, on the high
   * side. A lower estimate (say, the least of recent readings) lags while requests pile up, and a growth allowed
   * from it sets V8's next limit far beyond the budget before the next reading can take it back.
   */
  heapUsed: number;
}

/** How the collector is told to work. */
export interface HeapMode {
  /** `--heap-growing-percent`: how much the heap may grow past its live objects before the next full collection; 0 leaves it to V8. */
  growingPercent: number;
  /** `--optimize-for-size`: each full collection evacuates fragmented pages, at more CPU. */
  compact: boolean;
}

/** V8's own settings: what a process far below its budget keeps. */
export const FREE_HEAP: HeapMode = { growingPercent: 0, compact: false };

/** Beyond this growth (V8's largest growing factor is 4) the headroom does not constrain V8: its own settings hold. */
const FREE_GROWTH_PERCENT = 300;
/** The least growth allowed: below it every allocation would start a full collection. */
const MIN_GROWTH_PERCENT = 10;
/** Growth is set in steps of this, so that small moves of the readings do not reset the flag each time. */
const GROWTH_STEP_PERCENT = 10;
/** Compaction starts at this share of the budget, and stops once the process is back under {@link COMPACT_UNTIL}. */
const COMPACT_FROM = 0.95;
const COMPACT_UNTIL = 0.85;
/** How often the process's memory is read. */
const READ_EVERY_MS = 500;
/** The share of the budget the heap and the rest of the process may fill; the rest is margin. */
const HEAP_SHARE = 0.9;

/**
 * The collector's mode for a reading of the process against its budget (bytes), given the mode it is in (compaction,
 * once on, stays on until the process is clearly back under the budget). The heap may grow until it fills what the
 * budget leaves beside the memory outside it, less a margin for the young generation and for fragmentation.
 */
export function heapMode(reading: HeapReading, budget: number, previous: HeapMode = FREE_HEAP): HeapMode {
  const heapRoom = budget * HEAP_SHARE - (reading.rss - reading.heapTotal);
  const growth = Math.floor(100 * (heapRoom / Math.max(reading.heapUsed, 1) - 1));
  const growingPercent =
    growth >= FREE_GROWTH_PERCENT
      ? 0
      : Math.max(MIN_GROWTH_PERCENT, Math.floor(growth / GROWTH_STEP_PERCENT) * GROWTH_STEP_PERCENT);
  const compact = reading.rss >= budget * (previous.compact ? COMPACT_UNTIL : COMPACT_FROM);
  return { growingPercent, compact };
}

/**
 * The budget in MiB from the worker's option, else `CURATOR_WORKER_MEMORY_MB`, else {@link DEFAULT_WORKER_MEMORY_MB};
 * 0 means none (V8's own settings throughout).
 */
export function workerMemoryBudgetMB(option: number | undefined, env: NodeJS.ProcessEnv = process.env): number {
  const raw = option ?? (env.CURATOR_WORKER_MEMORY_MB?.trim() || undefined);
  if (raw === undefined) return DEFAULT_WORKER_MEMORY_MB;
  const mb = Number(raw);
  if (!Number.isFinite(mb) || mb < 0) {
    throw new RangeError(`the worker's memory budget must be a number of MiB, 0 for none; got ${JSON.stringify(raw)}`);
  }
  return mb;
}

/** The budget in force: its timer, and the mode last set (what a new budget sets back from). */
let running: Running | undefined;
interface Running {
  mode: HeapMode;
  timer?: NodeJS.Timeout;
}

function apply(next: HeapMode, previous: HeapMode): void {
  if (next.growingPercent !== previous.growingPercent) {
    setFlagsFromString(`--heap-growing-percent=${next.growingPercent}`);
  }
  if (next.compact !== previous.compact)
    setFlagsFromString(next.compact ? '--optimize-for-size' : '--no-optimize-for-size');
}

/**
 * Keeps this process's collector to a budget of `budgetMB` MiB (0: V8's own settings) until the process ends; a later
 * call replaces the budget. The readings run on an unreferenced timer, which never keeps the process alive.
 */
export function keepHeapWithin(budgetMB: number): void {
  if (running) {
    clearInterval(running.timer);
    apply(FREE_HEAP, running.mode);
    running = undefined;
  }
  if (budgetMB <= 0) return;
  const budget = budgetMB * 1024 * 1024;
  const state: Running = { mode: FREE_HEAP };
  const read = () => {
    const { rss, heapTotal, heapUsed } = process.memoryUsage();
    const next = heapMode({ rss, heapTotal, heapUsed }, budget, state.mode);
    apply(next, state.mode);
    state.mode = next;
  };
  state.timer = setInterval(read, READ_EVERY_MS).unref();
  running = state;
  read();
}
