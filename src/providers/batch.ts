/**
 * The providers' batch APIs through the official SDKs, with their retries off (Temporal retries): OpenAI Files and
 * Batches, Anthropic Message Batches. Each provider batch carries requests formatted exactly as synchronous calls,
 * and its results become the same answers and classified errors as synchronous calls.
 */
import OpenAI, { toFile } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import type { Curator } from '../curator';
import { resolveBaseURL } from '../storage/fingerprint';
import { anthropicAnswer, anthropicBody } from './anthropic';
import { apiKeyFor } from './index';
import { openaiAnswer, openaiBody } from './openai';
import { classifyError, type RequestError } from './outcome';
import type { ProviderAnswer, ProviderRequest } from './types';
import { DEFAULT_BATCH_COMPLETION_WINDOW } from '../defaults';

/** OpenAI: requests and bytes per batch input file (the SDK's docs, 2025). */
export const OPENAI_BATCH_LIMITS = { requests: 50_000, bytes: 200 * 1024 * 1024 };
/** Anthropic: requests and bytes per message batch. */
export const ANTHROPIC_BATCH_LIMITS = { requests: 100_000, bytes: 256 * 1024 * 1024 };
/** Room kept under the byte limit for the body's framing (JSON brackets, multipart headers). */
const FRAMING_BYTES = 64 * 1024;

export interface BatchLimits {
  requests: number;
  bytes: number;
}

/** One request of a provider batch: its id (`req-<index>`) and the provider's body. */
export interface BatchLine {
  customId: string;
  body: Record<string, unknown>;
}

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

/** One result of a batch: an answer, or why there is none. */
export interface BatchResult {
  customId: string;
  answer?: Omit<ProviderAnswer, 'headers'>;
  error?: RequestError;
}

