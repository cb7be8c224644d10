/**
 * The plan step: fingerprint the run, answer from cache when the finished dataset exists, otherwise copy the dataset
 * into the run folder and size the job.
 */
import type { Curator } from '../curator';
import { configuredLimits } from '../limits';
import { defaultConcurrencyCeiling } from '../limits/concurrency';
import { rateBucket } from '../limits/bucket';
import type { Limits } from '../limits/window';
import type { CurateJobInput, CurationManifest, RunPlan } from '../types';
import { pricesFor } from '../cost';
import { resolveResponseFormat } from '../schema';
import { hashDataset, materializeInput, readInputIndex, sourceRows } from '../storage/dataset';
import { mediaDigest } from '../requests/media-digest';
import { resolveBaseURL } from '../providers';
import { parseFingerprint, runFingerprint } from '../requests/fingerprint';
import { apiKeyFor } from '../providers';
import { CacheDirNotWritableError, InvalidOptionsError, WrongWorkerError } from '../errors';
import {
  DEFAULT_BATCH_MODE_BATCH_SIZE,
  DEFAULT_BATCH_POLL_INTERVAL_SECONDS,
  DEFAULT_BATCH_SIZE,
  DEFAULT_MAX_RETRIES,
  DEFAULT_REQUIRE_ALL_RESPONSES,
} from '../defaults';
import { resolve } from 'node:path';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';

/**
 * Requests the workflow keeps outstanding per request allowed in flight: the batches beyond the concurrency wait at
 * the worker's limiter, so a batch that waits for its slowest answer never leaves the pipe short.
 */
export const OUTSTANDING_PER_SLOT = 1.5;
/** Batch mode: provider batches in flight at once across the job. */
export const BATCH_MODE_BATCHES_IN_FLIGHT = 32;

/** The input of the `plan` activity: the job's input and its workflow id. */
export interface PlanInput extends CurateJobInput {
  /** The job's workflow id, recorded in the job index. */
  workflowId: string;
}

function positiveInt(value: number | undefined, fallback: number, what: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) {
    throw new InvalidOptionsError(`${what} must be a positive integer, got ${v}`);
  }
  return v;
}

/** The limits set on the curator, if any: what progress displays compare the achieved rates with. */
function setLimits(curator: Curator): Limits | undefined {
  const limits = configuredLimits(curator);
  return Object.values(limits).some((v) => v !== undefined) ? limits : undefined;
}

/** Errors of the file system that no retry fixes: the cache directory is not usable as configured (a full disk: see
 * `disk-full.ts`). */
const UNUSABLE_DIR = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR']);

export function createPlan(deps: ActivityDeps) {
  return async function plan(input: PlanInput): Promise<RunPlan> {
    try {
      return await withHeartbeat({ planning: input.curator }, () => planRun(deps, input));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code && UNUSABLE_DIR.has(code)) {
        throw new CacheDirNotWritableError(
          `the cache directory ${deps.cache.root} cannot be written (${code}): ${(err as Error).message}`
        );
      }
      throw err;
    }
  };
}

/** Refuses, before anything is paid or written, a job this worker must not serve. */
function checkWorkerFits(deps: ActivityDeps, curator: Curator, input: PlanInput): void {
  if (input.cacheDir !== undefined && resolve(input.cacheDir) !== resolve(deps.cache.root)) {
    throw new WrongWorkerError(
      `the job expects the cache directory ${resolve(input.cacheDir)} but this worker (on the same task queue) ` +
        `uses ${deps.cache.root}: run it with a worker of its own project, on a task queue of its own.`
    );
  }
  apiKeyFor(curator, deps.providers.env);
}

