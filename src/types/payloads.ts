/**
 * The small messages that cross Temporal: workflow inputs, activity inputs and results. Rows, prompts and responses
 * never appear here; they stay in files under the cache directory and these manifests name them by path and hash.
 * Sandbox-safe: types only.
 */
import type { Limits } from './limits';
import type { Prices, TokenUsage } from './usage';

export type { TokenUsage };

/** Where a job's input rows come from. */
export type DatasetRef =
  /** A JSON Lines file, one object per line. In-memory arrays are written to one of these by the client. */
  | { kind: 'jsonl'; path: string }
  /** An Apache Arrow IPC file (file or stream format). */
  | { kind: 'arrow'; path: string }
  /** A Parquet file, read one row group at a time. */
  | { kind: 'parquet'; path: string }
  /**
   * A Hugging Face `datasets` folder: a `save_to_disk` folder (`state.json` and `data-0000x-of-0000N.arrow`), or a
   * cache folder of one split (`dataset_info.json` and its `.arrow` files). A single `.arrow` file of `datasets` is
   * an `arrow` dataset.
   */
  | { kind: 'hf-dataset'; path: string }
  /** The output of an earlier curation, by its run hash and parse hash: how curations chain. */
  | { kind: 'run'; runHash: string; parseHash: string };

/** Per-job settings that change how the job runs, never what it computes. */
export interface JobOptions {
  /**
   * Requests per batch activity.
   * @defaultValue the curator's `backend.batchSize`, else 100 (`DEFAULT_BATCH_SIZE`; batch mode 10,000)
   */
  batchSize?: number;
  /**
   * The most requests in flight per worker process; the worker sizes the number below it from limit and latency.
   *
   * @defaultValue the curator's `backend.maxConcurrentRequests`, else a bound from the machine's memory (256-8,192)
   */
  maxConcurrentRequests?: number;
  /**
   * Overrides the curator's `backend.requireAllResponses`.
   * @defaultValue the curator's `backend.requireAllResponses`, else true
   */
  requireAllResponses?: boolean;
  /**
   * Batches one partition workflow owns before the job starts another.
   * @defaultValue 100 (`DEFAULT_BATCHES_PER_PARTITION`)
   */
  batchesPerPartition?: number;
  /**
   * Task queue of the request activities.
   * @defaultValue the job's task queue
   */
  activityTaskQueue?: string;
}

/** The input of `curateWorkflow`: which curator, over which dataset, with which options. */
export interface CurateJobInput {
  /** Name of a curator registered on the worker. */
  curator: string;
  /** The rows to curate. */
  dataset: DatasetRef;
  /** Per-job settings. */
  options?: JobOptions;
  /**
   * The cache root the starter expects the job to use, when it knows it (the embedded default and the CLI do): a
   * worker with another cache root refuses the job instead of writing it into its own.
   */
  cacheDir?: string;
  /**
   * The short, salted name of the provider key the starter holds for the curator (see `apiKeyId`), when it holds
   * one: a worker whose key differs refuses the job before paying anything. Never the key itself.
   */
  apiKeyId?: string;
}

/** Result of the `plan` activity. */
export interface RunPlan {
  model: string;
  runHash: string;
  parseHash: string;
  datasetHash: string;
  runDir: string;
  totalRequests: number;
  batchSize: number;
  batchCount: number;
  /** Requests in flight inside one batch activity. */
  requestConcurrency: number;
  /** Batch activities in flight across the job. */
  batchesInFlight: number;
  maxConcurrentRequests: number;
  maxRetries: number;
  requireAllResponses: boolean;
  /** The model's prices, for live cost in progress queries. */
  prices?: Prices;
  /** The rate limits set on the curator, if any, for progress displays. */
  limits?: Limits;
  /** The rate-limit bucket of the run's requests, under which workers keep the limits learned from headers. */
  rateBucket?: string;
  /** Present when a finished dataset already exists for this run and parse: nothing else needs to run. */
  cached?: CurationManifest;
  /** Present in batch mode: the requests go through the provider's batch API. */
  batchMode?: BatchModeSettings;
}

