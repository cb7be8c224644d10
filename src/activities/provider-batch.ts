/**
 * The provider Batch-API transport: the activities that move one shard of rows through the request pipeline
 * (`src/requests`) with its requests travelling in provider batches instead of calls of their own.
 *
 *   submitProviderBatch  format the requests, split them within the provider's limits, create the provider batches
 *   pollProviderBatches  one short status check of the batches a partition waits for
 *   downloadProviderBatch  every result accepted and recorded in the shard's response log exactly as a synchronous
 *                        answer, then parsed
 *   cancelProviderBatch  cancel the provider batches of a round (job cancelled)
 *
 * What was submitted is recorded in the run folder (`provider-batches/`) before and after each creation: a retried or
 * resumed submit reads it and never creates a batch twice. Answers land in the same response log as synchronous
 * answers, so the cache, re-parsing with zero calls, finalize and failed_requests work unchanged.
 */
import { cancellationSignal, heartbeat } from '@temporalio/activity';
import type { Curator, Row } from '../curator';
import type {
  ProviderBatchOutcome,
  ProviderBatchPoll,
  ProviderBatchPollResult,
  ProviderBatchSubmission,
  ProviderBatchTask,
} from '../types';
import { providerOf, resolveBaseURL } from '../providers';
import { batchLine, indexOfCustomId, splitBatches, type BatchLine, type ProviderBatchClient } from '../providers/batch';
import { classifierOf, classifyError, type RequestError } from '../providers/outcome';
import type { ProviderRequest } from '../providers/types';
import { answerAcceptor } from '../requests/accept';
import { answeredFields, completeAnswer, stillToAsk } from '../requests/choices';
import { formatRequests } from '../requests/format';
import { inlineRequests, recordedRequest } from '../requests/inline';
import { AnswerReuse } from '../requests/reuse';
import { attemptBase } from '../requests/record';
import { summarizeGrouped } from '../requests/shard-outcome';
import { CuratorError, ProviderFailureError, type ProviderFailureType } from '../errors';
import { sha256 } from '../storage/fingerprint';
import type { AnsweredChoices, AttemptRecord, ShardLog } from '../storage/response-log';
import type { RunLayout } from '../storage/cache-dir';
import type { RunArtifacts } from '../storage/run-artifacts';
import type { ActivityDeps } from './deps';
import * as shards from './shard-storage';

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
  provider: string;
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

/** Read from where the run's artifacts are kept for good (the object store when one is configured). */
async function readSubmission(artifacts: RunArtifacts, path: string): Promise<Submission | undefined> {
  const text = await artifacts.readText(path);
  return text === undefined ? undefined : (JSON.parse(text) as Submission);
}

async function saveSubmission(artifacts: RunArtifacts, path: string, submission: Submission): Promise<void> {
  await artifacts.writeText(path, JSON.stringify(submission));
}

