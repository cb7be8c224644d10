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
import type {
  CallOptions,
  FinishReason,
  ProviderAnswer,
  ProviderChoice,
  ProviderClient,
  ProviderRequest,
  ToolChoice,
} from './types';
import { checkAnswerBody } from './outcome';
import { wireOptions } from './http-transport';
import type { ProviderModule } from './provider';
import { chatInputTokens, tokensFromLength } from './tokens';
import { anthropicMediaTokens, anthropicMessages } from './anthropic-content';
import { PROBE_PROMPT, probeHeaders } from './limits-probe';
import { contentText } from './content';
import { ANTHROPIC_MAX_IMAGE_BYTES, ANTHROPIC_MAX_REQUEST_BYTES } from '../simulator/anthropic-media';
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
  /** The client of limits probes (see `probeLimits`). */
  private streaming?: Anthropic;

  constructor(
    readonly baseURL: string,
    apiKey: string,
    fetch?: typeof globalThis.fetch
  ) {
    this.client = new Anthropic({ apiKey, baseURL, maxRetries: 0, fetch });
  }

  async probeLimits(model: string, options: CallOptions): Promise<Headers | undefined> {
    // Through the global fetch, which hands over the headers as they come (see OpenAIProvider.probeLimits).
    this.streaming ??= this.client.withOptions({ fetch: globalThis.fetch });
    const { data, response } = await this.streaming.messages
      .create(
        { model, max_tokens: 1, messages: [{ role: 'user', content: PROBE_PROMPT }], stream: true },
        { signal: options.signal, timeout: options.timeoutMs }
      )
      .withResponse();
    return probeHeaders(response, data);
  }

  async call(request: ProviderRequest, options: CallOptions): Promise<ProviderAnswer> {
    const { body, n } = splitN(anthropicBody(request));
    const create = () =>
      this.client.messages
        .create(body as unknown as Anthropic.MessageCreateParamsNonStreaming, {
          signal: options.signal,
          timeout: options.timeoutMs,
          fetchOptions: wireOptions(options.wire),
        })
        .withResponse();
    if (n === 1) {
      const { data, request_id, response } = await create();
      return {
        ...anthropicAnswer(checkAnswerBody(data)),
        requestId: request_id ?? undefined,
        headers: response.headers,
      };
    }
    // Anthropic has no `n`: n calls of the same body, answered together (usage summed).
    const settled = await Promise.allSettled(Array.from({ length: n }, create));
    const answered = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) {
      // The calls that succeeded are paid: they go with the error, so the retry asks only for the others.
      if (answered.length > 0 && failed.reason && typeof failed.reason === 'object') {
        Object.assign(failed.reason, { answered: anthropicAnswers(answered.map((c) => checkAnswerBody(c.data))) });
      }
      throw failed.reason;
    }
    const { request_id, response } = answered[0]!;
    const answer = anthropicAnswers(answered.map((c) => checkAnswerBody(c.data)));
    return { ...answer, requestId: request_id ?? undefined, headers: response.headers };
  }
}

/**
 * `max_tokens` when the curator sets none: the default, plus the thinking budget when extended thinking is on (the
 * API requires `max_tokens` above `budget_tokens`: thinking and answer share it).
 */
function defaultMaxTokens(params: Record<string, unknown>): number {
  return DEFAULT_ANTHROPIC_MAX_TOKENS + (thinkingBudget(params) ?? 0);
}

/**
 * The body of one call and how many calls: `n` above 1 stays in a request's body (so its fingerprint, its cached
 * answer and a batch's lines know it), and goes out as that many calls of the body without it.
 */
export function splitN(body: Record<string, unknown>): { body: Record<string, unknown>; n: number } {
  const { n, ...rest } = body;
  return { body: rest, n: typeof n === 'number' && Number.isInteger(n) && n > 1 ? n : 1 };
}