/** How a batch-mode job waits for its provider batches. */
export interface BatchModeSettings {
  /** Time between status checks of the submitted batches. */
  pollIntervalMs: number;
}

/** Input of the batch-mode activities: one round of one batch (the rows of one response log). */
export interface ProviderBatchTask {
  curator: string;
  runHash: string;
  parseHash: string;
  jobId: string;
  batch: number;
  /** 1 for the first submission, then one more for each retry round (a new provider batch each time). */
  round: number;
  /**
   * Absent on the first round. On a retry round: resubmit the requests of the batch that failed retryably with this
   * many attempts so far (one number per group the workflow decided to retry). Counts, not indices: a batch can hold
   * tens of thousands of requests, and payloads stay small.
   */
  retryAttempts?: number[];
  /** The job's `apiKeyId`, checked by every worker that runs the batch. */
  apiKeyId?: string;
}

/** Requests of a batch that failed retryably, grouped by their attempts so far. */
export interface RetryGroup {
  attempts: number;
  count: number;
  /** The error class of the group's first request, for summaries. */
  type: string;
}

/** What one round of a provider batch leaves behind: as {@link ShardOutcome}, with the retryable requests as counts. */
export interface ProviderBatchOutcome extends Omit<ShardOutcome, 'retryable'> {
  retryable: RetryGroup[];
}

/** What `submitProviderBatch` did: requests sent, in how many provider batches. */
export interface ProviderBatchSubmission {
  batch: number;
  round: number;
  /** Requests submitted in this round. */
  submitted: number;
  /** Provider batches they went into (more than one when the provider's limits split them). */
  parts: number;
  /** Present when nothing needed submitting (all answered, or failed while formatting): the batch's outcome. */
  outcome?: ProviderBatchOutcome;
}

/** Input of `pollProviderBatches`: the rounds a partition waits for. */
export interface ProviderBatchPoll {
  curator: string;
  runHash: string;
  jobId: string;
  batches: { batch: number; round: number }[];
}

/** What `pollProviderBatches` reports: which batches ended, and progress. */
export interface ProviderBatchPollResult {
  /** The batches whose provider batches have all ended (completed, expired, cancelled or failed). */
  ended: number[];
  /** Requests the provider reports as done, over all polled batches (for progress). */
  done: number;
  total: number;
}

/**
 * Input of one `curatorProcessShard` activity call: one round of one shard, a slice of `batchSize` rows (the field
 * `batch` is the shard's number: the name the payloads of version 0.1 recorded).
 */
export interface ShardTask {
  curator: string;
  runHash: string;
  parseHash: string;
  /** Identifies this job execution, so a rerun counts its own attempts and knows what was cached. */
  jobId: string;
  /** The shard's number. */
  batch: number;
  /** Requests in flight at once inside the activity. */
  concurrency: number;
  /** Requests in flight at once across the job: the rate limiter's concurrency ceiling in one process. */
  maxConcurrentRequests: number;
  /**
   * The requests to try again, with the attempts the workflow already knows of; absent on the first round, which
   * covers the whole shard. An attempt the log shows beyond that count happened before a crash and is not repeated.
   */
  retry?: { index: number; attempts: number }[];
  /** The job's `apiKeyId`, checked by every worker that runs the batch. */
  apiKeyId?: string;
}

/** A request that failed this round and may be tried again. */
export interface RetryableFailure {
  index: number;
  /** Attempts this job has made for the request so far. */
  attempts: number;
  /** Error class, e.g. `RateLimited`, `ServerError`, `InvalidFinishReason`, `SchemaMismatch`. */
  type: string;
  /** The provider's hint (retry-after headers), when it gave one. */
  retryAfterMs?: number;
}

