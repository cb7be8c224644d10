/**
 * Stage "record": every attempt goes to the shard's response log before anything else happens to it, so a crash, a
 * retried activity or a rerun resumes from the log (requests with an answer are never sent again). The same for an
 * answer of a call of its own and for a result of a provider batch.
 */
import { exists, writeFileAtomic } from '../storage/jsonl';
import { type AttemptRecord, ShardLog, ResponseLogWriter } from '../storage/response-log';

/** The fields every attempt record starts with: which request, which job, which attempt, when. */
export function attemptBase(
  i: number,
  job: string,
  attempt: number
): Pick<AttemptRecord, 'i' | 'job' | 'attempt' | 'at'> {
  return { i, job, attempt, at: new Date().toISOString() };
}

/** A writer of a response log: `append` resolves once the record is durable. */
export interface LogAppender {
  append(record: AttemptRecord): Promise<void>;
  close(): Promise<void>;
}

/** A shard's response log open for appending: each record is written, then applied to the log's state in memory. */
export class AttemptRecorder {
  private constructor(
    private readonly writer: LogAppender,
    readonly log: ShardLog,
    private readonly jobId: string
  ) {}

  /** On the append-only file at `path`, or on any log's writer (an object store's segments: see data-plane.ts). */
  static async open(target: string | LogAppender, log: ShardLog, jobId: string): Promise<AttemptRecorder> {
    return new AttemptRecorder(typeof target === 'string' ? await ResponseLogWriter.open(target) : target, log, jobId);
  }

  async record(record: AttemptRecord): Promise<void> {
    await this.writer.append(record);
    this.log.apply(record, this.jobId);
  }

  close(): Promise<void> {
    return this.writer.close();
  }
}

/**
 * Writes the shard's requests as sent (`requests/`), once: on the first round only, and never over an earlier copy,
 * so what a run sent can be read back beside its answers.
 */
export async function writeRequestShard(
  path: string,
  firstRound: boolean,
  requests: Iterable<[number, unknown]>
): Promise<void> {
  if (!firstRound || (await exists(path))) return;
  const lines = [...requests].map(([i, request]) => JSON.stringify({ i, request }));
  await writeFileAtomic(path, lines.join('\n') + '\n');
}
