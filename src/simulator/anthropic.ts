/**
 * Anthropic Messages wire format: bodies, errors and headers as `api.anthropic.com` sends them (see the provider
 * reference, Part B4).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { breakSchemaValue, generateFromSchema, generateText, Rng, truncateJson } from './answers';
import { mapFinishReason } from './faults';
import {
  applyStop,
  faultHeaders,
  headerValue,
  isRecord,
  randomId,
  retryHeaders,
  type AnswerFault,
  type JsonReply,
  type Body,
  type ProviderAdapter,
  type RequestContext,
} from './provider';
import { formatRfc3339, type Dimension, type DimensionState, type Rejection, type Snapshot } from './rate-limits';
import { charsForTokens, contentText, promptTokens, textTokens } from './tokens';
import { anthropicMediaError, anthropicPartTokens } from './anthropic-media';
import { thinkingBlock } from './reasoning';
import { anthropicStreamEvents } from './streaming';

/** One organisation id per process, like a real account. */
const ORGANIZATION_ID = randomUUID();

function error(
  status: number,
  type: string,
  message: string,
  ctx: RequestContext,
  headers?: Record<string, string>
): JsonReply {
  return { status, body: { type: 'error', error: { type, message }, request_id: ctx.requestId }, headers };
}

/** The error `type` Anthropic uses for a status (docs.claude.com/en/api/errors). */
function errorType(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 504:
      return 'timeout_error';
    case 529:
      return 'overloaded_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

/** The message of a 429 sent with budget left (an acceleration limit or a congested gateway). */
const CONGESTION_MESSAGE =
  'This request was rate limited because of a sharp increase in usage across the API. Please retry after the ' +
  'retry-after delay.';

function defaultMessage(status: number): string {
  switch (status) {
    case 401:
      return 'invalid x-api-key';
    case 403:
      return 'Your API key does not have permission to use the specified resource.';
    case 404:
      return 'The requested resource could not be found.';
    case 413:
      return 'Request exceeds the maximum allowed number of bytes.';
    case 429:
      return (
        'This request would exceed the rate limit for your organization of requests per minute. For details, refer ' +
        'to: https://docs.anthropic.com/en/api/rate-limits. You can see the response headers for current usage. ' +
        'Please reduce the prompt length or the maximum tokens requested, or try again later.'
      );
    case 500:
      return 'Internal server error';
    case 504:
      return 'Request timed out';
    case 529:
      return 'Overloaded';
    default:
      return status >= 500 ? 'Internal server error' : `Simulated error ${status}.`;
  }
}

function systemText(system: unknown): string {
  return contentText(system);
}

function messagesOf(body: Body): Body[] {
  return Array.isArray(body.messages) ? body.messages.filter(isRecord) : [];
}

/** The JSON Schema of native structured output (`output_config.format`, or the older beta `output_format`). */
function outputSchema(body: Body): unknown {
  const config = isRecord(body.output_config) ? body.output_config.format : undefined;
  const format = isRecord(config) ? config : body.output_format;
  if (!isRecord(format) || format.type !== 'json_schema') return undefined;
  return format.schema ?? {};
}

function toolsOf(body: Body): Body[] {
  return Array.isArray(body.tools) ? body.tools.filter(isRecord) : [];
}

/** The tool `tool_choice` forces (`tool` by name, or `any`), if it forces one. */
function forcedTool(body: Body): Body | undefined {
  const tools = toolsOf(body);
  const choice = body.tool_choice;
  if (!isRecord(choice)) return undefined;
  if (choice.type === 'any') return tools[0];
  if (choice.type === 'tool') return tools.find((t) => t.name === choice.name);
  return undefined;
}

/**
 * The tool the answer uses: the forced one; with `auto` (or no choice) one of the declared tools, as the simulator
 * always uses a tool when it may; none for `none`.
 */
function chosenTool(body: Body, rng: Rng): Body | undefined {
  const forced = forcedTool(body);
  if (forced !== undefined) return forced;
  const tools = toolsOf(body);
  const choice = body.tool_choice;
  if (tools.length === 0 || (isRecord(choice) && choice.type === 'none')) return undefined;
  return tools.length === 1 ? tools[0] : rng.pick(tools);
}

/** The thinking budget of `thinking: {type: 'enabled'}` (or half the limit for `adaptive`), if thinking is on. */
function thinkingBudget(body: Body): number | undefined {
  const thinking = body.thinking;
  if (!isRecord(thinking)) return undefined;
  if (thinking.type === 'enabled' && typeof thinking.budget_tokens === 'number') return thinking.budget_tokens;
  if (thinking.type === 'adaptive' && typeof body.max_tokens === 'number') return Math.floor(body.max_tokens / 2);
  return undefined;
}

/** Input tokens as billed, returned by `count_tokens` and debited from the input-token window. */
export function anthropicInputTokens(body: Body): number {
  const contents: unknown[] = messagesOf(body).map((m) => m.content);
  if (body.system !== undefined && body.system !== null && systemText(body.system) !== '') {
    contents.unshift(body.system);
  }
  return promptTokens(contents, [body.tools, outputSchema(body)], anthropicPartTokens);
}

interface Answer {
  content: Body[];
  stopReason: string;
  stopSequence: string | null;
  stopDetails: Body | null;
  tokens: number;
}

/** The answer: a `thinking` block first when thinking is on, then the visible answer in what is left of `max_tokens`. */
function answer(body: Body, ctx: RequestContext, fault: AnswerFault | undefined): Answer {
  const seedParts = [
    ctx.seed,
    String(body.model),
    anthropic.promptText(body),
    // `stop_sequences` and `max_tokens` only cut the answer, so they stay out of the seed: a cut answer is a prefix.
    JSON.stringify([body.temperature, body.top_p, body.top_k]),
    '0',
  ];
  const maxTokens = typeof body.max_tokens === 'number' ? body.max_tokens : Infinity;
  const budget = thinkingBudget(body);
  if (budget === undefined) return visibleAnswer(body, new Rng(...seedParts), maxTokens, fault);
  const thinking = thinkingBlock(budget, seedParts);
  const thinkingTokens = textTokens(thinking.thinking);
  const visible = visibleAnswer(body, new Rng(...seedParts), maxTokens - thinkingTokens, fault);
  return { ...visible, content: [thinking, ...visible.content], tokens: visible.tokens + thinkingTokens };
}

function visibleAnswer(body: Body, rng: Rng, maxTokens: number, fault: AnswerFault | undefined): Answer {
  const refusalDetails = (explanation: string | null): Body => ({ type: 'refusal', category: null, explanation });

  if (fault?.kind === 'refusal') {
    const text = fault.text ?? "I can't help with that request.";
    return {
      content: [{ type: 'text', text }],
      stopReason: 'refusal',
      stopSequence: null,
      stopDetails: refusalDetails(text),
      tokens: textTokens(text),
    };
  }

  const tool = chosenTool(body, rng);
  if (tool !== undefined) {
    let input = generateFromSchema(tool.input_schema ?? { type: 'object' }, rng);
    if (fault?.kind === 'invalid-json') input = breakSchemaValue(input);
    let tokens = textTokens(JSON.stringify(input));
    let stopReason = 'tool_use';
    // A real truncated tool call arrives with whatever input was complete, typically nothing.
    if (tokens > maxTokens) {
      input = {};
      tokens = maxTokens;
      stopReason = 'max_tokens';
    }
    if (fault?.kind === 'finish') stopReason = mapFinishReason(fault.reason, 'anthropic');
    return {
      content: [{ type: 'tool_use', id: `toolu_01${randomId(22)}`, name: String(tool.name), input }],
      stopReason,
      stopSequence: null,
      stopDetails: stopReason === 'refusal' ? refusalDetails(null) : null,
      tokens,
    };
  }

  const schema = outputSchema(body);
  let text: string;
  let stopReason = 'end_turn';
  let stopSequence: string | null = null;
  const breakSchema = fault?.kind === 'invalid-json' && fault.breaks === 'schema' && schema !== undefined;
  if (schema !== undefined) {
    const value = generateFromSchema(schema, rng);
    text = JSON.stringify(breakSchema ? breakSchemaValue(value) : value);
  } else {
    const stopped = applyStop(generateText(rng), body.stop_sequences);
    text = stopped.text;
    if (stopped.matched !== undefined) {
      stopReason = 'stop_sequence';
      stopSequence = stopped.matched;
    }
  }
  if (fault?.kind === 'invalid-json' && !breakSchema)
    text = truncateJson(text.startsWith('{') ? text : JSON.stringify({ answer: text }));
  if (textTokens(text) > maxTokens) {
    text = text.slice(0, charsForTokens(maxTokens));
    stopReason = 'max_tokens';
    stopSequence = null;
  }
  if (fault?.kind === 'finish') {
    stopReason = mapFinishReason(fault.reason, 'anthropic');
    if (stopReason !== 'stop_sequence') stopSequence = null;
    if (stopReason === 'max_tokens') text = text.slice(0, Math.ceil(text.length / 2));
  }
  return {
    content: [{ type: 'text', text }],
    stopReason,
    stopSequence,
    stopDetails: stopReason === 'refusal' ? refusalDetails(null) : null,
    tokens: textTokens(text),
  };
}

/** Anthropic reports token headers "rounded to the nearest thousand"; never above the limit. */
function roundThousands(remaining: number, limit: number): number {
  return Math.min(limit, Math.round(remaining / 1000) * 1000);
}

const DIMENSION_NAMES: Record<Dimension, string> = {
  requests: 'requests',
  tokens: 'tokens',
  inputTokens: 'input-tokens',
  outputTokens: 'output-tokens',
};

/** The `tokens` headers show "the most restrictive limit currently in effect" among the enforced token limits. */
function mostRestrictive(snapshot: Snapshot): DimensionState {
  const enforced = (['tokens', 'inputTokens', 'outputTokens'] as const)
    .map((d) => snapshot[d])
    .filter((state) => state.enforced);
  if (enforced.length === 0) return snapshot.tokens;
  return enforced.reduce((a, b) => (b.remaining < a.remaining ? b : a));
}

function rateLimitHeaders(snapshot: Snapshot, now: number): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const d of ['requests', 'tokens', 'inputTokens', 'outputTokens'] as const) {
    const state = d === 'tokens' ? mostRestrictive(snapshot) : snapshot[d];
    const remaining = d === 'requests' ? state.remaining : roundThousands(state.remaining, state.limit);
    const prefix = `anthropic-ratelimit-${DIMENSION_NAMES[d]}`;
    headers[`${prefix}-limit`] = String(state.limit);
    headers[`${prefix}-remaining`] = String(remaining);
    headers[`${prefix}-reset`] = formatRfc3339(now + state.resetMs);
  }
  return headers;
}

