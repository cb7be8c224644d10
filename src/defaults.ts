/**
 * Every default a user meets, in one place: what a job, a worker or the local stack does when an option is not set.
 * The options that take them say so with `@defaultValue`; the code that applies them imports them from here.
 * Workflow code imports this file too, so it holds values only: nothing of Node.
 */

// ---- A job's requests -------------------------------------------------------------------------------------------

/** Rows per batch activity (`batchSize`): one activity formats, sends and parses this many requests. */
export const DEFAULT_BATCH_SIZE = 100;

/**
 * Batch mode: rows per batch activity, and so per provider batch unless the provider's limits split it (Curator:
 * 10,000).
 */
export const DEFAULT_BATCH_MODE_BATCH_SIZE = 10_000;

/** Batch activities one partition workflow owns before the job starts another (`batchesPerPartition`). */
export const DEFAULT_BATCHES_PER_PARTITION = 100;

/** How many times one request is retried after its first attempt (`maxRetries`), as in Curator. */
export const DEFAULT_MAX_RETRIES = 10;

/** The wait between retry rounds of a request: exponential, from 1 s, doubling, at most a minute (with jitter). */
export const DEFAULT_BACKOFF: { readonly initialMs: number; readonly coefficient: number; readonly maxMs: number } = {
  initialMs: 1000,
  coefficient: 2,
  maxMs: 60_000,
};

/** Whether a job with requests that failed for good ends as failed, after saving everything (as in Curator). */
export const DEFAULT_REQUIRE_ALL_RESPONSES = true;

/**
 * Whether requests take the answers other runs got for the identical request (`reuseAnswers`). Off, as in Curator,
 * whose cache is per run: with it on, a sampled answer is not drawn again for the same request in a new run.
 */
export const DEFAULT_REUSE_ANSWERS = false;

/** Finish reasons that reject an answer as retryable (`invalidFinishReasons`): cut short, or filtered. */
export const DEFAULT_INVALID_FINISH_REASONS: string[] = ['length', 'content_filter'];

/** Time limit of one attempt, in milliseconds, for models that think before answering (o-series, GPT-5, R1, ...). */
export const DEFAULT_REASONING_TIMEOUT_MS = 600_000;

/** Time limit of one attempt, in milliseconds, for other models: a long answer streams out well within it. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 180_000;

/**
 * The time limit of one attempt when the curator sets none (`requestTimeoutMs`): a server that never answers then
 * costs minutes, not ten of them, unless the model is one that may think that long.
 */
export function defaultRequestTimeoutMs(model: string): number {
  return /^(o\d|gpt-5)|reason|think|(^|[-/])r1\b/i.test(model)
    ? DEFAULT_REASONING_TIMEOUT_MS
    : DEFAULT_REQUEST_TIMEOUT_MS;
}

/** Anthropic requires `max_tokens`; this applies when the curator's `generationParams` do not set it. */
export const DEFAULT_ANTHROPIC_MAX_TOKENS = 4096;

/** Batch mode: seconds between status checks of submitted provider batches (Curator's `batch_check_interval`). */
export const DEFAULT_BATCH_POLL_INTERVAL_SECONDS = 60;

/** Batch mode: OpenAI's `completion_window`, the only value OpenAI accepts today. */
export const DEFAULT_BATCH_COMPLETION_WINDOW = '24h';

// ---- The worker process -----------------------------------------------------------------------------------------

/**
 * A worker's memory budget in MiB (`CURATOR_WORKER_MEMORY_MB`, `memoryBudgetMB`): its collector works harder only as
 * the process nears it (`heap-budget.ts`).
 */
export const DEFAULT_WORKER_MEMORY_MB = 512;

// ---- Requests in flight -----------------------------------------------------------------------------------------

/** Memory one request in flight may take (socket, buffers, request and answer), for the default ceiling. */
export const REQUEST_MEMORY_BYTES = 64 * 1024;

/** The share of the machine's memory the requests in flight may take by default. */
export const MEMORY_SHARE = 1 / 32;

/** The default ceiling of requests in flight per worker never exceeds this: beyond it one process's CPU is the limit. */
export const MAX_DEFAULT_CEILING = 8192;

/** Nor falls below this. */
export const MIN_DEFAULT_CEILING = 256;

// ---- Where things are -------------------------------------------------------------------------------------------

/** The Temporal server workers and clients connect to when `TEMPORAL_ADDRESS` is not set. */
export const DEFAULT_ADDRESS = '127.0.0.1:7233';

/** The Temporal namespace when `TEMPORAL_NAMESPACE` is not set. */
export const DEFAULT_NAMESPACE = 'default';

/** The task queue of workers and jobs when none is given: clients must start jobs on the workers' queue. */
export const DEFAULT_TASK_QUEUE = 'temporal-curator';

/** The environment variable naming the cache root; without it, {@link DEFAULT_CACHE_DIR_NAME} under the user's cache. */
export const CACHE_DIR_ENV = 'CURATOR_CACHE_DIR';

/** The cache root's folder under `$XDG_CACHE_HOME`, else under `~/.cache`. */
export const DEFAULT_CACHE_DIR_NAME = 'temporal-curator';

/** The gRPC port of the embedded Temporal dev server (its Web UI listens 1,000 above). */
export const DEFAULT_DEV_SERVER_PORT = 7233;

/**
 * Where the embedded default's simulator listens (`CURATOR_SIMULATOR_PORT` overrides it): one fixed port, so the
 * base URL is the same in every run and a curator's cache survives restarts.
 */
export const EMBEDDED_SIMULATOR_PORT = 18787;

/** Seconds requests in flight at a stop (Ctrl-C, SIGTERM) get to answer before the worker abandons them. */
export const STOP_GRACE_SECONDS = 30;

/**
 * The Temporal runtime's log level when `CURATOR_LOG_LEVEL` is not set: worker state changes at INFO would drown
 * what the user should read.
 */
export const DEFAULT_LOG_LEVEL = 'WARN';

// ---- Output -----------------------------------------------------------------------------------------------------

/** Parquet compression: smaller than snappy on text at a similar speed, and read by every current Parquet reader. */
export const DEFAULT_PARQUET_COMPRESSION = 'zstd';

/** Rows per record batch of the Arrow files a job writes, which bounds memory use while writing. */
export const DEFAULT_ARROW_BATCH_ROWS = 10_000;

/** Rows per Parquet row group at most: the batch size of the Arrow files a job writes. */
export const DEFAULT_ROW_GROUP_ROWS = DEFAULT_ARROW_BATCH_ROWS;

/** Uncompressed bytes per Parquet row group at most, about. */
export const DEFAULT_ROW_GROUP_BYTES = 64 * 1024 * 1024;
