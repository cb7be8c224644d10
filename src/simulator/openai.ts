/**
 * OpenAI Chat Completions wire format: bodies, errors and headers as `api.openai.com` sends them (as far as they are
 * documented or observed; see the provider reference, Part B1).
 */
import { createHash, randomBytes } from 'node:crypto';
import { breakSchemaValue, generateFromSchema, generateText, Rng, truncateJson } from './answers';
import { logprobsOf } from './logprobs';
import { openaiMediaError, openaiPartTokens } from './openai-media';
import { isReasoningModel, reasoningTokens, REASONING_EFFORTS } from './reasoning';
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
import { openaiStreamEvents } from './streaming';
import { formatGoDuration, type Rejection, type Snapshot } from './rate-limits';
import { charsForTokens, contentText, promptTokens, textTokens } from './tokens';

const ORGANIZATION = 'org-sim';
const RATE_LIMITS_URL = 'https://platform.openai.com/account/rate-limits';

function error(
  status: number,
  message: string,
  type: string,
  param: string | null = null,
  code: string | null = null,
  headers?: Record<string, string>
): JsonReply {
  return { status, body: { error: { message, type, param, code } }, headers };
}

function maskKey(key: string): string {
  if (key.length <= 8) return '*'.repeat(key.length);
  return key.slice(0, 3) + '*'.repeat(key.length - 7) + key.slice(-4);
}

function messagesOf(body: Body): Body[] {
  return Array.isArray(body.messages) ? body.messages.filter(isRecord) : [];
}

/** The JSON Schema of a `response_format: {type: 'json_schema'}` request, if any. */
function responseSchema(body: Body): unknown {
  const format = body.response_format;
  if (!isRecord(format) || format.type !== 'json_schema' || !isRecord(format.json_schema)) return undefined;
  return format.json_schema.schema ?? {};
}

/** The declared functions. */
function toolsOf(body: Body): Body[] {
  return Array.isArray(body.tools) ? body.tools.filter((t) => isRecord(t) && isRecord(t.function)) : [];
}

/** The function `tool_choice` names, if it names one. */
function namedTool(body: Body): string | undefined {
  const choice = body.tool_choice;
  if (!isRecord(choice) || !isRecord(choice.function)) return undefined;
  return String(choice.function.name);
}

/**
 * The function the answer calls: the one `tool_choice` names; with `required`, `auto` or no choice, one of the
 * declared functions (the simulator always calls a tool when it may, so tests see tool calls); none for `none`.
 */
function chosenTool(body: Body, rng: Rng): { name: string; parameters: unknown } | undefined {
  const tools = toolsOf(body);
  const fn = (tool: Body): Body => tool.function as Body;
  const choice = body.tool_choice;
  const named = namedTool(body);
  let tool: Body | undefined;
  if (named !== undefined) tool = tools.find((t) => fn(t).name === named);
  else if (choice === 'none' || tools.length === 0) return undefined;
  else tool = tools.length === 1 ? tools[0] : rng.pick(tools);
  if (tool === undefined) return undefined;
  const name = fn(tool).name;
  return { name: typeof name === 'string' ? name : 'function', parameters: fn(tool).parameters ?? {} };
}

/** Prompt tokens as billed (and debited from the TPM window): messages plus tool and response schemas. */
export function openaiPromptTokens(body: Body): number {
  const contents = messagesOf(body).map((m) => (m.content ?? m.tool_calls ?? '') as unknown);
  return promptTokens(contents, [responseSchema(body), body.tools], openaiPartTokens);
}

function maxTokensOf(body: Body): number | undefined {
  const value = body.max_completion_tokens ?? body.max_tokens;
  return typeof value === 'number' ? value : undefined;
}

interface Choice {
  choice: Body;
  /** Completion tokens, reasoning tokens included. */
  tokens: number;
  reasoning: number;
}