export const anthropic: ProviderAdapter = {
  provider: 'anthropic',

  newRequestId: () => `req_011C${randomId(20)}`,

  authenticate(headers, validApiKeys, ctx) {
    // @anthropic-ai/sdk 1.x sends `apiKey` as `Authorization: Bearer`; older SDKs and raw HTTP use `x-api-key`.
    const bearer = /^Bearer\s+(.*)$/i.exec(headerValue(headers, 'authorization') ?? '')?.[1]?.trim();
    const key = headerValue(headers, 'x-api-key')?.trim() || bearer || '';
    if (key === '') return error(401, 'authentication_error', 'x-api-key header is required', ctx);
    if (validApiKeys !== undefined && !validApiKeys.includes(key)) {
      return error(401, 'authentication_error', 'invalid x-api-key', ctx);
    }
    return undefined;
  },

  unparsable: (ctx) => error(400, 'invalid_request_error', 'There was an error parsing the body of your request.', ctx),

  validate: (body, headers, ctx) => validateCommon(body, headers, ctx) ?? validateCreate(body, ctx),

  promptText(body) {
    const parts = messagesOf(body).map((m) => contentText(m.content));
    const system = systemText(body.system);
    if (system !== '') parts.unshift(system);
    return parts.join('\n');
  },

  generate(body, ctx, fault) {
    const a = answer(body, ctx, fault);
    const input = anthropicInputTokens(body);
    return {
      body: {
        id: `msg_01${randomId(22)}`,
        type: 'message',
        role: 'assistant',
        model: body.model,
        content: a.content,
        stop_reason: a.stopReason,
        stop_sequence: a.stopSequence,
        stop_details: a.stopDetails,
        usage: {
          input_tokens: input,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 0,
          cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
          output_tokens: a.tokens,
          service_tier: 'standard',
        },
      },
      cost: { input, output: a.tokens },
    };
  },

  streamEvents: (generated) => anthropicStreamEvents(generated),

  statusError(fault, ctx) {
    const type = fault.type ?? errorType(fault.status);
    const headers = faultHeaders(fault);
    if (fault.status === 429 && fault.budgetLeft === true) {
      return error(429, type, fault.message ?? CONGESTION_MESSAGE, ctx, headers);
    }
    // The default 429 message says the request limit is used up, so the headers say so too.
    if (fault.status === 429) headers['anthropic-ratelimit-requests-remaining'] = '0';
    return error(fault.status, type, fault.message ?? defaultMessage(fault.status), ctx, headers);
  },

  rateLimited(rejection: Rejection, ctx) {
    const unit: Record<Dimension, string> = {
      requests: 'requests',
      tokens: 'tokens',
      inputTokens: 'input tokens',
      outputTokens: 'output tokens',
    };
    const message =
      rejection.retryAfterMs === undefined
        ? `This request would exceed your organization's rate limit of ${rejection.limit.toLocaleString('en-US')} ` +
          `${unit[rejection.dimension]} per minute (requested ${rejection.requested.toLocaleString('en-US')}). ` +
          'Please reduce the prompt length or the maximum tokens requested.'
        : `This request would exceed the rate limit for your organization (${ORGANIZATION_ID}) of ` +
          `${rejection.limit.toLocaleString('en-US')} ${unit[rejection.dimension]} per minute. For details, refer to: ` +
          'https://docs.anthropic.com/en/api/rate-limits. You can see the response headers for current usage. ' +
          'Please reduce the prompt length or the maximum tokens requested, or try again later. You may also contact ' +
          'sales at https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase.';
    return error(429, 'rate_limit_error', message, ctx, retryHeaders(rejection.retryAfterMs, false));
  },

  plainError: (status, message, ctx) => error(status, errorType(status), message, ctx),

  commonHeaders(ctx, snapshot) {
    const headers: Record<string, string> = {
      'request-id': ctx.requestId,
      'anthropic-organization-id': ORGANIZATION_ID,
    };
    if (snapshot !== undefined) Object.assign(headers, rateLimitHeaders(snapshot, Date.now()));
    return headers;
  },
};

