/**
 * The providers' batch APIs through the official SDKs, with their retries off (Temporal retries): OpenAI Files and
 * Batches, Anthropic Message Batches. Each provider batch carries requests formatted exactly as synchronous calls,
 * and its results become the same answers and classified errors as synchronous calls.
 */
import { classifyError, type RequestError } from './outcome';
import type { ProviderAnswer } from './types';

/** Room kept under the byte limit for the body's framing (JSON brackets, multipart headers). */
const FRAMING_BYTES = 64 * 1024;

/** Most requests and bytes per provider batch. */
export interface BatchLimits {
  requests: number;
  bytes: number;
}

/** One request of a provider batch: its id (`req-<index>`) and the provider's body. */
export interface BatchLine {
  customId: string;
  body: Record<string, unknown>;
}

/** Where a provider batch stands. */
export interface BatchStatus {
  /** No request of the batch will change any more: completed, failed, expired or cancelled. */
  ended: boolean;
  /** The provider's own status, for summaries. */
  status: string;
  total: number;
  done: number;
  /** Set when the provider rejected the whole batch. */
  error?: RequestError;
}

/**
 * One result of a batch: an answer, or why there is none. Both for a request whose `n` choices went as separate lines
 * (Anthropic) and only some failed: the error, and the choices answered.
 */
export interface BatchResult {
  customId: string;
  answer?: Omit<ProviderAnswer, 'headers'>;
  error?: RequestError;
}

/** One connection to a provider's Batch API. */
export interface ProviderBatchClient {
  readonly provider: string;
  /**
   * What a failed call of the Batch API means, as for {@link ProviderClient.classify}.
   * @defaultValue `classifyError`, for errors shaped as the `openai` and `@anthropic-ai/sdk` SDKs throw them
   */
  classify?(err: unknown): RequestError;
  readonly limits: BatchLimits;
  /** Bytes the request adds to the batch body or file. */
  lineBytes(line: BatchLine): number;
  /** Creates a provider batch; `key` is stored with it where the provider allows (OpenAI metadata). */
  create(lines: BatchLine[], key: string, signal?: AbortSignal): Promise<{ id: string; fileId?: string }>;
  /** A batch created with `key` (after a crash between creating it and recording its id), if it can be found. */
  find(key: string, since: number): Promise<string | undefined>;
  /** Where the batch stands. */
  status(id: string): Promise<BatchStatus>;
  /** Every result of an ended batch, in any order. */
  results(id: string): AsyncIterable<BatchResult>;
  /** Cancels the batch (its requests not yet processed end as cancelled). */
  cancel(id: string): Promise<void>;
}

/** The custom id of the request for input row `index`: within Anthropic's `[A-Za-z0-9_-]{1,64}`. */
export function customIdOf(index: number): string {
  return `req-${index}`;
}

export function indexOfCustomId(customId: string): number | undefined {
  const m = /^req-(\d+)$/.exec(customId);
  return m ? Number(m[1]) : undefined;
}

/** One request of a provider batch: its provider body (`ProviderModule.body`), as a synchronous call would send it. */
export function batchLine(index: number, body: Record<string, unknown>): BatchLine {
  return { customId: customIdOf(index), body };
}

/**
 * Splits requests into provider batches within the limits, in order. A single request above the byte limit still
 * gets a batch of its own: the provider rejects it, and it fails alone.
 */
export function splitBatches<T>(items: readonly T[], bytesOf: (item: T) => number, limits: BatchLimits): T[][] {
  const parts: T[][] = [];
  let current: T[] = [];
  let bytes = FRAMING_BYTES;
  for (const item of items) {
    const size = bytesOf(item);
    if (current.length > 0 && (current.length >= limits.requests || bytes + size > limits.bytes)) {
      parts.push(current);
      current = [];
      bytes = FRAMING_BYTES;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) parts.push(current);
  return parts;
}

/** An error of a batch result line: a status and the provider's error body, as a synchronous call would get it. */
export function lineError(status: number, body: unknown): RequestError {
  const error = (body as { error?: { message?: string; type?: string; code?: string | null } } | undefined)?.error;
  const classified = classifyError({
    status,
    message: `${status} ${error?.message ?? 'error'}`,
    code: error?.code ?? null,
    type: error?.type ?? null,
    error: error as never,
  });
  // A single line cannot speak for the account: the batch was accepted, so only this request fails.
  delete classified.fatal;
  return classified;
}

export const EXPIRED: RequestError = {
  type: 'Expired',
  message: 'the provider batch ended before this request was processed',
  retryable: true,
};
export const CANCELED: RequestError = {
  type: 'Canceled',
  message: 'the provider batch was cancelled before this request was processed',
  retryable: true,
};