/** What one `curatorProcessShard` call leaves behind, as totals of the shard (idempotent when the activity reruns). */
export interface ShardOutcome {
  /** The shard's number. */
  batch: number;
  requests: number;
  succeeded: number;
  /** Succeeded from responses an earlier job paid for. */
  cached: number;
  /** Of `cached`, the answers reused from the cache directory's other runs or bodies (`reuseAnswers`); absent: none. */
  reused?: number;
  /** Failed for good (final errors, parse errors, or out of retries as decided by the workflow). */
  failed: number;
  /** Failed this round with a retryable error. */
  retryable: RetryableFailure[];
  outputRows: number;
  /** Tokens of the responses this job received (not cached ones). */
  tokens: TokenUsage;
}

/** A job's totals, over its requests (one per input row). */
export interface CurationStats {
  /** Requests of the job: one per input row. */
  total: number;
  /** Requests answered and parsed. */
  succeeded: number;
  /** Requests failed for good (listed in the failed-requests file). */
  failed: number;
  /** Succeeded from responses an earlier job paid for. */
  cached: number;
  /**
   * Of `cached`, the answers taken from the cache directory's answers of other runs or other params (`reuseAnswers`,
   * `reuseAnswer`), recorded with their provenance in the response log; absent when none was.
   */
  reused?: number;
  /** Rows of the output dataset (a parse may fan out or drop). */
  outputRows: number;
  /** Tokens of the responses this job received (not cached ones). */
  tokens: TokenUsage;
  /** Attempts beyond the first, across all requests. */
  retries: number;
}

/** The input of `partitionWorkflow`: a range of batches of one job, and how to run them. */
export interface PartitionInput {
  curator: string;
  runHash: string;
  parseHash: string;
  jobId: string;
  /** First batch of the partition and one past its last. */
  fromBatch: number;
  toBatch: number;
  batchesInFlight: number;
  requestConcurrency: number;
  maxConcurrentRequests: number;
  maxRetries: number;
  activityTaskQueue?: string;
  /** The job's batch size and row count, so each batch activity's summary can name its rows in the UI. */
  rows?: { batchSize: number; total: number };
  /** Present in batch mode: the batches go through the provider's batch API. */
  batchMode?: BatchModeSettings;
  /** The job's `apiKeyId`, passed on to its batches. */
  apiKeyId?: string;
  /** Carried across continue-as-new. */
  nextBatch?: number;
  stats?: CurationStats;
}

/** What a partition returns: the totals of its batches. */
export interface PartitionResult {
  stats: CurationStats;
}

/** Input of the `finalize` activity. */
export interface FinalizeInput {
  curator: string;
  runHash: string;
  parseHash: string;
  jobId: string;
  workflowId: string;
  stats: CurationStats;
}

/** What a finished job returns: paths, hashes and counts. Small by design. */
export interface CurationManifest {
  curator: string;
  runHash: string;
  parseHash: string;
  workflowId: string;
  runDir: string;
  /** The Arrow IPC (stream format) dataset. */
  datasetPath: string;
  datasetSha256: string;
  /**
   * Where the dataset is kept for good when the workers keep run artifacts in an object store (`CURATOR_STORAGE`):
   * `s3://bucket/prefix/<run>/<parse>.arrow`. `datasetPath` is then the copy on the disk of the worker that wrote it.
   */
  datasetUri?: string;
  /** JSON Lines, one failed request per line with its row and every error seen. */
  failedRequestsPath: string;
  stats: CurationStats;
  /** What the tokens this job paid for cost, in US dollars, when the model's price is known. */
  costUsd?: number;
  /** Batch mode: the requests went through the provider's batch API, and `costUsd` is at batch prices (50% off). */
  batch?: boolean;
  /** True when this call found the finished dataset and made no request at all. */
  fromCache: boolean;
  createdAt: string;
}

/** @deprecated Renamed {@link ShardTask}: a slice of rows is a shard, "batch" names a provider batch only. */
export type BatchTask = ShardTask;
/** @deprecated Renamed {@link ShardOutcome}. */
export type BatchOutcome = ShardOutcome;