/** Checks shared by `/v1/messages` and `/v1/messages/count_tokens`. */
function validateCommon(body: Body, headers: IncomingHttpHeaders, ctx: RequestContext): JsonReply | undefined {
  if ((headerValue(headers, 'anthropic-version') ?? '') === '') {
    return error(400, 'invalid_request_error', 'anthropic-version: header is required', ctx);
  }
  if (typeof body.model !== 'string' || body.model === '') {
    return error(400, 'invalid_request_error', 'model: Field required', ctx);
  }
  if (!Array.isArray(body.messages)) {
    return error(400, 'invalid_request_error', 'messages: Field required', ctx);
  }
  if (body.messages.length === 0) {
    return error(400, 'invalid_request_error', 'messages: at least one message is required', ctx);
  }
  return undefined;
}

/** Checks of `/v1/messages` only. */
function validateCreate(body: Body, ctx: RequestContext): JsonReply | undefined {
  if (body.max_tokens === undefined || body.max_tokens === null) {
    return error(400, 'invalid_request_error', 'max_tokens: Field required', ctx);
  }
  if (typeof body.max_tokens !== 'number' || !Number.isInteger(body.max_tokens) || body.max_tokens < 1) {
    return error(400, 'invalid_request_error', 'max_tokens: Input should be greater than or equal to 1', ctx);
  }
  const choice = body.tool_choice;
  if (isRecord(choice) && choice.type === 'tool' && forcedTool(body) === undefined) {
    return error(400, 'invalid_request_error', `tool_choice: tool '${String(choice.name)}' not found in tools`, ctx);
  }
  return validateFeatures(body, ctx);
}