function makeChoice(body: Body, ctx: RequestContext, index: number, fault: AnswerFault | undefined): Choice {
  const seedParts = [
    ctx.seed,
    String(body.model),
    openai.promptText(body),
    // `stop` and the token limits only cut the answer, so they stay out of the seed: a cut answer is a prefix.
    JSON.stringify([body.temperature, body.top_p, body.seed, body.frequency_penalty, body.presence_penalty]),
    String(index),
  ];
  const rng = new Rng(...seedParts);
  // Reasoning comes first and shares the token limit with the visible answer (`max_completion_tokens` covers both).
  const reasoningWanted = isReasoningModel(body.model) ? reasoningTokens(body.reasoning_effort, seedParts) : 0;
  const limit = maxTokensOf(body);
  const reasoning = limit === undefined ? reasoningWanted : Math.min(reasoningWanted, limit);
  const maxTokens = limit === undefined ? undefined : limit - reasoning;
  const finish = (reason: string, message: Body, tokens: number, logprobs: unknown = null): Choice => ({
    choice: { index, message, logprobs, finish_reason: reason },
    tokens: tokens + reasoning,
    reasoning,
  });

  if (maxTokens === 0) {
    // The limit went on reasoning: the API answers an empty text cut for length.
    return finish('length', { role: 'assistant', content: '', refusal: null, annotations: [] }, 0);
  }

  if (fault?.kind === 'refusal') {
    const refusal = fault.text ?? "I'm sorry, but I can't help with that request.";
    return finish('stop', { role: 'assistant', content: null, refusal, annotations: [] }, textTokens(refusal));
  }

  const tool = chosenTool(body, rng);
  if (tool !== undefined) {
    const value = generateFromSchema(tool.parameters, rng);
    let args = JSON.stringify(
      fault?.kind === 'invalid-json' && fault.breaks === 'schema' ? breakSchemaValue(value) : value
    );
    if (fault?.kind === 'invalid-json' && fault.breaks !== 'schema') args = truncateJson(args);
    let reason = 'tool_calls';
    if (maxTokens !== undefined && textTokens(args) > maxTokens) {
      args = args.slice(0, charsForTokens(maxTokens));
      reason = 'length';
    }
    if (fault?.kind === 'finish') reason = mapFinishReason(fault.reason, 'openai');
    const call = { id: `call_${randomId(24)}`, type: 'function', function: { name: tool.name, arguments: args } };
    return finish(
      reason,
      { role: 'assistant', content: null, tool_calls: [call], refusal: null, annotations: [] },
      textTokens(args)
    );
  }

  const schema = responseSchema(body);
  const format = isRecord(body.response_format) ? body.response_format.type : undefined;
  let text: string;
  let reason = 'stop';
  if (schema !== undefined) {
    const value = generateFromSchema(schema, rng);
    text = JSON.stringify(
      fault?.kind === 'invalid-json' && fault.breaks === 'schema' ? breakSchemaValue(value) : value
    );
  } else if (format === 'json_object') text = JSON.stringify({ answer: generateText(rng) });
  else {
    text = generateText(rng);
    text = applyStop(text, body.stop).text;
  }
  if (fault?.kind === 'invalid-json' && !(schema !== undefined && fault.breaks === 'schema'))
    text = truncateJson(text.startsWith('{') ? text : JSON.stringify({ answer: text }));
  if (maxTokens !== undefined && textTokens(text) > maxTokens) {
    text = text.slice(0, charsForTokens(maxTokens));
    reason = 'length';
  }
  if (fault?.kind === 'finish') {
    reason = mapFinishReason(fault.reason, 'openai');
    if (reason === 'length') text = text.slice(0, Math.ceil(text.length / 2));
  }
  const logprobs =
    body.logprobs === true
      ? logprobsOf(text, typeof body.top_logprobs === 'number' ? body.top_logprobs : 0, seedParts)
      : null;
  return finish(
    reason,
    { role: 'assistant', content: text, refusal: null, annotations: [] },
    textTokens(text),
    logprobs
  );
}

/** A 400 `invalid_request_error` with a param and a code. */
function invalid(message: string, param: string | null, code: string): JsonReply {
  return error(400, message, 'invalid_request_error', param, code);
}

/** Checks of the features beyond plain text: images and files, tools, reasoning and logprobs. */
function validateFeatures(body: Body): JsonReply | undefined {
  const media = openaiMediaError(body);
  if (media !== undefined) return invalid(media.message, media.param, media.code);
  const named = namedTool(body);
  if (named !== undefined && !toolsOf(body).some((t) => (t.function as Body).name === named)) {
    return invalid(
      `Invalid value for 'tool_choice': tool choice '${named}' not found in 'tools' parameter.`,
      'tool_choice',
      'invalid_value'
    );
  }
  if ((body.tool_choice === 'required' || named !== undefined) && toolsOf(body).length === 0) {
    return invalid(
      "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
      'tool_choice',
      'invalid_value'
    );
  }
  const effort = body.reasoning_effort;
  if (effort !== undefined && effort !== null) {
    if (!isReasoningModel(body.model)) {
      return invalid(
        "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
        'reasoning_effort',
        'unsupported_parameter'
      );
    }
    if (!(REASONING_EFFORTS as readonly unknown[]).includes(effort)) {
      return invalid(
        `Invalid value: '${String(effort)}'. Supported values are: ${REASONING_EFFORTS.map((e) => `'${e}'`).join(', ')}.`,
        'reasoning_effort',
        'invalid_value'
      );
    }
  }
  const top = body.top_logprobs;
  if (top !== undefined && top !== null) {
    if (typeof top !== 'number' || !Number.isInteger(top) || top < 0 || top > 20) {
      return invalid(
        `Invalid 'top_logprobs': integer out of range. Expected a value between 0 and 20, but got ${JSON.stringify(top)} instead.`,
        'top_logprobs',
        'integer_above_max_value'
      );
    }
    if (body.logprobs !== true) {
      return invalid(
        "Invalid value for 'logprobs': must be true when 'top_logprobs' is specified.",
        'logprobs',
        'invalid_value'
      );
    }
  }
  return undefined;
}

