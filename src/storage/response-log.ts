/**
 * The response log of one batch: an append-only JSON Lines file with one line per attempt. It is the durable state of
 * every request in the batch: which succeeded (in any job: that is the response cache), how many attempts this job
 * made, and every error seen. A rerun, a retried activity or a restarted worker reads it back and never pays twice.
 */
import { writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ToolCall } from '../types/answer';
import type { RequestError } from '../types/requests';
import type { TokenUsage } from '../types/usage';
import { ensureDir, readRecords, repairTornTail } from './jsonl';

export interface AttemptRecord {
  /** Absolute request index (= input row index). */
  i: number;
  /** The job that made the attempt. */
  job: string;
  /** 1-based attempt number within that job. */
  attempt: number;
  at: string;
  ok: boolean;
  /** The accepted answer: text, or the validated object of a structured answer (of the first choice). */
  value?: unknown;
  finish?: string;
  /** The first choice's tool calls, their arguments parsed and checked; only when it has some. */
  toolCalls?: ToolCall[];
  /** The choices after the first, when the request asked for several (`n`); only then. */
  moreChoices?: RecordedChoice[];
  /** The model's thinking before its answer (extended thinking), kept so a cached answer still has it. */
  thinking?: string;
  usage?: TokenUsage;
  requestId?: string;
  /** The provider's response body, for a curator with `includeRawAnswer`; only on accepted answers. */
  raw?: unknown;
  /** Where an answer taken from another run came from (`job` is then `reused`): see {@link ReusedFrom}. */
  reused?: ReusedFrom;
  /** A failed attempt of a request whose `n` choices come from separate calls: the choices answered (and paid) so far. */
  answered?: AnsweredChoices;
  error?: RequestError;
}

/** The provenance of a reused answer: which stored answer it is, and who asked for it with which params. */
export interface ReusedFrom {
  /** The key of the stored answer (its request's, under `answers/` of the cache directory). */
  key: string;
  /** Whether it was asked with exactly this request's body; false: the same prompt with other params. */
  identical: boolean;
  /** The generation params it was asked with, when recorded. */
  params?: Record<string, unknown>;
  /** The run (its hash) and job that paid for it, when recorded. */
  run?: string;
  job?: string;
}

/**
 * The choices of a request answered so far when its other choices failed (Anthropic's `n`, one call each): the
 * provider's choices as it mapped them, opaque here, and their raw bodies. A retry asks only for the rest.
 */
export interface AnsweredChoices {
  choices: unknown[];
  raw: unknown[];
}

/** A choice after the first of an accepted answer, recorded as compactly as the first one's fields. */
export interface RecordedChoice {
  value: unknown;
  finish: string;
  toolCalls?: ToolCall[];
  /** This choice's thinking, when it had some (each of Anthropic's n calls thinks on its own). */
  thinking?: string;
}

export interface RequestState {
  /** The accepted answer, from whichever job paid for it. */
  success?: AttemptRecord;
  /** Attempts made by the current job. */
  attempts: number;
  /** Errors seen by the current job, oldest first. */
  errors: RequestError[];
  /** The choices answered so far of a request not yet answered whole, from whichever job paid for them. */
  answered?: AnsweredChoices;
  /** Tokens the current job paid for, including failed attempts that returned an answer. */
  tokens: TokenUsage;
}

export class ShardLog {
  readonly requests = new Map<number, RequestState>();

  state(i: number): RequestState {
    let s = this.requests.get(i);
    if (!s) {
      s = { attempts: 0, errors: [], tokens: { input: 0, output: 0 } };
      this.requests.set(i, s);
    }
    return s;
  }

  /** Folds one attempt into the state; the same function serves replay from disk and live updates. */
  apply(record: AttemptRecord, jobId: string): void {
    const s = this.state(record.i);
    if (record.ok) {
      s.success ??= record;
    }
    if (record.answered) s.answered = record.answered;
    if (record.job !== jobId) return;
    s.attempts = Math.max(s.attempts, record.attempt);
    if (record.error) s.errors.push(record.error);
    if (record.usage) {
      s.tokens.input += record.usage.input;
      s.tokens.output += record.usage.output;
      if (record.usage.reasoning) s.tokens.reasoning = (s.tokens.reasoning ?? 0) + record.usage.reasoning;
    }
  }

  static async load(path: string, jobId: string): Promise<ShardLog> {
    const log = new ShardLog();
    for await (const record of readRecords<AttemptRecord>(path)) log.apply(record, jobId);
    return log;
  }
}

/**
 * Appends attempt records through one open file, so concurrent requests never interleave bytes. The lines appended
 * during one turn of the event loop go out in one write at its end (`setImmediate`), and each `append` resolves once
 * the write holding its line is done: the same order, and the same "in the file before anything else happens to it",
 * as one write per record.
 *
 * The write is synchronous: a small append to the page cache costs a system call, while an asynchronous write is a
 * trip to the thread pool whose hand-over costs more than ten times as much CPU (bench/README.md, 2026-11-30
 * 12:20). A disk slow to take a few kilobytes would hold the event loop for as long: the response logs belong on
 * a local disk (a shared store gets segments instead: `object-store/segmented-response-log.ts`).
 */
export class ResponseLogWriter {
  /** Lines waiting for the end of this turn, and their callers' promise. */
  private lines: string[] = [];
  private pending?: { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void };
  private failed?: Error;
  /** Writes as much of `bytes` from `at` as the system takes; how many bytes it wrote. */
  private write = (bytes: Buffer, at: number): number => writeSync(this.fh.fd, bytes, at);

  private constructor(private readonly fh: FileHandle) {}

  static async open(path: string): Promise<ResponseLogWriter> {
    await ensureDir(dirname(path));
    await repairTornTail(path);
    return new ResponseLogWriter(await open(path, 'a'));
  }

  /** Resolves once the record's line is written; fails with the write (and so does every later append). */
  append(record: AttemptRecord): Promise<void> {
    // After a failed write nothing more is written (a gap would break the log's order): every later append fails too.
    if (this.failed) return Promise.reject(this.failed);
    this.lines.push(JSON.stringify(record) + '\n');
    if (!this.pending) {
      let resolve!: () => void;
      let reject!: (err: Error) => void;
      const promise = new Promise<void>((yes, no) => ((resolve = yes), (reject = no)));
      this.pending = { promise, resolve, reject };
      setImmediate(() => this.flush());
    }
    return this.pending.promise;
  }

  private flush(): void {
    const pending = this.pending!;
    this.pending = undefined;
    const bytes = Buffer.from(this.lines.join(''));
    this.lines = [];
    try {
      // Written until every byte is out: a short write (a full disk, a quota) is finished or fails here.
      for (let at = 0; at < bytes.length;) {
        const written = this.write(bytes, at);
        if (written === 0) throw new Error(`could not write the response log (${bytes.length - at} bytes left)`);
        at += written;
      }
      pending.resolve();
    } catch (err) {
      this.failed = err as Error;
      pending.reject(this.failed);
    }
  }

  async close(): Promise<void> {
    await this.pending?.promise.catch(() => undefined);
    await this.fh.close();
  }
}