/** Provider failures that no retry fixes, as non-retryable activity failures (a bad key stops the job at once). */
function asFailure(err: unknown, what: string, classify = classifyError): unknown {
  if (err instanceof CuratorError) return err;
  const error = classify(err);
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
  log: ShardLog,
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
  const clientFor = (curator: Curator): ProviderBatchClient => {
    try {
      return deps.providers.batchClient(curator);
    } catch (err) {
      throw asFailure(err, `curator '${curator.name}'`);
    }
  };

  /** Runs `work` holding the batch's lease, heartbeating meanwhile. */
  async function leased<T>(s: shards.ShardStorage, runHash: string, batch: number, work: () => Promise<T>): Promise<T> {
    const beat = setInterval(() => heartbeat({ batch }), 1000);
    try {
      return await shards.withBatchLease(s, runHash, batch, () => heartbeat({ batch, waitingForBatch: true }), work);
    } finally {
      clearInterval(beat);
    }
  }

  /** Answers of earlier runs, for the requests of a curator's provider batches. */
  function reuseFor(s: shards.ShardStorage, curator: Curator, task: ProviderBatchTask): AnswerReuse {
    const origin = { run: task.runHash, job: task.jobId };
    return new AnswerReuse(s.plane.objects, curator, resolveBaseURL(curator, deps.providers.env), origin);
  }

  async function submitProviderBatch(task: ProviderBatchTask): Promise<ProviderBatchSubmission> {
    const curator = await deps.curatorForRun(task.curator, task.runHash, task.parseHash);
    const s = await shards.shardStorage(deps, task.runHash);
    const client = clientFor(curator);
    const path = submissionPath(s.run, task);
    return leased(s, task.runHash, task.batch, async () => {
      const { rows, first, log } = await shards.readShard(s, task);
      let submission = await readSubmission(s.artifacts, path);
      let lines: Map<number, BatchLine> | undefined;

      if (!submission) {
        const toSend = requestsToSend(log, first, rows.length, task.retryAttempts);
        const formatted = await formatShard(curator, rows, first, toSend, (i) => log.state(i).answered);
        lines = formatted.lines;
        const recorder = await shards.openRecorder(s, task, log);
        try {
          // Rows that cannot become a request fail alone, recorded as a synchronous attempt would be.
          for (const [i, error] of formatted.errors) {
            await recorder.record({ ...attemptBase(i, task.jobId, log.state(i).attempts + 1), ok: false, error });
          }
          // A request with choices answered asks for fewer: no other run's answer is the whole of it.
          const whole = new Map([...formatted.requests].filter(([i]) => !log.state(i).answered));
          const reuse = reuseFor(s, curator, task);
          for (const i of await reuse.reuse(whole, recorder, (i) => rows[i - first])) lines.delete(i);
        } finally {
          await recorder.close();
        }
        if (lines.size === 0) {
          const parsed = await shards.keepParsedShard(s, curator, task, rows, first, log);
          return {
            batch: task.batch,
            round: task.round,
            submitted: 0,
            parts: 0,
            outcome: summarizeGrouped(task, rows, first, log, parsed),
          };
        }
        await shards.keepRequestShard(
          s,
          task.batch,
          !task.retryAttempts,
          [...lines.keys()].map((i) => [i, formatted.recorded.get(i)])
        );
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
        await saveSubmission(s.artifacts, path, submission);
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
            await saveSubmission(s.artifacts, path, submission);
            continue;
          }
        }
        lines ??= (
          await formatShard(
            curator,
            rows,
            first,
            submission.parts.flatMap((p) => p.items.map(([i]) => i)),
            (i) => log.state(i).answered
          )
        ).lines;
        part.intentAt = Date.now();
        await saveSubmission(s.artifacts, path, submission);
        let created: { id: string; fileId?: string };
        try {
          // A request whose image vanished since the round was planned is left out: the provider returns nothing
          // for it, so it is tried again next round, where it fails alone, named.
          created = await client.create(
            part.items.flatMap(([i]) => lines!.get(i) ?? []),
            key,
            signal
          );
        } catch (err) {
          throw asFailure(
            err,
            `curator '${curator.name}': creating a ${client.provider} batch for batch ${task.batch}`,
            classifierOf(client)
          );
        }
        part.id = created.id;
        if (created.fileId) part.fileId = created.fileId;
        await saveSubmission(s.artifacts, path, submission);
      }
      const submitted = submission.parts.reduce((n, p) => n + p.items.length, 0);
      return { batch: task.batch, round: task.round, submitted, parts: submission.parts.length };
    });
  }

  async function pollProviderBatches(input: ProviderBatchPoll): Promise<ProviderBatchPollResult> {
    const curator = deps.curator(input.curator);
    const { run, artifacts } = await shards.shardStorage(deps, input.runHash);
    const client = clientFor(curator);
    const result: ProviderBatchPollResult = { ended: [], done: 0, total: 0 };
    for (const { batch, round } of input.batches) {
      const submission = await readSubmission(artifacts, submissionPath(run, { jobId: input.jobId, batch, round }));
      if (!submission) throw new Error(`batch ${batch} round ${round} has no submission record`);
      let ended = true;
      for (const part of submission.parts) {
        if (!part.id) throw new Error(`batch ${batch} round ${round} has a provider batch without an id`);
        let status;
        try {
          status = await client.status(part.id);
        } catch (err) {
          throw asFailure(err, `checking ${client.provider} batch ${part.id}`, classifierOf(client));
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
    const s = await shards.shardStorage(deps, task.runHash);
    const client = clientFor(curator);
    const submission = await readSubmission(s.artifacts, submissionPath(s.run, task));
    if (!submission) throw new Error(`batch ${task.batch} round ${task.round} has no submission record`);
    const accept = answerAcceptor(curator);
    return leased(s, task.runHash, task.batch, async () => {
      const { rows, first, log } = await shards.readShard(s, task);
      const recorder = await shards.openRecorder(s, task, log);
      const reuse = reuseFor(s, curator, task);
      const sent = reuse.enabled ? submission.parts.flatMap((part) => part.items.map(([i]) => i)) : [];
      const { requests } = await formatShard(curator, rows, first, sent);
      try {
        for (const part of submission.parts) {
          const attempts = new Map(part.items);
          const record = async (i: number, fields: Partial<AttemptRecord> & { ok: boolean }) => {
            const attempt = attempts.get(i);
            // Recorded already (a retried download), or not part of this round.
            if (attempt === undefined || log.state(i).attempts >= attempt) return;
            await recorder.record({ ...attemptBase(i, task.jobId, attempt), ...fields });
          };
          if (!part.id) throw new Error(`batch ${task.batch} round ${task.round} has a provider batch without an id`);
          try {
            const status = await client.status(part.id);
            if (!status.ended) throw new Error(`${client.provider} batch ${part.id} has not ended (${status.status})`);
            for await (const result of client.results(part.id)) {
              const i = indexOfCustomId(result.customId);
              if (i === undefined) continue;
              const answered = log.state(i).answered;
              if (result.answer && !result.error) {
                const accepted = accept(completeAnswer(result.answer, answered));
                await record(i, accepted);
                await reuse.remember(requests.get(i), accepted);
              } else {
                await record(i, { ok: false, error: result.error!, ...answeredFields(answered, result.answer) });
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
            throw asFailure(err, `downloading ${client.provider} batch ${part.id}`, classifierOf(client));
          }
        }
      } finally {
        await recorder.close();
      }
      const parsed = await shards.keepParsedShard(s, curator, task, rows, first, log);
      return summarizeGrouped(task, rows, first, log, parsed);
    });
  }

  async function cancelProviderBatch(task: ProviderBatchTask): Promise<number> {
    const curator = deps.curator(task.curator);
    const { run, artifacts } = await shards.shardStorage(deps, task.runHash);
    const client = clientFor(curator);
    const submission = await readSubmission(artifacts, submissionPath(run, task));
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

/**
 * The "format" and "inline" stages for a provider batch: each request as a line of the batch (its images and files
 * inline in the body), or why its row cannot become one; and each request as the run records it.
 */
async function formatShard(
  curator: Curator,
  rows: Row[],
  first: number,
  indices: number[],
  answeredOf: (i: number) => AnsweredChoices | undefined = () => undefined
): Promise<{
  lines: Map<number, BatchLine>;
  requests: Map<number, ProviderRequest>;
  errors: Map<number, RequestError>;
  recorded: Map<number, unknown>;
}> {
  const { requests, errors } = formatRequests(curator, rows, first, indices);
  const recorded = new Map([...requests].map(([i, r]) => [i, recordedRequest(r)]));
  const provider = providerOf(curator);
  await inlineRequests(requests, errors, provider.media, provider.name);
  const lines = new Map<number, BatchLine>();
  for (const [i, request] of requests) lines.set(i, batchLine(i, provider.body(stillToAsk(request, answeredOf(i)))));
  return { lines, requests, errors, recorded };
}