export const openai: ProviderAdapter = {
  provider: 'openai',

  newRequestId: () => `req_${randomBytes(16).toString('hex')}`,

  authenticate(headers, validApiKeys) {
    const auth = headerValue(headers, 'authorization') ?? '';
    const key = /^Bearer\s+(.*)$/i.exec(auth)?.[1]?.trim() ?? '';
    if (key === '') {
      return error(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth " +
          "(i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing " +
          'the API from your browser and are prompted for a username. You can obtain an API key from ' +
          'https://platform.openai.com/account/api-keys.',
        'invalid_request_error'
      );
    }
    if (validApiKeys !== undefined && !validApiKeys.includes(key)) {
      return error(
        401,
        `Incorrect API key provided: ${maskKey(key)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
        'invalid_request_error',
        null,
        'invalid_api_key'
      );
    }
    return undefined;
  },

  unparsable: () =>
    error(
      400,
      "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library " +
        'correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble ' +
        'figuring out how to fix this, please contact us through our help center at help.openai.com.)',
      'invalid_request_error'
    ),

  validate(body) {
    if (typeof body.model !== 'string' || body.model === '') {
      return error(400, 'you must provide a model parameter', 'invalid_request_error');
    }
    if (body.messages === undefined) {
      return error(
        400,
        "Missing required parameter: 'messages'.",
        'invalid_request_error',
        'messages',
        'missing_required_parameter'
      );
    }
    if (!Array.isArray(body.messages)) {
      return error(
        400,
        `Invalid type for 'messages': expected an array of objects, but got ${typeof body.messages} instead.`,
        'invalid_request_error',
        'messages',
        'invalid_type'
      );
    }
    if (body.messages.length === 0) {
      return error(
        400,
        "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
        'invalid_request_error',
        'messages',
        'empty_array'
      );
    }
    for (const param of ['max_tokens', 'max_completion_tokens', 'n'] as const) {
      const value = body[param];
      if (value === undefined || value === null) continue;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
        return error(
          400,
          `Invalid '${param}': integer below minimum value. Expected a value >= 1, but got ${JSON.stringify(value)} instead.`,
          'invalid_request_error',
          param,
          'integer_below_min_value'
        );
      }
    }
    if (body.stream_options !== undefined && body.stream_options !== null && body.stream !== true) {
      return invalid(
        "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        'stream_options',
        'invalid_value'
      );
    }
    return validateFeatures(body);
  },

  promptText(body) {
    return messagesOf(body)
      .map((m) => contentText(m.content))
      .join('\n');
  },

  generate(body, ctx, fault) {
    const n = typeof body.n === 'number' ? body.n : 1;
    const choices: Body[] = [];
    let completionTokens = 0;
    let reasoningTotal = 0;
    for (let i = 0; i < n; i++) {
      const { choice, tokens, reasoning } = makeChoice(body, ctx, i, fault);
      choices.push(choice);
      completionTokens += tokens;
      reasoningTotal += reasoning;
    }
    const input = openaiPromptTokens(body);
    const fingerprint = createHash('sha256')
      .update(`${ctx.seed}\u0000${String(body.model)}`)
      .digest('hex');
    return {
      body: {
        id: `chatcmpl-${randomId(29)}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices,
        usage: {
          prompt_tokens: input,
          completion_tokens: completionTokens,
          total_tokens: input + completionTokens,
          prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
          completion_tokens_details: {
            reasoning_tokens: reasoningTotal,
            audio_tokens: 0,
            accepted_prediction_tokens: 0,
            rejected_prediction_tokens: 0,
          },
        },
        service_tier: 'default',
        system_fingerprint: `fp_${fingerprint.slice(0, 10)}`,
      },
      cost: { input, output: completionTokens },
    };
  },

  streamEvents: openaiStreamEvents,

  statusError(fault, ctx, snapshot) {
    const model = ctx.model ?? 'unknown';
    const headers = faultHeaders(fault);
    const status = fault.status;
    let message: string;
    let type: string;
    let code: string | null = null;
    if (status === 429) {
      type = fault.type ?? 'requests';
      if (type === 'insufficient_quota') {
        code = 'insufficient_quota';
        message =
          'You exceeded your current quota, please check your plan and billing details. For more information on this ' +
          'error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.';
      } else if (fault.budgetLeft === true) {
        // A gateway's congestion: the budget is not used up, so the headers keep the true remaining.
        code = 'rate_limit_exceeded';
        message =
          'The server is currently overloaded with other requests. Please retry your request after a brief wait.';
      } else {
        code = 'rate_limit_exceeded';
        const tokens = type === 'tokens';
        // The message says the limit is used up, so the headers say so too.
        headers[tokens ? 'x-ratelimit-remaining-tokens' : 'x-ratelimit-remaining-requests'] = '0';
        const state = tokens ? snapshot.tokens : snapshot.requests;
        const wait = fault.retryAfterMs ?? (typeof fault.retryAfter === 'number' ? fault.retryAfter * 1000 : 1000);
        message =
          `Rate limit reached for ${model} in organization ${ORGANIZATION} on ` +
          `${tokens ? 'tokens per min (TPM)' : 'requests per min (RPM)'}: Limit ${state.limit}, ` +
          `Used ${state.limit}, Requested 1. Please try again in ${formatGoDuration(wait)}. ` +
          `Visit ${RATE_LIMITS_URL} to learn more.`;
      }
    } else if (status === 401) {
      type = 'invalid_request_error';
      code = 'invalid_api_key';
      message =
        'Incorrect API key provided: sk-sim***. You can find your API key at https://platform.openai.com/account/api-keys.';
    } else if (status === 503) {
      type = 'server_error';
      message =
        'That model is currently overloaded with other requests. You can retry your request, or contact us through ' +
        'our help center at help.openai.com if the error persists.';
    } else if (status >= 500) {
      type = 'server_error';
      message = 'The server had an error while processing your request. Sorry about that!';
    } else {
      type = 'invalid_request_error';
      message = `Simulated error ${status}.`;
    }
    return error(
      status,
      fault.message ?? message,
      fault.type ?? type,
      null,
      fault.code !== undefined ? fault.code : code,
      headers
    );
  },

  rateLimited(rejection, ctx) {
    const model = ctx.model ?? 'unknown';
    const headers = retryHeaders(rejection.retryAfterMs, true);
    const what = describe(rejection);
    if (rejection.dimension === 'requests') headers['x-ratelimit-remaining-requests'] = '0';
    else if (rejection.dimension === 'tokens') headers['x-ratelimit-remaining-tokens'] = '0';
    if (rejection.retryAfterMs === undefined) {
      return error(
        429,
        `Request too large for ${model} in organization ${ORGANIZATION} on ${what.label}: Limit ${rejection.limit}, ` +
          `Requested ${rejection.requested}. The input or output tokens must be reduced in order to run successfully. ` +
          `Visit ${RATE_LIMITS_URL} to learn more.`,
        what.type,
        null,
        'rate_limit_exceeded',
        headers
      );
    }
    return error(
      429,
      `Rate limit reached for ${model} in organization ${ORGANIZATION} on ${what.label}: Limit ${rejection.limit}, ` +
        `Used ${rejection.used}, Requested ${rejection.requested}. ` +
        `Please try again in ${formatGoDuration(rejection.retryAfterMs)}. Visit ${RATE_LIMITS_URL} to learn more.`,
      what.type,
      null,
      'rate_limit_exceeded',
      headers
    );
  },

  plainError: (status, message) => error(status, message, status >= 500 ? 'server_error' : 'invalid_request_error'),

  commonHeaders(ctx, snapshot, processingMs) {
    const headers: Record<string, string> = {
      'x-request-id': ctx.requestId,
      'openai-organization': ORGANIZATION,
      'openai-processing-ms': String(Math.max(0, Math.round(processingMs))),
      'openai-version': '2020-10-01',
    };
    if (snapshot !== undefined) Object.assign(headers, rateLimitHeaders(snapshot));
    return headers;
  },
};

function describe(rejection: Rejection): { label: string; type: string } {
  switch (rejection.dimension) {
    case 'requests':
      return { label: 'requests per min (RPM)', type: 'requests' };
    case 'tokens':
      return { label: 'tokens per min (TPM)', type: 'tokens' };
    case 'inputTokens':
      return { label: 'input tokens per min (TPM)', type: 'tokens' };
    case 'outputTokens':
      return { label: 'output tokens per min (TPM)', type: 'tokens' };
  }
}

function rateLimitHeaders(snapshot: Snapshot): Record<string, string> {
  return {
    'x-ratelimit-limit-requests': String(snapshot.requests.limit),
    'x-ratelimit-limit-tokens': String(snapshot.tokens.limit),
    'x-ratelimit-remaining-requests': String(snapshot.requests.remaining),
    'x-ratelimit-remaining-tokens': String(snapshot.tokens.remaining),
    'x-ratelimit-reset-requests': formatGoDuration(snapshot.requests.resetMs),
    'x-ratelimit-reset-tokens': formatGoDuration(snapshot.tokens.resetMs),
  };
}