/** Fields of other providers' requests that the Messages API refuses as unknown. */
const FOREIGN_FIELDS = ['n', 'logprobs', 'top_logprobs', 'reasoning_effort', 'response_format'] as const;

/** Checks of the features beyond plain text: foreign fields, extended thinking, images and documents. */
function validateFeatures(body: Body, ctx: RequestContext): JsonReply | undefined {
  const invalid = (message: string): JsonReply => error(400, 'invalid_request_error', message, ctx);
  for (const field of FOREIGN_FIELDS) if (field in body) return invalid(`${field}: Extra inputs are not permitted`);
  const thinking = body.thinking;
  if (thinking !== undefined && thinking !== null) {
    const type = isRecord(thinking) ? thinking.type : undefined;
    if (!['enabled', 'disabled', 'adaptive'].includes(type as string)) {
      return invalid(
        `thinking: Input tag '${String(type)}' found using 'type' does not match any of the expected tags: ` +
          "'disabled', 'enabled', 'adaptive'"
      );
    }
    if (type === 'enabled') {
      const budget = (thinking as Body).budget_tokens;
      if (budget === undefined) return invalid('thinking.enabled.budget_tokens: Field required');
      if (typeof budget !== 'number' || !Number.isInteger(budget)) {
        return invalid('thinking.enabled.budget_tokens: Input should be a valid integer');
      }
      if (budget < 1024)
        return invalid('thinking.enabled.budget_tokens: Input should be greater than or equal to 1024');
      if ((body.max_tokens as number) <= budget) {
        return invalid(
          '`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at ' +
            'https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size'
        );
      }
    }
    if (type !== 'disabled') {
      if (body.temperature !== undefined && body.temperature !== null && body.temperature !== 1) {
        return invalid(
          '`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at ' +
            'https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility'
        );
      }
      if (forcedTool(body) !== undefined)
        return invalid('Thinking may not be enabled when tool_choice forces tool use.');
    }
  }
  const media = anthropicMediaError(body);
  if (media !== undefined)
    return error(
      media.status,
      media.status === 413 ? 'request_too_large' : 'invalid_request_error',
      media.message,
      ctx
    );
  return undefined;
}

/**
 * `POST /v1/messages/count_tokens`: `{input_tokens}`, equal to the `usage.input_tokens` the same body would get from
 * `/v1/messages`. Authentication is the caller's job.
 */
export function countTokens(body: unknown, headers: IncomingHttpHeaders, ctx: RequestContext): JsonReply {
  if (!isRecord(body)) return anthropic.unparsable(ctx);
  return validateCommon(body, headers, ctx) ?? { status: 200, body: { input_tokens: anthropicInputTokens(body) } };
}
