/**
 * Batch mode: the activities that move one batch of rows through the provider's batch API.
 *
 *   submitProviderBatch  format the requests, split them within the provider's limits, create the provider batches
 *   pollProviderBatches  one short status check of the batches a partition waits for
 *   downloadProviderBatch  every result into the batch's response log, exactly as a synchronous answer, then parse
 *   cancelProviderBatch  cancel the provider batches of a round (job cancelled)
 *
 * What was submitted is recorded in the run folder (`provider-batches/`) before and after each creation: a retried or
 * resumed submit reads it and never creates a batch twice. Answers land in the same response log as synchronous
 * answers, so the cache, re-parsing with zero calls, finalize and failed_requests work unchanged.
 */
import { cancellationSignal, heartbeat } from '@temporalio/activity';
import { readFile } from 'node:fs/promises';
import type { Curator, Row } from '../curator';
import type {
  ProviderBatchOutcome,
  ProviderBatchPoll,
  ProviderBatchPollResult,
  ProviderBatchSubmission,
  ProviderBatchTask,
  RetryGroup,
} from '../manifests';
import {
  BatchClientPool,
  batchLine,
  indexOfCustomId,
  splitBatches,
  type BatchLine,
  type ProviderBatchClient,
} from '../providers/batch';
import { classifyError, type RequestError } from '../providers/outcome';
import { acceptAnswer } from '../requests/answer';
import { DEFAULT_INVALID_FINISH_REASONS } from '../defaults';
import { buildRequest } from '../requests/format';
import { CuratorError, PromptError, ProviderFailureError, type ProviderFailureType } from '../errors';
import { resolveResponseFormat } from '../schema';
import { BatchLease } from '../storage/batch-lease';
import { INVALID_ROW_KEY, readBatchRows, readInputIndex } from '../storage/dataset';
import { sha256 } from '../storage/fingerprint';
import { exists, writeFileAtomic } from '../storage/jsonl';
import { BatchLog, ResponseLogWriter, type AttemptRecord } from '../storage/response-log';
import type { RunLayout } from '../storage/cache-dir';
import type { ActivityDeps } from './deps';
import { type ParsedLine, tallyBatch, writeParsedShard } from './parse-stage';

/** One provider batch of a round: its requests with the attempt each counts as, and the provider's id once known. */
export interface SubmissionPart {
  /** `[request index, attempt number]` pairs. */
  items: [number, number][];
  /** The provider batch id, once created. */
  id?: string;
  /** OpenAI: the uploaded input file. */
  fileId?: string;
  /** When creation was last attempted (ms since the epoch): a part with this and no id may exist at the provider. */
  intentAt?: number;
}

/** The record of one round of one batch, in `provider-batches/`. */
export interface Submission {
  provider: 'openai' | 'anthropic';
  job: string;
  batch: number;
  round: number;
  /** Names the round at the provider (OpenAI metadata), so a creation whose id was lost can be found again. */
  key: string;
  parts: SubmissionPart[];
}

/** Short and file-name safe: the job id contains `/` and `@`. */
export function jobKey(jobId: string): string {
  return sha256(jobId).slice(0, 12);
}

function submissionPath(run: RunLayout, task: { jobId: string; batch: number; round: number }): string {
  return run.providerBatch(task.batch, jobKey(task.jobId), task.round);
}

async function readSubmission(path: string): Promise<Submission | undefined> {
  if (!(await exists(path))) return undefined;
  return JSON.parse(await readFile(path, 'utf8')) as Submission;
}

async function saveSubmission(path: string, submission: Submission): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(submission));
}

/** Provider failures that no retry fixes, as non-retryable activity failures (a bad key stops the job at once). */
function asFailure(err: unknown, what: string): unknown {
  if (err instanceof CuratorError) return err;
  const error = classifyError(err);
  if (error.fatal || (!error.retryable && error.status !== undefined)) {
    return new ProviderFailureError(
      error.type as ProviderFailureType,
      `${what} failed with ${error.type}${error.status ? ` (HTTP ${error.status})` : ''}: ${error.message}`
    );
  }
  return err;
}