/** The Messages body of a request: what a call sends, and the `params` of a message batch request. */
export function anthropicBody(request: ProviderRequest): Record<string, unknown> {
  const system = request.messages.filter((m) => m.role === 'system').map((m) => contentText(m.content));
  const body: Record<string, unknown> = {
    max_tokens: defaultMaxTokens(request.params),
    ...request.params,
    model: request.model,
    messages: anthropicMessages(request.messages.filter((m) => m.role !== 'system')),
  };
  if (system.length) body.system = system.join('\n\n');
  if (body.n === 1) delete body.n;
  const tools = (request.tools ?? []).map(({ name, description, parameters }) => ({
    name,
    ...(description !== undefined ? { description } : {}),
    input_schema: parameters,
  }));
  if (tools.length > 0) body.tools = tools;
  if (request.toolChoice !== undefined) body.tool_choice = anthropicToolChoice(request.toolChoice);
  if (request.schema) {
    body.tools = [
      ...tools,
      { name: TOOL_NAME, description: 'Answer with this structure.', input_schema: request.schema },
    ];
    // With tools of the curator's own, the model must use a tool (one of them, or the answer's).
    body.tool_choice = tools.length > 0 ? { type: 'any' } : { type: 'tool', name: TOOL_NAME };
  }
  return body;
}

/** A tool choice in Anthropic's words: `required` is `any`. */
function anthropicToolChoice(choice: ToolChoice): Record<string, unknown> {
  if (typeof choice === 'object') return { type: 'tool', name: choice.name };
  return { type: choice === 'required' ? 'any' : choice };
}

/** A message as one choice: the answer tool's input is the structured answer, other tools' uses are tool calls. */
function anthropicChoice(data: Anthropic.Message): ProviderChoice {
  const raw = data.stop_reason ?? 'end_turn';
  const uses = data.content.filter((block) => block.type === 'tool_use');
  const tool = uses.find((block) => block.name === TOOL_NAME);
  const calls = uses.filter((block) => block.name !== TOOL_NAME);
  const text = data.content
    .filter((block) => block.type === 'text')
    .map((block) => (block as { text: string }).text)
    .join('');
  const thinking = data.content
    .filter((block) => block.type === 'thinking')
    .map((block) => (block as { thinking: string }).thinking)
    .join('\n\n');
  const choice: ProviderChoice = {
    ...(thinking ? { thinking } : {}),
    text: tool ? JSON.stringify(tool.input) : calls.length > 0 && !text ? null : text,
    object: tool ? tool.input : undefined,
    refusal: raw === 'refusal' ? text || 'refused' : undefined,
    finishReason: FINISH[raw] ?? raw,
    rawFinishReason: raw,
  };
  if (calls.length > 0) choice.toolCalls = calls.map((call) => ({ id: call.id, name: call.name, input: call.input }));
  return choice;
}

/** A message as an answer, whether it came from a call or from a batch's results. */
export function anthropicAnswer(data: Anthropic.Message): Omit<ProviderAnswer, 'requestId' | 'headers'> {
  return {
    ...anthropicChoice(data),
    usage: { input: data.usage?.input_tokens ?? 0, output: data.usage?.output_tokens ?? 0 },
    raw: data,
  };
}

/** The messages of the `n` calls of one request as one answer of `n` choices, every call's tokens counted. */
export function anthropicAnswers(messages: Anthropic.Message[]): Omit<ProviderAnswer, 'requestId' | 'headers'> {
  const choices = messages.map(anthropicChoice);
  const usage = { input: 0, output: 0 };
  for (const m of messages) {
    usage.input += m.usage?.input_tokens ?? 0;
    usage.output += m.usage?.output_tokens ?? 0;
  }
  return { ...choices[0]!, choices, usage, raw: messages };
}

/** The custom id of choice `k` of `n` of a request's lines in a message batch (within `[A-Za-z0-9_-]{1,64}`). */
const CHOICE_ID = /^(.*)-c(\d+)of(\d+)$/;