export interface ProviderBatchClient {
  readonly provider: 'openai' | 'anthropic';
  readonly limits: BatchLimits;
  /** Bytes the request adds to the batch body or file. */
  lineBytes(line: BatchLine): number;
  /** Creates a provider batch; `key` is stored with it where the provider allows (OpenAI metadata). */
  create(lines: BatchLine[], key: string, signal?: AbortSignal): Promise<{ id: string; fileId?: string }>;
  /** A batch created with `key` (after a crash between creating it and recording its id), if it can be found. */
  find(key: string, since: number): Promise<string | undefined>;
  status(id: string): Promise<BatchStatus>;
  results(id: string): AsyncIterable<BatchResult>;
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

/** The provider body of one request, as a synchronous call would send it. */
export function batchLine(provider: 'openai' | 'anthropic', index: number, request: ProviderRequest): BatchLine {
  return { customId: customIdOf(index), body: provider === 'anthropic' ? anthropicBody(request) : openaiBody(request) };
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

/** The limits in effect: the provider's, lowered (never raised) by the curator's settings. */
export function batchLimits(curator: Curator): BatchLimits {
  const base = curator.provider === 'anthropic' ? ANTHROPIC_BATCH_LIMITS : OPENAI_BATCH_LIMITS;
  const b = curator.backend ?? {};
  return {
    requests: Math.max(1, Math.min(base.requests, b.batchMaxRequests ?? base.requests)),
    bytes: Math.max(1, Math.min(base.bytes, b.batchMaxBytes ?? base.bytes)),
  };
}

/** An error of a batch result line: a status and the provider's error body, as a synchronous call would get it. */
function lineError(status: number, body: unknown): RequestError {
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

/** Anthropic error types back to the statuses a synchronous call would have seen. */
const ANTHROPIC_STATUS: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

const EXPIRED: RequestError = {
  type: 'Expired',
  message: 'the provider batch ended before this request was processed',
  retryable: true,
};
const CANCELED: RequestError = {
  type: 'Canceled',
  message: 'the provider batch was cancelled before this request was processed',
  retryable: true,
};

/** Splits a byte stream into lines. */
async function* streamLines(stream: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let rest = '';
  for await (const chunk of stream as AsyncIterable<Uint8Array>) {
    rest += decoder.decode(chunk, { stream: true });
    let nl = rest.indexOf('\n');
    while (nl >= 0) {
      const line = rest.slice(0, nl).trim();
      rest = rest.slice(nl + 1);
      if (line) yield line;
      nl = rest.indexOf('\n');
    }
  }
  rest += decoder.decode();
  if (rest.trim()) yield rest.trim();
}

export class OpenAIBatchClient implements ProviderBatchClient {
  readonly provider = 'openai' as const;
  private readonly client: OpenAI;

  constructor(
    baseURL: string,
    apiKey: string,
    readonly limits: BatchLimits = OPENAI_BATCH_LIMITS,
    private readonly completionWindow = DEFAULT_BATCH_COMPLETION_WINDOW
  ) {
    this.client = new OpenAI({ apiKey, baseURL, maxRetries: 0 });
  }

  private text(line: BatchLine): string {
    return JSON.stringify({ custom_id: line.customId, method: 'POST', url: '/v1/chat/completions', body: line.body });
  }

  lineBytes(line: BatchLine): number {
    return Buffer.byteLength(this.text(line)) + 1;
  }

  async create(lines: BatchLine[], key: string, signal?: AbortSignal): Promise<{ id: string; fileId: string }> {
    const content = Buffer.from(lines.map((l) => this.text(l)).join('\n') + '\n');
    const file = await this.client.files.create(
      { file: await toFile(content, `${key}.jsonl`), purpose: 'batch' },
      { signal }
    );
    const batch = await this.client.batches.create(
      {
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: this.completionWindow as '24h',
        metadata: { temporal_curator: key },
      },
      { signal }
    );
    return { id: batch.id, fileId: file.id };
  }

  async find(key: string, since: number): Promise<string | undefined> {
    // Newest first: stop at batches older than the attempt to create it.
    for await (const batch of this.client.batches.list({ limit: 100 })) {
      if (batch.metadata?.temporal_curator === key) return batch.id;
      if (batch.created_at * 1000 < since - 60_000) return undefined;
    }
    return undefined;
  }

  async status(id: string): Promise<BatchStatus> {
    const b = await this.client.batches.retrieve(id);
    const ended = ['completed', 'failed', 'expired', 'cancelled'].includes(b.status);
    const counts = b.request_counts ?? { total: 0, completed: 0, failed: 0 };
    const status: BatchStatus = {
      ended,
      status: b.status,
      total: counts.total,
      done: counts.completed + counts.failed,
    };
    if (b.status === 'failed') {
      const errors = b.errors?.data ?? [];
      status.error = {
        type: 'BatchFailed',
        message: `OpenAI rejected the batch ${id}: ${
          errors.map((e) => `${e.line ? `line ${e.line}: ` : ''}${e.message ?? e.code}`).join('; ') || 'no reason given'
        }`,
        // Over the enqueued-token limit: it passes once earlier batches finish. Anything else would fail again.
        retryable: errors.some((e) => /limit/i.test(`${e.code ?? ''}`)),
      };
    }
    return status;
  }

  async *results(id: string): AsyncIterable<BatchResult> {
    const b = await this.client.batches.retrieve(id);
    for (const fileId of [b.output_file_id, b.error_file_id]) {
      if (!fileId) continue;
      const response = await this.client.files.content(fileId);
      if (!response.body) continue;
      for await (const text of streamLines(response.body)) {
        const line = JSON.parse(text) as {
          custom_id: string;
          response?: { status_code: number; request_id?: string; body: unknown } | null;
          error?: { code?: string; message?: string } | null;
        };
        const r = line.response;
        if (r && r.status_code === 200) {
          const answer = openaiAnswer(r.body as OpenAI.ChatCompletion);
          yield { customId: line.custom_id, answer: { ...answer, requestId: r.request_id } };
        } else if (r) {
          yield { customId: line.custom_id, error: lineError(r.status_code, r.body) };
        } else {
          const code = line.error?.code ?? '';
          const error =
            code === 'batch_expired'
              ? EXPIRED
              : code === 'batch_cancelled'
                ? CANCELED
                : { type: 'ProviderError' as const, message: `${code}: ${line.error?.message ?? ''}`, retryable: true };
          yield { customId: line.custom_id, error: { ...error } };
        }
      }
    }
  }

  async cancel(id: string): Promise<void> {
    await this.client.batches.cancel(id);
  }
}

export class AnthropicBatchClient implements ProviderBatchClient {
  readonly provider = 'anthropic' as const;
  private readonly client: Anthropic;

  constructor(
    baseURL: string,
    apiKey: string,
    readonly limits: BatchLimits = ANTHROPIC_BATCH_LIMITS
  ) {
    this.client = new Anthropic({ apiKey, baseURL, maxRetries: 0 });
  }

  lineBytes(line: BatchLine): number {
    return Buffer.byteLength(JSON.stringify({ custom_id: line.customId, params: line.body })) + 1;
  }

  async create(lines: BatchLine[], _key: string, signal?: AbortSignal): Promise<{ id: string }> {
    const batch = await this.client.messages.batches.create(
      {
        requests: lines.map((l) => ({
          custom_id: l.customId,
          params: l.body as unknown as Anthropic.MessageCreateParamsNonStreaming,
        })),
      },
      { signal }
    );
    return { id: batch.id };
  }

  /** Message batches carry no metadata to recognise one by, so a batch whose id was not recorded is not found. */
  async find(): Promise<string | undefined> {
    return undefined;
  }

  async status(id: string): Promise<BatchStatus> {
    const b = await this.client.messages.batches.retrieve(id);
    const c = b.request_counts;
    const total = c.processing + c.succeeded + c.errored + c.canceled + c.expired;
    return { ended: b.processing_status === 'ended', status: b.processing_status, total, done: total - c.processing };
  }

  async *results(id: string): AsyncIterable<BatchResult> {
    for await (const line of await this.client.messages.batches.results(id)) {
      const r = line.result;
      if (r.type === 'succeeded') {
        yield { customId: line.custom_id, answer: { ...anthropicAnswer(r.message), requestId: r.message.id } };
      } else if (r.type === 'errored') {
        const type = r.error?.error?.type ?? 'api_error';
        yield {
          customId: line.custom_id,
          error: lineError(ANTHROPIC_STATUS[type] ?? 500, { error: { type, message: r.error?.error?.message } }),
        };
      } else {
        yield { customId: line.custom_id, error: { ...(r.type === 'expired' ? EXPIRED : CANCELED) } };
      }
    }
  }

  async cancel(id: string): Promise<void> {
    await this.client.messages.batches.cancel(id);
  }
}

/** One batch client per provider, base URL, key and limits, shared by the worker's activities. */
export class BatchClientPool {
  private readonly clients = new Map<string, ProviderBatchClient>();

  constructor(readonly env: NodeJS.ProcessEnv = process.env) {}

  get(curator: Curator): ProviderBatchClient {
    const apiKey = apiKeyFor(curator, this.env);
    const baseURL = resolveBaseURL(curator, this.env);
    const limits = batchLimits(curator);
    const window = curator.backend?.batchCompletionWindow ?? DEFAULT_BATCH_COMPLETION_WINDOW;
    const id = JSON.stringify([curator.provider, baseURL, apiKey, limits, window]);
    let client = this.clients.get(id);
    if (!client) {
      client =
        curator.provider === 'anthropic'
          ? new AnthropicBatchClient(baseURL, apiKey, limits)
          : new OpenAIBatchClient(baseURL, apiKey, limits, window);
      this.clients.set(id, client);
    }
    return client;
  }
}