/**
 * Which requests of the batch this round sends: on the first round the whole batch, less what is answered or was
 * attempted before a crash; on a retry round the requests whose last attempt failed retryably and whose attempts so
 * far are one of `retryAttempts`, the groups the workflow decided to retry (an attempt it does not know of changes
 * the count, so it is never repeated).
 */
export function requestsToSend(
  log: BatchLog,
  first: number,
  count: number,
  retryAttempts: number[] | undefined
): number[] {
  const groups = retryAttempts ? new Set(retryAttempts) : undefined;
  const all = Array.from({ length: count }, (_, k) => first + k);
  return all.filter((i) => {
    const s = log.requests.get(i);
    if (s?.success) return false;
    if (!groups) return (s?.attempts ?? 0) === 0;
    const last = s?.errors.at(-1);
    if (last && !last.retryable) return false;
    return groups.has(s?.attempts ?? 0);
  });
}

export function createProviderBatchActivities(deps: ActivityDeps) {
  const clients = new BatchClientPool(deps.providers.env);
  const clientFor = (curator: Curator): ProviderBatchClient => {
    try {
      return clients.get(curator);
    } catch (err) {
      throw asFailure(err, `curator '${curator.name}'`);
    }
  };

  /** Runs `work` holding the batch's lease, heartbeating meanwhile. */
  async function leased<T>(run: RunLayout, batch: number, work: () => Promise<T>): Promise<T> {
    const beat = setInterval(() => heartbeat({ batch }), 1000);
    try {
      const lease = await BatchLease.acquire(run.lease(batch), cancellationSignal(), () =>
        heartbeat({ batch, waitingForBatch: true })
      );
      try {
        return await work();
      } finally {
        await lease.release();
      }
    } finally {
      clearInterval(beat);
    }
  }

  async function submitProviderBatch(task: ProviderBatchTask): Promise<ProviderBatchSubmission> {
    const curator = await deps.curatorForRun(task.curator, task.runHash, task.parseHash);
    const run = deps.cache.run(task.runHash);
    const client = clientFor(curator);
    const path = submissionPath(run, task);
    return leased(run, task.batch, async () => {
      const index = await readInputIndex(run);
      const rows = await readBatchRows(run, index, task.batch);
      const first = task.batch * index.batchSize;
      let submission = await readSubmission(path);
      let lines: Map<number, BatchLine> | undefined;

      if (!submission) {
        const log = await BatchLog.load(run.responses(task.batch), task.jobId);
        const toSend = requestsToSend(log, first, rows.length, task.retryAttempts);
        const formatted = formatRequests(curator, rows, first, toSend);
        lines = formatted.lines;
        if (formatted.errors.length > 0) {
          // Rows that cannot become a request fail alone, recorded as a synchronous attempt would be.
          const writer = await ResponseLogWriter.open(run.responses(task.batch));
          try {
            for (const [i, error] of formatted.errors) {
              const record: AttemptRecord = {
                i,
                job: task.jobId,
                attempt: log.state(i).attempts + 1,
                at: new Date().toISOString(),
                ok: false,
                error,
              };
              await writer.append(record);
              log.apply(record, task.jobId);
            }
          } finally {
            await writer.close();
          }
        }
        if (lines.size === 0) {
          const parsed = await writeParsedShard(deps, curator, task, rows, first, log);
          return {
            batch: task.batch,
            round: task.round,
            submitted: 0,
            parts: 0,
            outcome: summarize(task, rows, first, log, parsed),
          };
        }
        if (!task.retryAttempts && !(await exists(run.requests(task.batch)))) {
          const text = [...lines].map(([i, l]) => JSON.stringify({ i, request: l.body })).join('\n') + '\n';
          await writeFileAtomic(run.requests(task.batch), text);
        }
        const entries = [...lines.keys()].map((i): [number, number] => [i, log.state(i).attempts + 1]);
        const parts = splitBatches(entries, ([i]) => client.lineBytes(lines!.get(i)!), client.limits);
        submission = {
          provider: client.provider,
          job: task.jobId,
          batch: task.batch,
          round: task.round,
          key: `tc-${task.runHash.slice(0, 16)}-${task.batch}-${jobKey(task.jobId)}-r${task.round}`,
          parts: parts.map((items) => ({ items })),
        };
        await saveSubmission(path, submission);
      }

      const signal = cancellationSignal();
      for (const [k, part] of submission.parts.entries()) {
        if (part.id) continue;
        const key = `${submission.key}-p${k}`;
        if (part.intentAt !== undefined) {
          // A creation was attempted and its id not recorded: the batch may exist. Adopt it rather than pay twice; if
          // the provider cannot be asked now, the activity fails and retries rather than risk a second batch.
          const found = await client.find(key, part.intentAt);
          if (found) {
            part.id = found;
            await saveSubmission(path, submission);
            continue;
          }
        }
        lines ??= formatRequests(
          curator,
          rows,
          first,
          submission.parts.flatMap((p) => p.items.map(([i]) => i))
        ).lines;
        part.intentAt = Date.now();
        await saveSubmission(path, submission);
        let created: { id: string; fileId?: string };
        try {
          created = await client.create(
            part.items.map(([i]) => lines!.get(i)!),
            key,
            signal
          );
        } catch (err) {
          throw asFailure(
            err,
            `curator '${curator.name}': creating a ${client.provider} batch for batch ${task.batch}`
          );
        }
        part.id = created.id;
        if (created.fileId) part.fileId = created.fileId;
        await saveSubmission(path, submission);
      }
      const submitted = submission.parts.reduce((n, p) => n + p.items.length, 0);
      return { batch: task.batch, round: task.round, submitted, parts: submission.parts.length };
    });
  }

  async function pollProviderBatches(input: ProviderBatchPoll): Promise<ProviderBatchPollResult> {
    const curator = deps.curator(input.curator);
    const run = deps.cache.run(input.runHash);
    const client = clientFor(curator);
    const result: ProviderBatchPollResult = { ended: [], done: 0, total: 0 };
    for (const { batch, round } of input.batches) {
      const submission = await readSubmission(submissionPath(run, { jobId: input.jobId, batch, round }));
      if (!submission) throw new Error(`batch ${batch} round ${round} has no submission record`);
      let ended = true;
      for (const part of submission.parts) {
        if (!part.id) throw new Error(`batch ${batch} round ${round} has a provider batch without an id`);
        let status;
        try {
          status = await client.status(part.id);
        } catch (err) {
          throw asFailure(err, `checking ${client.provider} batch ${part.id}`);
        }
        ended &&= status.ended;
        result.done += status.done;
        result.total += status.total || part.items.length;
      }
      if (ended) result.ended.push(batch);
    }
    return result;
  }

  async function downloadProviderBatch(task: ProviderBatchTask): Promise<ProviderBatchOutcome> {
    const curator = await deps.curatorForRun(task.curator, task.runHash, task.parseHash);
    const run = deps.cache.run(task.runHash);
    const client = clientFor(curator);
    const submission = await readSubmission(submissionPath(run, task));
    if (!submission) throw new Error(`batch ${task.batch} round ${task.round} has no submission record`);
    const format = resolveResponseFormat(curator.responseFormat);
    const invalidFinishReasons = curator.backend?.invalidFinishReasons ?? DEFAULT_INVALID_FINISH_REASONS;
    return leased(run, task.batch, async () => {
      const index = await readInputIndex(run);
      const rows = await readBatchRows(run, index, task.batch);
      const first = task.batch * index.batchSize;
      const log = await BatchLog.load(run.responses(task.batch), task.jobId);
      const writer = await ResponseLogWriter.open(run.responses(task.batch));
      try {
        for (const part of submission.parts) {
          const attempts = new Map(part.items);
          const record = async (i: number, fields: Partial<AttemptRecord> & { ok: boolean }) => {
            const attempt = attempts.get(i);
            // Recorded already (a retried download), or not part of this round.
            if (attempt === undefined || log.state(i).attempts >= attempt) return;
            const entry: AttemptRecord = { i, job: task.jobId, attempt, at: new Date().toISOString(), ...fields };
            await writer.append(entry);
            log.apply(entry, task.jobId);
          };
          if (!part.id) throw new Error(`batch ${task.batch} round ${task.round} has a provider batch without an id`);
          try {
            const status = await client.status(part.id);
            if (!status.ended) throw new Error(`${client.provider} batch ${part.id} has not ended (${status.status})`);
            for await (const result of client.results(part.id)) {
              const i = indexOfCustomId(result.customId);
              if (i === undefined) continue;
              if (result.answer) {
                const answer = result.answer;
                const accepted = acceptAnswer(answer, format, invalidFinishReasons);
                const shared = { finish: answer.rawFinishReason, usage: answer.usage, requestId: answer.requestId };
                await record(
                  i,
                  accepted.ok
                    ? { ...shared, ok: true, value: accepted.value }
                    : { ...shared, ok: false, error: accepted.error }
                );
              } else {
                await record(i, { ok: false, error: result.error! });
              }
            }
            // Requests the provider returned nothing for: the batch failed, expired or was cancelled before them.
            const missing: RequestError = status.error ?? {
              type: status.status === 'cancelled' || status.status === 'canceled' ? 'Canceled' : 'Expired',
              message: `no result for the request in ${client.provider} batch ${part.id} (${status.status})`,
              retryable: true,
            };
            for (const [i] of part.items) await record(i, { ok: false, error: { ...missing } });
          } catch (err) {
            throw asFailure(err, `downloading ${client.provider} batch ${part.id}`);
          }
        }
      } finally {
        await writer.close();
      }
      const parsed = await writeParsedShard(deps, curator, task, rows, first, log);
      return summarize(task, rows, first, log, parsed);
    });
  }

  async function cancelProviderBatch(task: ProviderBatchTask): Promise<number> {
    const curator = deps.curator(task.curator);
    const run = deps.cache.run(task.runHash);
    const client = clientFor(curator);
    const submission = await readSubmission(submissionPath(run, task));
    let cancelled = 0;
    for (const [k, part] of (submission?.parts ?? []).entries()) {
      const id =
        part.id ??
        (part.intentAt !== undefined
          ? await client.find(`${submission!.key}-p${k}`, part.intentAt).catch(() => undefined)
          : undefined);
      if (!id) continue;
      // A batch that already ended cannot be cancelled, and needs not be.
      await client.cancel(id).then(
        () => cancelled++,
        () => undefined
      );
    }
    return cancelled;
  }

  return { submitProviderBatch, pollProviderBatches, downloadProviderBatch, cancelProviderBatch };
}