/** The message batch lines of one request: one, or with `n` above 1, one per choice, each without `n`. */
function wireLines(line: BatchLine): { custom_id: string; params: Record<string, unknown> }[] {
  const { body, n } = splitN(line.body);
  if (n === 1) return [{ custom_id: line.customId, params: body }];
  return Array.from({ length: n }, (_, k) => ({ custom_id: `${line.customId}-c${k}of${n}`, params: body }));
}

/**
 * Gathers the `n` result lines of a request into one result once all have come (the results come in any order):
 * one answer of `n` choices, or the first error of its lines.
 */
class ChoiceGroups {
  private readonly open = new Map<string, { results: (BatchResult | undefined)[]; messages: Anthropic.Message[] }>();

  add(result: BatchResult, message: Anthropic.Message | undefined): BatchResult | undefined {
    const m = CHOICE_ID.exec(result.customId);
    if (!m) return result;
    const [, customId, k, n] = m as unknown as [string, string, string, string];
    let group = this.open.get(customId);
    if (!group)
      this.open.set(customId, (group = { results: new Array<undefined>(Number(n)).fill(undefined), messages: [] }));
    group.results[Number(k)] = result;
    if (message) group.messages[Number(k)] = message;
    if (group.results.some((r) => r === undefined)) return undefined;
    this.open.delete(customId);
    const failed = group.results.find((r) => r?.error);
    const messages = group.messages.filter((m) => m !== undefined);
    const answer = messages.length > 0 ? { ...anthropicAnswers(messages), requestId: messages[0]!.id } : undefined;
    // Lines that succeeded beside a failed one are paid: their answer goes with the error, for the retry to keep.
    if (failed) return { customId, error: failed.error, ...(answer ? { answer } : {}) };
    return { customId, answer };
  }
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
    return wireLines(line).reduce((sum, l) => sum + Buffer.byteLength(JSON.stringify(l)) + 1, 0);
  }

  async create(lines: BatchLine[], _key: string, signal?: AbortSignal): Promise<{ id: string }> {
    const batch = await this.client.messages.batches.create(
      {
        requests: lines.flatMap(wireLines).map((l) => ({
          custom_id: l.custom_id,
          params: l.params as unknown as Anthropic.MessageCreateParamsNonStreaming,
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
    const groups = new ChoiceGroups();
    for await (const line of await this.client.messages.batches.results(id)) {
      const r = line.result;
      let result: BatchResult;
      if (r.type === 'succeeded') {
        result = { customId: line.custom_id, answer: { ...anthropicAnswer(r.message), requestId: r.message.id } };
      } else if (r.type === 'errored') {
        const type = r.error?.error?.type ?? 'api_error';
        result = {
          customId: line.custom_id,
          error: lineError(ANTHROPIC_STATUS[type] ?? 500, { error: { type, message: r.error?.error?.message } }),
        };
      } else {
        result = { customId: line.custom_id, error: { ...(r.type === 'expired' ? EXPIRED : CANCELED) } };
      }
      const whole = groups.add(result, r.type === 'succeeded' ? r.message : undefined);
      if (whole) yield whole;
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
  // Its tokenizer is not public, and yields more tokens per character than OpenAI's on most text. With `n`, each of
  // the n calls bills the input.
  estimateInputTokens: (request) =>
    chatInputTokens(request, tokensFromLength, anthropicMediaTokens) * splitN(request.params).n,
  // 5 MB of base64 per image, 32 MB per request (the API measures the base64 text).
  media: { imageBase64Chars: ANTHROPIC_MAX_IMAGE_BYTES, requestBase64Chars: ANTHROPIC_MAX_REQUEST_BYTES },
  // Anthropic counts max_tokens against the output budget up front.
  reservesMaxTokens: true,
  // "Continuously replenished up to your maximum limit, rather than being reset at fixed intervals" (its rate-limit
  // docs): a token bucket.
  limitEnforcement: 'token-bucket',
  batch: {
    limits: ANTHROPIC_BATCH_LIMITS,
    createClient: ({ baseURL, apiKey, limits }) => new AnthropicBatchClient(baseURL, apiKey, limits),
  },
};