async function planRun(deps: ActivityDeps, input: PlanInput): Promise<RunPlan> {
  const curator = deps.curator(input.curator);
  checkWorkerFits(deps, curator, input);
  const backend = curator.backend ?? {};
  const options = input.options ?? {};
  const batchMode = backend.batch === true;
  const batchSize = positiveInt(
    options.batchSize ?? backend.batchSize,
    batchMode ? DEFAULT_BATCH_MODE_BATCH_SIZE : DEFAULT_BATCH_SIZE,
    'batchSize'
  );
  const pollSeconds = backend.batchPollIntervalSeconds ?? DEFAULT_BATCH_POLL_INTERVAL_SECONDS;
  if (batchMode && !(typeof pollSeconds === 'number' && pollSeconds > 0 && Number.isFinite(pollSeconds))) {
    throw new InvalidOptionsError(`batchPollIntervalSeconds must be a positive number, got ${pollSeconds}`);
  }
  // The ceiling of the worker's concurrency controller; the controller sizes the real number from limit and latency.
  const concurrency = positiveInt(
    options.maxConcurrentRequests ?? backend.maxConcurrentRequests,
    defaultConcurrencyCeiling(),
    'maxConcurrentRequests'
  );
  if (options.batchesPerPartition !== undefined) positiveInt(options.batchesPerPartition, 1, 'batchesPerPartition');
  const maxRetries = backend.maxRetries ?? DEFAULT_MAX_RETRIES;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) {
    throw new InvalidOptionsError(`maxRetries must be a whole number >= 0, got ${maxRetries}`);
  }
  const requireAllResponses =
    options.requireAllResponses ?? backend.requireAllResponses ?? DEFAULT_REQUIRE_ALL_RESPONSES;

  const { plane, artifacts } = await deps.storage();
  if (input.dataset.kind === 'run' && artifacts.remote) {
    // An earlier run's output as this job's input: its manifest and dataset come from the store.
    const source = deps.cache.run(input.dataset.runHash);
    await artifacts.fetch(source.result(input.dataset.parseHash));
    await artifacts.fetch(source.dataset(input.dataset.parseHash));
  }
  const datasetHash = await hashDataset(input.dataset, deps.cache);
  const media = await mediaDigest(
    curator,
    () => sourceRows(input.dataset, deps.cache),
    deps.cache.root,
    runFingerprint(curator, datasetHash, deps.providers.env)
  );
  const runHash = runFingerprint(curator, datasetHash, deps.providers.env, media);
  const parseHash = parseFingerprint(curator);
  const run = deps.cache.run(runHash);
  // What a cached answer and a fresh plan share; they differ only in how the work is sized.
  const common = {
    model: curator.model,
    runHash,
    parseHash,
    datasetHash,
    runDir: run.dir,
    maxConcurrentRequests: concurrency,
    maxRetries,
    requireAllResponses,
    prices: pricesFor(curator),
    limits: setLimits(curator),
    rateBucket: rateBucket(curator, resolveBaseURL(curator, deps.providers.env)),
    ...(batchMode ? { batchMode: { pollIntervalMs: Math.round(pollSeconds * 1000) } } : {}),
  };

  const resultPath = run.result(parseHash);
  const resultText = (await artifacts.has(run.dataset(parseHash))) ? await artifacts.readText(resultPath) : undefined;
  if (resultText !== undefined) {
    const previous = JSON.parse(resultText) as CurationManifest;
    if (previous.stats.failed === 0) {
      // The manifest's paths are this worker's cache: the files are fetched to them (streamed) if this disk lacks them.
      await artifacts.fetch(run.dataset(parseHash));
      await artifacts.fetch(run.failedRequests(parseHash));
      await artifacts.fetch(resultPath);
      await plane.metadata.event(runHash, 'cache-hit', input.workflowId);
      const cached: CurationManifest = {
        ...previous,
        ...(artifacts.remote
          ? { runDir: run.dir, datasetPath: run.dataset(parseHash), failedRequestsPath: run.failedRequests(parseHash) }
          : {}),
        stats: { ...previous.stats, cached: previous.stats.succeeded },
        workflowId: input.workflowId,
        fromCache: true,
      };
      return {
        ...common,
        totalRequests: previous.stats.total,
        batchSize,
        batchCount: 0,
        requestConcurrency: 0,
        batchesInFlight: 0,
        cached,
      };
    }
  }

  // With an object store, the copy planned before (on any machine) is the run's; a new one is published.
  let index;
  if (await artifacts.pullInput(run)) {
    index = await materializeInput(input.dataset, deps.cache, run, datasetHash, batchSize, media);
  } else {
    await materializeInput(input.dataset, deps.cache, run, datasetHash, batchSize, media);
    await artifacts.pushInput(run);
    index = await readInputIndex(run);
  }
  const format = resolveResponseFormat(curator.responseFormat);
  await plane.metadata.startRun({
    run_hash: runHash,
    parse_hash: parseHash,
    curator_name: curator.name,
    dataset_hash: datasetHash,
    prompt_func: curator.prompt.toString(),
    model_name: curator.model,
    provider: curator.provider,
    base_url: resolveBaseURL(curator, deps.providers.env),
    response_format: format ? JSON.stringify(format.jsonSchema) : 'text',
    workflow_id: input.workflowId,
    total_requests: index.rows,
    batch_mode: batchMode ? 1 : 0,
  });

  const batchCount = index.offsets.length;
  // Admission is per request at the worker: each batch hands all its requests to the limiter, and enough batches
  // are outstanding that the pipe stays full while the slowest requests of some batches finish.
  // In batch mode the provider does the work: many batches wait at once, at no cost to the workers.
  const batchesInFlight = batchMode
    ? Math.max(1, Math.min(batchCount, BATCH_MODE_BATCHES_IN_FLIGHT))
    : Math.max(1, Math.min(batchCount, Math.max(4, Math.ceil((concurrency * OUTSTANDING_PER_SLOT) / index.batchSize))));
  return {
    ...common,
    totalRequests: index.rows,
    batchSize: index.batchSize,
    batchCount,
    requestConcurrency: index.batchSize,
    batchesInFlight,
  };
}
