/**
 * The finishing step: the parsed shards become one Arrow dataset in input order, failed requests are written with
 * their rows and every error seen, and the run is recorded with its hashes in `metadata.db`.
 */
import { createWriteStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import { once } from 'node:events';
import type { CurationManifest, FinalizeInput } from '../types';
import { costUsd, pricesFor } from '../cost';
import { writeArrowFile } from '../storage/arrow';
import { readShardRows, readInputIndex } from '../storage/dataset';
import { ensureDir, readRecords } from '../storage/jsonl';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';
import type { ParsedLine } from '../requests/parse';
import { REUSED_EVENT } from '../requests/reuse';

/** One line of the failed requests file. */
export interface FailedRequest {
  index: number;
  /** The input row the request came from. */
  row: unknown;
  /** The class of the last error, e.g. `RateLimited`, `SchemaMismatch`, `ParseError`. */
  type: string;
  attempts: number;
  /** Every error this job saw for the request, oldest first. */
  errors: { type: string; message: string; status?: number }[];
}

export function createFinalize(deps: ActivityDeps) {
  return (input: FinalizeInput): Promise<CurationManifest> =>
    withHeartbeat({ finalizing: input.runHash }, () => finalizeRun(deps, input));
}

async function finalizeRun(deps: ActivityDeps, input: FinalizeInput): Promise<CurationManifest> {
  const curator = await deps.curatorForRun(input.curator, input.runHash, input.parseHash);
  const { plane, artifacts } = await deps.storage();
  const run = deps.cache.run(input.runHash);
  const index = await readInputIndex(run);
  const batchCount = index.offsets.length;
  const shard = (b: number) => run.parsed(input.parseHash, b);
  // With an object store the batches were parsed on any machine: the store's shards, onto this disk (a cache).
  for (let b = 0; b < batchCount && artifacts.remote; b++) await artifacts.fetch(shard(b), { fresh: true });

  async function* outputRows() {
    for (let b = 0; b < batchCount; b++) {
      for await (const line of readRecords<ParsedLine>(shard(b))) if (line.rows) yield* line.rows;
    }
  }
  const dataset = await writeArrowFile(run.dataset(input.parseHash), outputRows);
  // Streamed to the store (multipart, never whole in memory). Replaced, not written once: a cancelled job's partial
  // dataset is superseded by the full one, as the local file is; a reader sees the whole old or the whole new object.
  const uploaded = await artifacts.publish(dataset.path);
  if (uploaded !== undefined && uploaded !== dataset.sha256) {
    throw new Error(`the dataset ${artifacts.uri(dataset.path)} was uploaded with another SHA-256 than written`);
  }

  const failedPath = run.failedRequests(input.parseHash);
  await ensureDir(run.dir);
  const tmp = `${failedPath}.${process.pid}.tmp`;
  const out = createWriteStream(tmp);
  let succeeded = 0;
  let failed = 0;
  for (let b = 0; b < batchCount; b++) {
    const parsed = new Map<number, ParsedLine>();
    for await (const line of readRecords<ParsedLine>(shard(b))) parsed.set(line.i, line);
    const size = Math.min(index.batchSize, index.rows - b * index.batchSize);
    const ok = [...parsed.values()].filter((p) => p.error === undefined).length;
    succeeded += ok;
    if (ok === size) continue;
    // Only batches with failures are read again, to name each failed request with its row and errors.
    const log = await plane.responses.load(input.runHash, b, input.jobId);
    const rows = await readShardRows(run, index, b);
    for (let k = 0; k < rows.length; k++) {
      const i = b * index.batchSize + k;
      const p = parsed.get(i);
      if (p && p.error === undefined) continue;
      const s = log.requests.get(i);
      const errors = (s?.errors ?? []).map(({ type, message, status }) => ({ type, message, status }));
      if (p?.error !== undefined) errors.push({ type: 'ParseError', message: p.error, status: undefined });
      const entry: FailedRequest = {
        index: i,
        row: rows[k],
        type: errors.at(-1)?.type ?? 'NotAttempted',
        attempts: s?.attempts ?? 0,
        errors,
      };
      failed++;
      if (!out.write(JSON.stringify(entry) + '\n')) await once(out, 'drain');
    }
  }
  out.end();
  await once(out, 'finish');
  await rename(tmp, failedPath);
  await artifacts.publish(failedPath);

  const manifest: CurationManifest = {
    curator: input.curator,
    runHash: input.runHash,
    parseHash: input.parseHash,
    workflowId: input.workflowId,
    runDir: run.dir,
    datasetPath: dataset.path,
    datasetSha256: dataset.sha256,
    ...(artifacts.remote ? { datasetUri: artifacts.uri(dataset.path) } : {}),
    failedRequestsPath: failedPath,
    stats: {
      ...input.stats,
      total: index.rows,
      succeeded,
      failed,
      outputRows: dataset.rows,
    },
    costUsd: costUsd(pricesFor(curator), input.stats.tokens),
    ...(curator.backend?.batch === true ? { batch: true } : {}),
    fromCache: false,
    createdAt: new Date().toISOString(),
  };
  // Last, as its presence is what makes a rerun a cache hit.
  await artifacts.writeText(run.result(input.parseHash), JSON.stringify(manifest, null, 2));
  await plane.metadata.finishRun(input.runHash, {
    status: failed > 0 ? 'completed_with_failures' : 'completed',
    parse_hash: input.parseHash,
    workflow_id: input.workflowId,
    total_requests: index.rows,
    succeeded_requests: succeeded,
    failed_requests: failed,
    cached_requests: input.stats.cached,
    total_prompt_tokens: input.stats.tokens.input,
    total_completion_tokens: input.stats.tokens.output,
    total_cost_milli_dollars: manifest.costUsd === undefined ? null : manifest.costUsd * 1000,
    output_rows: dataset.rows,
    dataset_path: artifacts.uri(dataset.path),
    dataset_sha256: dataset.sha256,
    failed_requests_path: artifacts.uri(failedPath),
  });
  if (input.stats.reused) {
    // Where the answers came from, for `curator show`; each reused answer's origin is in its response log record.
    const { succeeded: answered, cached, reused } = input.stats;
    await plane.metadata.event(input.runHash, REUSED_EVENT, input.workflowId, { answered, cached, reused });
  }
  return manifest;
}
