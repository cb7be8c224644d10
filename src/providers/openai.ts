/**
 * The OpenAI provider: chat completions (and any OpenAI-compatible server) and the Batch API (Files and Batches),
 * through the official SDK with its retries off (Temporal retries).
 */
import { DEFAULT_BATCH_COMPLETION_WINDOW } from '../defaults';
import OpenAI, { toFile } from 'openai';
import {
  CANCELED,
  EXPIRED,
  lineError,
  type BatchLimits,
  type BatchLine,
  type BatchResult,
  type BatchStatus,
  type ProviderBatchClient,
} from './batch';
import type { CallOptions, ProviderAnswer, ProviderChoice, ProviderClient, ProviderRequest } from './types';
import type { TokenUsage } from '../types/usage';
import { checkAnswerBody } from './outcome';
import { wireOptions } from './http-transport';
import type { MediaLimits, ProviderModule } from './provider';
import { chatInputTokens, tokensFromLength } from './tokens';
import { openaiMediaTokens, openaiMessages } from './openai-content';
import { PROBE_PROMPT, probeHeaders } from './limits-probe';
import { OPENAI_MAX_IMAGE_BYTES } from '../simulator/openai-media';
import { engineHeaders, type RateLimitHeaderDialect } from './header-dialects';
import type { ProviderPreset, StructuredOutputMethod } from './presets';

/**
 * BPE cost grows faster than linearly on long unbroken runs (a 5 MB string of one character would take minutes), so
 * texts beyond this length are estimated from their length, on the high side.
 */
const TOKENIZE_UP_TO_CHARS = 32_768;

export class OpenAIProvider implements ProviderClient {
  readonly provider = 'openai' as const;
  private readonly client: OpenAI;
  /** The client of limits probes (see `probeLimits`). */
  private streaming?: OpenAI;

  constructor(
    readonly baseURL: string,
    apiKey: string,
    fetch?: typeof globalThis.fetch,
    private readonly dialect: RateLimitHeaderDialect = 'openai',
    private readonly structuredOutput: StructuredOutputMethod = 'json_schema'
  ) {
    // Every retry belongs to Temporal, where it is durable and visible; an SDK retry would be neither.
    this.client = new OpenAI({ apiKey, baseURL, maxRetries: 0, fetch });
  }

  async call(request: ProviderRequest, options: CallOptions): Promise<ProviderAnswer> {
    const body = openaiBody(request, this.structuredOutput);
    const { data, request_id, response } = await this.client.chat.completions
      .create(body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming, {
        signal: options.signal,
        timeout: options.timeoutMs,
        fetchOptions: wireOptions(options.wire),
      })
      .withResponse();
    return {
      ...openaiAnswer(checkAnswerBody(data)),
      requestId: request_id ?? undefined,
      headers: engineHeaders(this.dialect, response.headers),
    };
  }

  async probeLimits(model: string, options: CallOptions): Promise<Headers | undefined> {
    // Through the global fetch: the engine's own reads the whole answer before resolving (http-transport.ts), and a
    // probe wants the headers as they come. One probe per bucket and process: its cost does not matter.
    this.streaming ??= this.client.withOptions({ fetch: globalThis.fetch });
    const { data, response } = await this.streaming.chat.completions
      .create(
        { model, messages: [{ role: 'user', content: PROBE_PROMPT }], stream: true },
        { signal: options.signal, timeout: options.timeoutMs }
      )
      .withResponse();
    const headers = probeHeaders(response, data);
    return headers && engineHeaders(this.dialect, headers);
  }
}

/**
 * The Chat Completions body of a request: what a call sends, and a line of a batch input file carries. A response
 * schema goes as `response_format` of type `json_schema`, or, for servers that only have JSON mode, as type
 * `json_object` with the schema told in a system message (the answer is validated against it either way).
 */
export function openaiBody(
  request: ProviderRequest,
  structuredOutput: StructuredOutputMethod = 'json_schema'
): Record<string, unknown> {
  const messages = openaiMessages(request.messages);
  const body: Record<string, unknown> = { ...request.params, model: request.model, messages };
  if (request.schema && structuredOutput === 'json_schema') {
    // Not strict, as Curator: strict mode rejects common schemas (optional fields, open objects).
    body.response_format = { type: 'json_schema', json_schema: { name: 'output_schema', schema: request.schema } };
  } else if (request.schema && structuredOutput === 'json_object') {
    const instruction = `Answer with one JSON object that matches this JSON Schema: ${JSON.stringify(request.schema)}`;
    body.messages = [{ role: 'system', content: instruction }, ...messages];
    body.response_format = { type: 'json_object' };
  }
  if (request.tools) {
    body.tools = request.tools.map(({ name, description, parameters }) => ({
      type: 'function',
      function: { name, ...(description !== undefined ? { description } : {}), parameters },
    }));
  }
  if (request.toolChoice !== undefined) {
    const choice = request.toolChoice;
    body.tool_choice = typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
  }
  return body;
}

