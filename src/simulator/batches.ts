/**
 * The providers' batch APIs, simulated: OpenAI Files and Batches, and Anthropic Message Batches (see the provider
 * reference, Parts B3 and B6). A batch ends `processingMs` after its creation; its requests are answered then, one by
 * one, through the same answer generation and fault directives as synchronous requests, so one row of a batch can
 * fail while the others succeed. State lives in memory and is computed lazily when a batch is read.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { isRecord, randomId, type JsonReply } from './provider';
import { formatRfc3339 } from './rate-limits';
import type { BatchOptions, SimProvider } from './types';

export const OPENAI_BATCH_MAX_REQUESTS = 50_000;
export const OPENAI_BATCH_MAX_BYTES = 200 * 1024 * 1024;
export const ANTHROPIC_BATCH_MAX_REQUESTS = 100_000;
export const ANTHROPIC_BATCH_MAX_BYTES = 256 * 1024 * 1024;
/** OpenAI's limit on any uploaded file. */
export const OPENAI_FILE_MAX_BYTES = 512 * 1024 * 1024;
const DEFAULT_PROCESSING_MS = 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

const FILE_PURPOSES = ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'];
const OPENAI_ENDPOINTS = [
  '/v1/responses',
  '/v1/chat/completions',
  '/v1/embeddings',
  '/v1/completions',
  '/v1/moderations',
  '/v1/images/generations',
  '/v1/images/edits',
  '/v1/videos',
];

/** How one request inside a batch ended, as the simulator's answer pipeline decided. */
export type LineAnswer = { kind: 'response'; status: number; body: unknown; requestId: string } | { kind: 'expire' };

/** What the batch module needs from the server: its options and the answer of one request. */
export interface BatchHost {
  options(): BatchOptions;
  answer(provider: SimProvider, body: unknown, headers: IncomingHttpHeaders, batchId: string): LineAnswer;
}

/** A reply that is not JSON: file contents and JSON Lines results. */
export interface RawReply {
  status: number;
  raw: string;
  contentType: string;
}

export type BatchReply = JsonReply | RawReply;

export function isRawReply(reply: BatchReply): reply is RawReply {
  return 'raw' in reply;
}

interface StoredFile {
  object: {
    id: string;
    object: 'file';
    bytes: number;
    created_at: number;
    filename: string;
    purpose: string;
    status: 'processed';
    expires_at: number | null;
    status_details: null;
  };
  content: string;
}

interface OpenAIBatch {
  id: string;
  createdMs: number;
  endpoint: string;
  completionWindow: string;
  inputFileId: string;
  metadata: Record<string, string> | null;
  /** Parsed request lines, when the input validated. */
  lines: { customId: string; body: unknown }[];
  headers: IncomingHttpHeaders;
  status: 'validating' | 'failed' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled';
  errors: { code: string; line: number | null; message: string; param: string | null }[] | null;
  cancellingMs?: number;
  endedMs?: number;
  outputFileId: string | null;
  errorFileId: string | null;
  counts: { total: number; completed: number; failed: number };
  usage: { input: number; output: number; reasoning: number };
}

interface AnthropicBatch {
  id: string;
  createdMs: number;
  requests: { customId: string; params: unknown }[];
  headers: IncomingHttpHeaders;
  origin: string;
  status: 'in_progress' | 'canceling' | 'ended';
  cancelMs?: number;
  endedMs?: number;
  results: string | null;
  counts: { processing: number; succeeded: number; errored: number; canceled: number; expired: number };
}

const seconds = (ms: number) => Math.floor(ms / 1000);

function openaiError(status: number, message: string, param: string | null = null, code: string | null = null) {
  return { status, body: { error: { message, type: 'invalid_request_error', param, code } } };
}

