/**
 * The Anthropic provider: Messages and Message Batches through the official SDK, with its retries off; structured
 * output through a forced tool.
 */
import Anthropic from '@anthropic-ai/sdk';
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
import type { CallOptions, FinishReason, ProviderAnswer, ProviderClient, ProviderRequest } from './types';
import { checkAnswerBody } from './outcome';
import type { ProviderModule } from './provider';
import { chatInputTokens, tokensFromLength } from './tokens';
import { DEFAULT_ANTHROPIC_MAX_TOKENS } from '../defaults';
import { thinkingBudget } from '../limits/estimate';

const TOOL_NAME = 'output_schema';

const FINISH: Record<string, FinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  tool_use: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  refusal: 'content_filter',
};

export class AnthropicProvider implements ProviderClient {
  readonly provider = 'anthropic' as const;
  private readonly client: Anthropic;

  constructor(
    readonly baseURL: string,
    apiKey: string,
    fetch?: typeof globalThis.fetch
  ) {
    this.client = new Anthropic({ apiKey, baseURL, maxRetries: 0, fetch });
  }

  async call(request: ProviderRequest, options: CallOptions): Promise<ProviderAnswer> {
    const { data, request_id, response } = await this.client.messages
      .create(anthropicBody(request) as unknown as Anthropic.MessageCreateParamsNonStreaming, {
        signal: options.signal,
        timeout: options.timeoutMs,
      })
      .withResponse();
    return { ...anthropicAnswer(checkAnswerBody(data)), requestId: request_id ?? undefined, headers: response.headers };
  }
}

/**
 * `max_tokens` when the curator sets none: the default, plus the thinking budget when extended thinking is on (the
 * API requires `max_tokens` above `budget_tokens`: thinking and answer share it).
 */
function defaultMaxTokens(params: Record<string, unknown>): number {
  return DEFAULT_ANTHROPIC_MAX_TOKENS + (thinkingBudget(params) ?? 0);
}

/** The Messages body of a request: what a call sends, and the `params` of a message batch request. */
export function anthropicBody(request: ProviderRequest): Record<string, unknown> {
  const system = request.messages.filter((m) => m.role === 'system').map((m) => m.content);
  const body: Record<string, unknown> = {
    max_tokens: defaultMaxTokens(request.params),
    ...request.params,
    model: request.model,
    messages: request.messages.filter((m) => m.role !== 'system'),
  };
  if (system.length) body.system = system.join('\n\n');
  if (request.schema) {
    body.tools = [{ name: TOOL_NAME, description: 'Answer with this structure.', input_schema: request.schema }];
    body.tool_choice = { type: 'tool', name: TOOL_NAME };
  }
  return body;
}

/** A message as an answer, whether it came from a call or from a batch's results. */
export function anthropicAnswer(data: Anthropic.Message): Omit<ProviderAnswer, 'requestId' | 'headers'> {
  const raw = data.stop_reason ?? 'end_turn';
  const tool = data.content.find((block) => block.type === 'tool_use');
  const text = data.content
    .filter((block) => block.type === 'text')
    .map((block) => (block as { text: string }).text)
    .join('');
  const thinking = data.content
    .filter((block) => block.type === 'thinking')
    .map((block) => (block as { thinking: string }).thinking)
    .join('\n\n');
  return {
    ...(thinking ? { thinking } : {}),
    text: tool ? JSON.stringify((tool as { input: unknown }).input) : text,
    object: tool ? (tool as { input: unknown }).input : undefined,
    refusal: raw === 'refusal' ? text || 'refused' : undefined,
    finishReason: FINISH[raw] ?? raw,
    rawFinishReason: raw,
    usage: { input: data.usage?.input_tokens ?? 0, output: data.usage?.output_tokens ?? 0 },
  };
}

/** Anthropic: requests and bytes per message batch. */
export const ANTHROPIC_BATCH_LIMITS = { requests: 100_000, bytes: 256 * 1024 * 1024 };
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

/** Anthropic (`ANTHROPIC_BASE_URL` for a proxy or a compatible server). */
export const anthropic: ProviderModule = {
  name: 'anthropic',
  apiKeyEnv: 'ANTHROPIC_API_KEY',
  baseURLEnv: 'ANTHROPIC_BASE_URL',
  defaultBaseURL: 'https://api.anthropic.com',
  createClient: ({ baseURL, apiKey, fetch }) => new AnthropicProvider(baseURL, apiKey, fetch),
  body: anthropicBody,
  // Its tokenizer is not public, and yields more tokens per character than OpenAI's on most text.
  estimateInputTokens: (request) => chatInputTokens(request, tokensFromLength),
  // Anthropic counts max_tokens against the output budget up front.
  reservesMaxTokens: true,
  batch: {
    limits: ANTHROPIC_BATCH_LIMITS,
    createClient: ({ baseURL, apiKey, limits }) => new AnthropicBatchClient(baseURL, apiKey, limits),
  },
};