/** Stage 1 for a batch: the provider body of each request, or why its row cannot become one. */
function formatRequests(
  curator: Curator,
  rows: Row[],
  first: number,
  indices: number[]
): { lines: Map<number, BatchLine>; errors: [number, RequestError][] } {
  const lines = new Map<number, BatchLine>();
  const errors: [number, RequestError][] = [];
  for (const i of indices) {
    const row = rows[i - first];
    if (!row) continue;
    if (typeof row[INVALID_ROW_KEY] === 'string') {
      errors.push([i, { type: 'InvalidRow', message: row[INVALID_ROW_KEY], retryable: false }]);
      continue;
    }
    try {
      lines.set(i, batchLine(curator.provider, i, buildRequest(curator, row)));
    } catch (err) {
      if (!(err instanceof PromptError)) throw err;
      errors.push([i, { type: 'PromptError', message: `row ${i}: ${err.message}`, retryable: false }]);
    }
  }
  return { lines, errors };
}

/** The batch's totals after this round, as the synchronous path reports them, with retryable requests as counts. */
export function summarize(
  task: { batch: number; jobId: string },
  rows: Row[],
  first: number,
  log: BatchLog,
  parsed: ParsedLine[]
): ProviderBatchOutcome {
  const groups = new Map<number, RetryGroup>();
  const tally = tallyBatch(task, rows, first, log, parsed, ({ attempts, type }) => {
    const group = groups.get(attempts);
    if (group) group.count++;
    else groups.set(attempts, { attempts, count: 1, type });
  });
  return { ...tally, retryable: [...groups.values()].sort((a, b) => a.attempts - b.attempts) };
}