function anthropicError(status: number, type: string, message: string): JsonReply {
  return { status, body: { type: 'error', error: { type, message }, request_id: `req_${randomId(24)}` } };
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Whether a method and path belong to the batch APIs (so the server routes them here). */
export function isBatchRoute(path: string): boolean {
  return /^\/v1\/(files|batches|messages\/batches)(\/|$)/.test(path);
}

/** The largest body each batch route accepts, so uploads are not cut at the Messages API's 32 MB. */
export function maxBodyBytes(path: string, options: BatchOptions): number | undefined {
  if (path.startsWith('/v1/files')) return OPENAI_FILE_MAX_BYTES;
  if (path.startsWith('/v1/messages/batches')) return options.anthropicMaxBytes ?? ANTHROPIC_BATCH_MAX_BYTES;
  return undefined;
}

export class BatchStore {
  private readonly files = new Map<string, StoredFile>();
  private readonly openaiBatches = new Map<string, OpenAIBatch>();
  private readonly anthropicBatches = new Map<string, AnthropicBatch>();
  /** Provider batches created since start or reset. */
  created = 0;

  constructor(private readonly host: BatchHost) {}

  reset(): void {
    this.created = 0;
  }

  private get processingMs(): number {
    return Math.max(0, this.host.options().processingMs ?? DEFAULT_PROCESSING_MS);
  }

  /** When a batch created at `createdMs` ends on its own, and whether it expires rather than completes. */
  private endOf(createdMs: number): { at: number; expires: boolean } {
    const expireAfter = this.host.options().expireAfterMs;
    if (expireAfter !== undefined && expireAfter < this.processingMs) {
      return { at: createdMs + Math.max(0, expireAfter), expires: true };
    }
    return { at: createdMs + this.processingMs, expires: false };
  }

  /** Routes a batch API call; the server has authenticated it already. */
  async handle(
    method: string,
    path: string,
    url: URL,
    headers: IncomingHttpHeaders,
    bytes: Buffer,
    origin: string
  ): Promise<BatchReply> {
    const now = Date.now();
    if (path.startsWith('/v1/messages/batches')) return this.anthropic(method, path, url, headers, bytes, origin, now);
    if (path.startsWith('/v1/files')) return this.filesRoute(method, path, headers, bytes, now);
    return this.openaiBatchRoute(method, path, url, headers, bytes, now);
  }

  // ---- OpenAI Files --------------------------------------------------------------------------------------------

  private async filesRoute(
    method: string,
    path: string,
    headers: IncomingHttpHeaders,
    bytes: Buffer,
    now: number
  ): Promise<BatchReply> {
    if (method === 'POST' && path === '/v1/files') return this.upload(headers, bytes, now);
    const match = /^\/v1\/files\/([^/]+)(\/content)?$/.exec(path);
    const file = match ? this.files.get(decodeURIComponent(match[1] ?? '')) : undefined;
    if (match && !file) return openaiError(404, `No such File object: ${match[1]}`, 'id');
    if (match && file) {
      if (method === 'GET' && match[2])
        return { status: 200, raw: file.content, contentType: 'application/octet-stream' };
      if (method === 'GET') return { status: 200, body: file.object };
      if (method === 'DELETE' && !match[2]) {
        this.files.delete(file.object.id);
        return { status: 200, body: { id: file.object.id, object: 'file', deleted: true } };
      }
    }
    return openaiError(404, `Invalid URL (${method} ${path})`);
  }

  private async upload(headers: IncomingHttpHeaders, bytes: Buffer, now: number): Promise<BatchReply> {
    const type = headers['content-type'] ?? '';
    if (!/^multipart\/form-data/i.test(type)) {
      return openaiError(400, 'Invalid Content-Type header (expected multipart/form-data)', 'file');
    }
    let form: FormData;
    try {
      form = await new Response(bytes, { headers: { 'content-type': type } }).formData();
    } catch (err) {
      return openaiError(400, `Could not parse multipart form: ${String(err)}`, 'file');
    }
    const purpose = form.get('purpose');
    const file = form.get('file');
    if (typeof purpose !== 'string' || purpose === '') {
      return openaiError(400, "Missing required parameter: 'purpose'.", 'purpose', 'missing_required_parameter');
    }
    if (!FILE_PURPOSES.includes(purpose)) {
      return openaiError(
        400,
        `'${purpose}' is not one of ${FILE_PURPOSES.map((p) => `'${p}'`).join(', ')} - 'purpose'`,
        'purpose'
      );
    }
    if (file === null || typeof file === 'string') {
      return openaiError(400, "Missing required parameter: 'file'.", 'file', 'missing_required_parameter');
    }
    const filename = (file as File).name || 'upload';
    if (purpose === 'batch' && !filename.endsWith('.jsonl')) {
      return openaiError(400, 'Invalid file format for Batch API. Must be .jsonl', 'file');
    }
    const content = Buffer.from(await file.arrayBuffer()).toString('utf8');
    // Batch input files expire after 30 days by default.
    const expires = purpose === 'batch' ? seconds(now) + 30 * 24 * 3600 : null;
    const stored = this.storeFile(content, filename, purpose, now, expires);
    return { status: 200, body: stored.object };
  }

  private storeOutput(content: string, filename: string, now: number): string {
    return this.storeFile(content, filename, 'batch_output', now, null).object.id;
  }

  /** Keeps a file as the Files API describes it. */
  private storeFile(content: string, filename: string, purpose: string, now: number, expires: number | null) {
    const stored: StoredFile = {
      object: {
        id: `file-${randomId(22)}`,
        object: 'file',
        bytes: Buffer.byteLength(content),
        created_at: seconds(now),
        filename,
        purpose,
        status: 'processed',
        expires_at: expires,
        status_details: null,
      },
      content,
    };
    this.files.set(stored.object.id, stored);
    return stored;
  }

  // ---- OpenAI Batches ------------------------------------------------------------------------------------------

  private openaiBatchRoute(
    method: string,
    path: string,
    url: URL,
    headers: IncomingHttpHeaders,
    bytes: Buffer,
    now: number
  ): BatchReply {
    if (path === '/v1/batches' && method === 'POST') return this.createOpenAI(headers, bytes, now);
    if (path === '/v1/batches' && method === 'GET') {
      const all = [...this.openaiBatches.values()].reverse();
      const after = url.searchParams.get('after');
      const limit = Math.max(1, Math.min(100, Number(url.searchParams.get('limit') ?? 20) || 20));
      const from = after ? all.findIndex((b) => b.id === after) + 1 : 0;
      const page = all.slice(from, from + limit).map((b) => this.openaiObject(b, now));
      return {
        status: 200,
        body: {
          object: 'list',
          data: page,
          first_id: page[0]?.id ?? null,
          last_id: page.at(-1)?.id ?? null,
          has_more: from + limit < all.length,
        },
      };
    }
    const match = /^\/v1\/batches\/([^/]+)(\/cancel)?$/.exec(path);
    const batch = match ? this.openaiBatches.get(decodeURIComponent(match[1] ?? '')) : undefined;
    if (!match || (match[2] && method !== 'POST') || (!match[2] && method !== 'GET')) {
      return openaiError(404, `Invalid URL (${method} ${path})`);
    }
    if (!batch) return openaiError(404, `No batch found with id '${match[1]}'.`, null, 'batch_not_found');
    if (match[2]) {
      this.advanceOpenAI(batch, now);
      if (batch.status !== 'validating' && batch.status !== 'in_progress' && batch.status !== 'finalizing') {
        return openaiError(400, `Cannot cancel a batch with status '${batch.status}'.`);
      }
      batch.status = 'cancelling';
      batch.cancellingMs = now;
      return { status: 200, body: this.openaiObject(batch, now, false) };
    }
    return { status: 200, body: this.openaiObject(batch, now) };
  }

  private createOpenAI(headers: IncomingHttpHeaders, bytes: Buffer, now: number): BatchReply {
    const body = parseJson(bytes.toString('utf8'));
    if (!isRecord(body)) return openaiError(400, 'We could not parse the JSON body of your request.');
    for (const field of ['input_file_id', 'endpoint', 'completion_window']) {
      if (typeof body[field] !== 'string') {
        return openaiError(400, `Missing required parameter: '${field}'.`, field, 'missing_required_parameter');
      }
    }
    const endpoint = body.endpoint as string;
    if (!OPENAI_ENDPOINTS.includes(endpoint)) {
      return openaiError(
        400,
        `Invalid value: '${endpoint}'. Supported values are: ${OPENAI_ENDPOINTS.join(', ')}.`,
        'endpoint'
      );
    }
    if (body.completion_window !== '24h') {
      return openaiError(
        400,
        `Invalid value: '${String(body.completion_window)}'. Supported values are: '24h'.`,
        'completion_window',
        'invalid_value'
      );
    }
    const file = this.files.get(body.input_file_id as string);
    if (!file) return openaiError(400, `No such File object: ${String(body.input_file_id)}`, 'input_file_id');
    if (file.object.purpose !== 'batch') {
      return openaiError(
        400,
        `File ${file.object.id} has purpose '${file.object.purpose}', not 'batch'.`,
        'input_file_id'
      );
    }
    const metadata = isRecord(body.metadata) ? (body.metadata as Record<string, string>) : null;
    const batch: OpenAIBatch = {
      id: `batch_${randomId(32)}`,
      createdMs: now,
      endpoint,
      completionWindow: '24h',
      inputFileId: file.object.id,
      metadata,
      lines: [],
      headers,
      status: 'validating',
      errors: null,
      outputFileId: null,
      errorFileId: null,
      counts: { total: 0, completed: 0, failed: 0 },
      usage: { input: 0, output: 0, reasoning: 0 },
    };
    const errors = this.validateInput(file, endpoint, batch.lines);
    if (errors.length > 0) {
      batch.status = 'failed';
      batch.errors = errors;
      batch.endedMs = now;
      batch.lines.length = 0;
    } else {
      batch.counts.total = batch.lines.length;
    }
    this.openaiBatches.set(batch.id, batch);
    this.created++;
    return { status: 200, body: this.openaiObject(batch, now, false) };
  }

  /** The input file's lines, checked as OpenAI does at validation; a non-empty result fails the batch. */
  private validateInput(
    file: StoredFile,
    endpoint: string,
    out: OpenAIBatch['lines']
  ): NonNullable<OpenAIBatch['errors']> {
    const options = this.host.options();
    const maxBytes = options.openaiMaxBytes ?? OPENAI_BATCH_MAX_BYTES;
    const maxRequests = options.openaiMaxRequests ?? OPENAI_BATCH_MAX_REQUESTS;
    if (file.object.bytes > maxBytes) {
      return [
        {
          code: 'too_large',
          line: null,
          message: `The input file is ${file.object.bytes} bytes; the limit is ${maxBytes} bytes per batch.`,
          param: null,
        },
      ];
    }
    const errors: NonNullable<OpenAIBatch['errors']> = [];
    const ids = new Set<string>();
    const texts = file.content.split('\n');
    if (texts.at(-1) === '') texts.pop();
    if (texts.length > maxRequests) {
      return [
        {
          code: 'too_many_requests',
          line: null,
          message: `The input file has ${texts.length} requests; the limit is ${maxRequests} requests per batch.`,
          param: null,
        },
      ];
    }
    if (texts.length === 0)
      return [{ code: 'empty_file', line: null, message: 'The input file is empty.', param: null }];
    texts.forEach((text, k) => {
      const line = k + 1;
      const value = parseJson(text);
      const fail = (code: string, message: string, param: string | null = null) =>
        errors.push({ code, line, message, param });
      if (!isRecord(value)) return fail('invalid_json_line', 'This line is not parseable as valid JSON.');
      if (typeof value.custom_id !== 'string' || value.custom_id === '') {
        return fail('missing_required_parameter', "Missing required parameter: 'custom_id'.", 'custom_id');
      }
      if (ids.has(value.custom_id)) {
        return fail(
          'duplicate_custom_id',
          `The custom_id for this request is a duplicate of another request.`,
          'custom_id'
        );
      }
      ids.add(value.custom_id);
      if (value.method !== 'POST')
        return fail('invalid_method', "Invalid value for 'method': must be 'POST'.", 'method');
      if (value.url !== endpoint) {
        return fail(
          'mismatched_endpoint',
          `The URL provided for this request does not match the batch endpoint.`,
          'url'
        );
      }
      if (!isRecord(value.body))
        return fail('missing_required_parameter', "Missing required parameter: 'body'.", 'body');
      out.push({ customId: value.custom_id, body: value.body });
    });
    return errors;
  }

  /** Moves a batch along its lifecycle to where it is at `now`, answering its requests when it ends. */
  private advanceOpenAI(batch: OpenAIBatch, now: number): void {
    if (batch.status === 'validating' || batch.status === 'in_progress' || batch.status === 'finalizing') {
      const end = this.endOf(batch.createdMs);
      if (now >= end.at) this.finishOpenAI(batch, end.expires ? 'expired' : 'completed', end.at);
      else batch.status = 'in_progress';
    } else if (batch.status === 'cancelling') {
      this.finishOpenAI(batch, 'cancelled', now);
    }
  }

  private finishOpenAI(batch: OpenAIBatch, status: 'completed' | 'expired' | 'cancelled', at: number): void {
    const output: string[] = [];
    const errors: string[] = [];
    const lost = (customId: string, code: string, message: string) =>
      errors.push(
        JSON.stringify({
          id: `batch_req_${randomId(32)}`,
          custom_id: customId,
          response: null,
          error: { code, message },
        })
      );
    for (const line of batch.lines) {
      if (status === 'cancelled') {
        lost(line.customId, 'batch_cancelled', 'This request was not executed because the batch was cancelled.');
        continue;
      }
      const answer =
        status === 'expired'
          ? ({ kind: 'expire' } as const)
          : this.host.answer('openai', line.body, batch.headers, batch.id);
      if (answer.kind === 'expire') {
        lost(
          line.customId,
          'batch_expired',
          'This request could not be executed before the completion window expired.'
        );
        continue;
      }
      const record = JSON.stringify({
        id: `batch_req_${randomId(32)}`,
        custom_id: line.customId,
        response: { status_code: answer.status, request_id: answer.requestId, body: answer.body },
        error: null,
      });
      if (answer.status === 200) {
        output.push(record);
        const usage = isRecord(answer.body) && isRecord(answer.body.usage) ? answer.body.usage : {};
        batch.usage.input += Number(usage.prompt_tokens ?? 0);
        batch.usage.output += Number(usage.completion_tokens ?? 0);
        const details = isRecord(usage.completion_tokens_details) ? usage.completion_tokens_details : {};
        batch.usage.reasoning += Number(details.reasoning_tokens ?? 0);
      } else errors.push(record);
    }
    if (this.host.options().shuffleResults) {
      shuffle(output);
      shuffle(errors);
    }
    batch.counts = { total: batch.lines.length, completed: output.length, failed: errors.length };
    batch.outputFileId = output.length
      ? this.storeOutput(output.join('\n') + '\n', `${batch.id}_output.jsonl`, at)
      : null;
    batch.errorFileId = errors.length
      ? this.storeOutput(errors.join('\n') + '\n', `${batch.id}_error.jsonl`, at)
      : null;
    batch.status = status;
    batch.endedMs = at;
  }

  /** The Batch object; `advance` false shows the state just set (a cancel answers `cancelling`). */
  private openaiObject(batch: OpenAIBatch, now: number, advance = true): Record<string, unknown> {
    if (advance) this.advanceOpenAI(batch, now);
    const created = seconds(batch.createdMs);
    const ended = batch.endedMs === undefined ? null : seconds(batch.endedMs);
    const is = (s: OpenAIBatch['status']) => batch.status === s;
    return {
      id: batch.id,
      object: 'batch',
      endpoint: batch.endpoint,
      model: modelOf(batch.lines[0]?.body),
      errors: batch.errors ? { object: 'list', data: batch.errors } : null,
      input_file_id: batch.inputFileId,
      completion_window: batch.completionWindow,
      status: batch.status,
      output_file_id: batch.outputFileId,
      error_file_id: batch.errorFileId,
      created_at: created,
      in_progress_at: is('validating') || is('failed') ? null : created,
      expires_at: created + DAY_MS / 1000,
      finalizing_at: is('completed') || is('expired') ? ended : null,
      completed_at: is('completed') ? ended : null,
      failed_at: is('failed') ? ended : null,
      expired_at: is('expired') ? ended : null,
      cancelling_at: batch.cancellingMs === undefined ? null : seconds(batch.cancellingMs),
      cancelled_at: is('cancelled') ? ended : null,
      request_counts: batch.counts,
      usage: {
        input_tokens: batch.usage.input,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: batch.usage.output,
        output_tokens_details: { reasoning_tokens: batch.usage.reasoning },
        total_tokens: batch.usage.input + batch.usage.output,
      },
      metadata: batch.metadata,
    };
  }

  // ---- Anthropic Message Batches -------------------------------------------------------------------------------

  private anthropic(
    method: string,
    path: string,
    url: URL,
    headers: IncomingHttpHeaders,
    bytes: Buffer,
    origin: string,
    now: number
  ): BatchReply {
    if ((headers['anthropic-version'] ?? '') === '') {
      return anthropicError(400, 'invalid_request_error', 'anthropic-version: header is required');
    }
    if (path === '/v1/messages/batches' && method === 'POST') return this.createAnthropic(headers, bytes, origin, now);
    if (path === '/v1/messages/batches' && method === 'GET') {
      const all = [...this.anthropicBatches.values()].reverse();
      const limit = Math.max(1, Math.min(1000, Number(url.searchParams.get('limit') ?? 20) || 20));
      const after = url.searchParams.get('after_id');
      const before = url.searchParams.get('before_id');
      let from = 0;
      let to = all.length;
      if (after) from = all.findIndex((b) => b.id === after) + 1;
      if (before)
        to = Math.max(
          0,
          all.findIndex((b) => b.id === before)
        );
      const page = before ? all.slice(Math.max(from, to - limit), to) : all.slice(from, from + limit);
      const data = page.map((b) => this.anthropicObject(b, now));
      return {
        status: 200,
        body: {
          data,
          has_more: before ? to - limit > from : from + limit < to,
          first_id: data[0]?.id ?? null,
          last_id: data.at(-1)?.id ?? null,
        },
      };
    }
    const match = /^\/v1\/messages\/batches\/([^/]+)(\/cancel|\/results)?$/.exec(path);
    const batch = match ? this.anthropicBatches.get(decodeURIComponent(match[1] ?? '')) : undefined;
    if (!match) return anthropicError(404, 'not_found_error', `Not found: ${method} ${path}`);
    if (!batch) return anthropicError(404, 'not_found_error', `No message batch found with id ${match[1]}.`);
    const action = match[2];
    if (action === '/cancel' && method === 'POST') {
      this.advanceAnthropic(batch, now);
      if (batch.status === 'in_progress') {
        batch.status = 'canceling';
        batch.cancelMs = now;
      }
      return { status: 200, body: this.anthropicObject(batch, now, false) };
    }
    if (action === '/results' && method === 'GET') {
      this.advanceAnthropic(batch, now);
      if (batch.status !== 'ended' || batch.results === null) {
        return anthropicError(
          400,
          'invalid_request_error',
          `Batch ${batch.id} has not finished processing; its results are not yet available.`
        );
      }
      return { status: 200, raw: batch.results, contentType: 'application/binary' };
    }
    if (action === undefined && method === 'GET') return { status: 200, body: this.anthropicObject(batch, now) };
    if (action === undefined && method === 'DELETE') {
      this.advanceAnthropic(batch, now);
      if (batch.status !== 'ended') {
        return anthropicError(
          400,
          'invalid_request_error',
          `Batch ${batch.id} cannot be deleted while it is processing; cancel it first.`
        );
      }
      this.anthropicBatches.delete(batch.id);
      return { status: 200, body: { id: batch.id, type: 'message_batch_deleted' } };
    }
    return anthropicError(404, 'not_found_error', `Not found: ${method} ${path}`);
  }

  private createAnthropic(headers: IncomingHttpHeaders, bytes: Buffer, origin: string, now: number): BatchReply {
    const options = this.host.options();
    const maxRequests = options.anthropicMaxRequests ?? ANTHROPIC_BATCH_MAX_REQUESTS;
    const body = parseJson(bytes.toString('utf8'));
    const invalid = (message: string) => anthropicError(400, 'invalid_request_error', message);
    if (!isRecord(body)) return invalid('There was an error parsing the body of your request.');
    if (!Array.isArray(body.requests)) return invalid('requests: Field required');
    if (body.requests.length === 0)
      return invalid('requests: List should have at least 1 item after validation, not 0');
    if (body.requests.length > maxRequests) {
      return invalid(
        `requests: List should have at most ${maxRequests} items after validation, not ${body.requests.length}`
      );
    }
    const ids = new Set<string>();
    const requests: AnthropicBatch['requests'] = [];
    for (const [k, request] of body.requests.entries()) {
      if (!isRecord(request)) return invalid(`requests.${k}: Input should be a valid dictionary`);
      const id = request.custom_id;
      if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
        return invalid(`requests.${k}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'`);
      }
      if (ids.has(id)) return invalid(`Duplicate custom_id '${id}': custom_id values must be unique within a batch.`);
      ids.add(id);
      const params = request.params;
      if (!isRecord(params)) return invalid(`requests.${k}.params: Field required`);
      if (params.stream === true) return invalid(`requests.${k}.params.stream: Streaming is not supported in batches.`);
      if (params.max_tokens === 0)
        return invalid(`requests.${k}.params.max_tokens: max_tokens must be at least 1 in batches.`);
      requests.push({ customId: id, params });
    }
    const batch: AnthropicBatch = {
      id: `msgbatch_01${randomId(22)}`,
      createdMs: now,
      requests,
      headers,
      origin,
      status: 'in_progress',
      results: null,
      counts: { processing: requests.length, succeeded: 0, errored: 0, canceled: 0, expired: 0 },
    };
    this.anthropicBatches.set(batch.id, batch);
    this.created++;
    return { status: 200, body: this.anthropicObject(batch, now, false) };
  }

  private advanceAnthropic(batch: AnthropicBatch, now: number): void {
    if (batch.status === 'in_progress') {
      const end = this.endOf(batch.createdMs);
      if (now >= end.at) this.finishAnthropic(batch, end.expires ? 'expired' : 'processed', end.at);
    } else if (batch.status === 'canceling') {
      this.finishAnthropic(batch, 'canceled', now);
    }
  }

  private finishAnthropic(batch: AnthropicBatch, how: 'processed' | 'expired' | 'canceled', at: number): void {
    const lines: string[] = [];
    const counts = { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 };
    for (const request of batch.requests) {
      let result: Record<string, unknown>;
      if (how === 'canceled') result = { type: 'canceled' };
      else if (how === 'expired') result = { type: 'expired' };
      else {
        const answer = this.host.answer('anthropic', request.params, batch.headers, batch.id);
        if (answer.kind === 'expire') result = { type: 'expired' };
        else if (answer.status === 200) {
          const message = answer.body as Record<string, unknown>;
          if (isRecord(message.usage)) message.usage.service_tier = 'batch';
          result = { type: 'succeeded', message };
        } else result = { type: 'errored', error: answer.body };
      }
      counts[result.type as 'succeeded' | 'errored' | 'canceled' | 'expired']++;
      lines.push(JSON.stringify({ custom_id: request.customId, result }));
    }
    if (this.host.options().shuffleResults) shuffle(lines);
    batch.counts = counts;
    batch.results = lines.join('\n') + '\n';
    batch.status = 'ended';
    batch.endedMs = at;
  }

  private anthropicObject(batch: AnthropicBatch, now: number, advance = true): Record<string, unknown> {
    if (advance) this.advanceAnthropic(batch, now);
    return {
      id: batch.id,
      type: 'message_batch',
      processing_status: batch.status,
      request_counts: batch.counts,
      created_at: formatRfc3339(batch.createdMs),
      expires_at: formatRfc3339(batch.createdMs + DAY_MS),
      ended_at: batch.endedMs === undefined ? null : formatRfc3339(batch.endedMs),
      cancel_initiated_at: batch.cancelMs === undefined ? null : formatRfc3339(batch.cancelMs),
      archived_at: null,
      results_url: batch.status === 'ended' ? `${batch.origin}/v1/messages/batches/${batch.id}/results` : null,
    };
  }
}

function modelOf(body: unknown): string | null {
  return isRecord(body) && typeof body.model === 'string' ? body.model : null;
}