/** One choice of a chat completion, its function calls included. */
function openaiChoice(choice: OpenAI.ChatCompletion.Choice | undefined): ProviderChoice {
  const finish = choice?.finish_reason ?? 'stop';
  // DeepSeek and vLLM (`reasoning_content`), OpenRouter and newer vLLM (`reasoning`) return the reasoning text beside
  // the answer; OpenAI keeps it hidden.
  const message = choice?.message as { reasoning_content?: unknown; reasoning?: unknown } | undefined;
  const thinking = message?.reasoning_content ?? message?.reasoning;
  const mapped: ProviderChoice = {
    ...(typeof thinking === 'string' && thinking ? { thinking } : {}),
    text: choice?.message?.content ?? null,
    refusal: choice?.message?.refusal ?? undefined,
    finishReason: finish,
    rawFinishReason: finish,
  };
  const calls = (choice?.message?.tool_calls ?? []).filter((call) => call.type === 'function');
  if (calls.length > 0) {
    mapped.toolCalls = calls.map((call) => ({
      id: call.id,
      name: call.function.name,
      arguments: call.function.arguments,
    }));
  }
  return mapped;
}

/** A chat completion body as an answer, whether it came from a call or from a batch output file. */
export function openaiAnswer(data: OpenAI.ChatCompletion): Omit<ProviderAnswer, 'requestId' | 'headers'> {
  const choices = [...(data.choices ?? [])].sort((a, b) => a.index - b.index).map(openaiChoice);
  const answer: Omit<ProviderAnswer, 'requestId' | 'headers'> = {
    ...(choices[0] ?? openaiChoice(undefined)),
    usage: openaiUsage(data.usage),
    raw: data,
  };
  if (choices.length > 1) answer.choices = choices;
  return answer;
}

/** Chat Completions usage; reasoning tokens are part of `completion_tokens` and billed with them. */
function openaiUsage(usage: OpenAI.CompletionUsage | undefined): TokenUsage {
  const tokens: TokenUsage = { input: usage?.prompt_tokens ?? 0, output: usage?.completion_tokens ?? 0 };
  const reasoning = usage?.completion_tokens_details?.reasoning_tokens;
  if (reasoning) tokens.reasoning = reasoning;
  return tokens;
}

/** OpenAI: requests and bytes per batch input file (the SDK's docs, 2025). */
export const OPENAI_BATCH_LIMITS = { requests: 50_000, bytes: 200 * 1024 * 1024 };
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

let tokenizer: typeof import('gpt-tokenizer') | undefined;

/**
 * The input tokens of a Chat Completions request, with OpenAI's public tokenizer (close for most open models). Its
 * tables load on the first count: a bucket far from its token limits never asks for one (`inputNeedsCount`).
 */
function estimateInputTokens(request: ProviderRequest): number {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  tokenizer ??= require('gpt-tokenizer') as typeof import('gpt-tokenizer');
  const { countTokens } = tokenizer;
  return chatInputTokens(
    request,
    (text) => (text.length <= TOKENIZE_UP_TO_CHARS ? countTokens(text) : tokensFromLength(text)),
    openaiMediaTokens
  );
}

/** OpenAI's limits: 20 MB per image; files inline only. */
const OPENAI_MEDIA: MediaLimits = { imageBytes: OPENAI_MAX_IMAGE_BYTES, filesByUrl: false };

/**
 * The provider module of an OpenAI-compatible server described by a preset (see `presets.ts`): OpenAI's client
 * and body, with the preset's address, key variable, rate-limit header dialect and structured-output method. No
 * Batch API: the servers' batch endpoints differ from OpenAI's or do not exist.
 */
export function openaiCompatible(preset: ProviderPreset): ProviderModule {
  const dialect = preset.rateLimitHeaders;
  const method = preset.structuredOutput;
  return {
    name: preset.name,
    apiKeyEnv: preset.apiKeyEnv,
    baseURLEnv: preset.baseURLEnv,
    defaultBaseURL: preset.defaultBaseURL,
    createClient: ({ baseURL, apiKey, fetch }) => new OpenAIProvider(baseURL, apiKey, fetch, dialect, method),
    body: (request) => openaiBody(request, method),
    estimateInputTokens,
    media: OPENAI_MEDIA,
  };
}

/** OpenAI, and any server that speaks its Chat Completions API (`OPENAI_BASE_URL`). */
export const openai: ProviderModule = {
  name: 'openai',
  apiKeyEnv: 'OPENAI_API_KEY',
  baseURLEnv: 'OPENAI_BASE_URL',
  defaultBaseURL: 'https://api.openai.com/v1',
  createClient: ({ baseURL, apiKey, fetch }) => new OpenAIProvider(baseURL, apiKey, fetch),
  body: (request) => openaiBody(request),
  // A real tokenizer: OpenAI's is public.
  estimateInputTokens,
  media: OPENAI_MEDIA,
  batch: {
    limits: OPENAI_BATCH_LIMITS,
    createClient: ({ baseURL, apiKey, limits, completionWindow }) =>
      new OpenAIBatchClient(baseURL, apiKey, limits, completionWindow),
  },
};
