/**
 * Streamed answers (`stream: true`) as the providers send them: the status and headers after a time to first token,
 * then the answer as server-sent events spread over the rest of the request's latency. OpenAI sends
 * `data: {chat.completion.chunk}` lines and `data: [DONE]` (usage in a last chunk with no choices, only when
 * `stream_options.include_usage` asks for it); Anthropic sends `message_start`, `content_block_start` /
 * `_delta` / `_stop` per block, `message_delta` (stop reason, output tokens) and `message_stop`.
 *
 * The encoders are pure: they turn the body a non-streamed request would get into the events, so a streamed and a
 * non-streamed request get the same answer, usage and rate-limit accounting.
 */
import type { Body } from './provider';
import { isRecord } from './provider';
import type { FirstTokenOptions } from './types';

export const DEFAULT_FIRST_TOKEN_SHARE = 0.1;
export const DEFAULT_FIRST_TOKEN_MAX_MS = 300;

/** The time to first token of a request whose whole answer takes `latencyMs`. */
export function firstTokenMs(latencyMs: number, options: FirstTokenOptions = {}): number {
  const share = options.share ?? DEFAULT_FIRST_TOKEN_SHARE;
  const maxMs = options.maxMs ?? DEFAULT_FIRST_TOKEN_MAX_MS;
  return Math.max(0, Math.min(latencyMs, latencyMs * share, maxMs));
}

/** Pieces a text is streamed in, at most: enough to look like a stream, few enough to cost the simulator little. */
const MAX_PIECES = 8;

/** Splits `text` into at most {@link MAX_PIECES} consecutive pieces (none when it is empty). */
export function pieces(text: string, most = MAX_PIECES): string[] {
  if (text === '') return [];
  const size = Math.ceil(text.length / Math.max(1, most));
  const out: string[] = [];
  for (let at = 0; at < text.length; at += size) out.push(text.slice(at, at + size));
  return out;
}

/** One server-sent event: `event:` when the wire format names its events (Anthropic), then one `data:` line. */
export function sseFrame(data: unknown, event?: string): string {
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  return `${event === undefined ? '' : `event: ${event}\n`}data: ${text}\n\n`;
}

/** Whether an OpenAI request asked for usage in the stream's last chunk. */
export function includeUsage(request: Body): boolean {
  return isRecord(request.stream_options) && request.stream_options.include_usage === true;
}

/** The deltas of one chat completion choice, in the order OpenAI streams them. */
function openaiDeltas(message: Body): Body[] {
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls.filter(isRecord) : [];
  const deltas: Body[] = [
    { role: 'assistant', content: typeof message.content === 'string' ? '' : null, refusal: null },
  ];
  if (typeof message.content === 'string') for (const p of pieces(message.content)) deltas.push({ content: p });
  if (typeof message.refusal === 'string') for (const p of pieces(message.refusal)) deltas.push({ refusal: p });
  calls.forEach((call, index) => {
    const fn = isRecord(call.function) ? call.function : {};
    deltas.push({
      tool_calls: [{ index, id: call.id, type: 'function', function: { name: fn.name, arguments: '' } }],
    });
    const args = typeof fn.arguments === 'string' ? fn.arguments : '';
    for (const p of pieces(args)) deltas.push({ tool_calls: [{ index, function: { arguments: p } }] });
  });
  return deltas;
}

/**
 * The SSE events of an OpenAI chat completion streamed: each choice's deltas, its finish reason, the usage chunk
 * when asked for, then `[DONE]`. Logprobs are not streamed (their chunks carry `logprobs: null`).
 */
export function openaiStreamEvents(completion: Body, request: Body): string[] {
  const usage = includeUsage(request);
  const base = {
    id: completion.id,
    object: 'chat.completion.chunk',
    created: completion.created,
    model: completion.model,
    service_tier: completion.service_tier,
    system_fingerprint: completion.system_fingerprint,
  };
  const chunk = (index: number, delta: Body, finish: unknown = null): string =>
    sseFrame({
      ...base,
      choices: [{ index, delta, logprobs: null, finish_reason: finish }],
      ...(usage ? { usage: null } : {}),
    });
  const events: string[] = [];
  const choices = Array.isArray(completion.choices) ? completion.choices.filter(isRecord) : [];
  for (const choice of choices) {
    const index = typeof choice.index === 'number' ? choice.index : 0;
    const message = isRecord(choice.message) ? choice.message : {};
    for (const delta of openaiDeltas(message)) events.push(chunk(index, delta));
    events.push(chunk(index, {}, choice.finish_reason ?? 'stop'));
  }
  if (usage) events.push(sseFrame({ ...base, choices: [], usage: completion.usage }));
  events.push(sseFrame('[DONE]'));
  return events;
}

/** The events of one Anthropic content block: its start (the block with its growing field empty), deltas, stop. */
function anthropicBlockEvents(block: Body, index: number): string[] {
  const event = (data: Body) => sseFrame(data, String(data.type));
  const start = (content_block: Body) => event({ type: 'content_block_start', index, content_block });
  const delta = (d: Body) => event({ type: 'content_block_delta', index, delta: d });
  const events: string[] = [];
  if (block.type === 'text' && typeof block.text === 'string') {
    events.push(start({ ...block, text: '' }));
    for (const p of pieces(block.text)) events.push(delta({ type: 'text_delta', text: p }));
  } else if (block.type === 'tool_use') {
    events.push(start({ ...block, input: {} }));
    for (const p of pieces(JSON.stringify(block.input ?? {}))) {
      events.push(delta({ type: 'input_json_delta', partial_json: p }));
    }
  } else if (block.type === 'thinking' && typeof block.thinking === 'string') {
    events.push(start({ ...block, thinking: '', signature: '' }));
    for (const p of pieces(block.thinking)) events.push(delta({ type: 'thinking_delta', thinking: p }));
    if (typeof block.signature === 'string')
      events.push(delta({ type: 'signature_delta', signature: block.signature }));
  } else {
    events.push(start(block));
  }
  events.push(event({ type: 'content_block_stop', index }));
  return events;
}

/**
 * The SSE events of an Anthropic message streamed: `message_start` (no content yet, one output token counted), a
 * `ping`, each content block, `message_delta` (the stop reason and the output tokens) and `message_stop`.
 */
export function anthropicStreamEvents(message: Body): string[] {
  const usage = isRecord(message.usage) ? message.usage : {};
  const content = Array.isArray(message.content) ? message.content.filter(isRecord) : [];
  const events = [
    sseFrame(
      {
        type: 'message_start',
        message: {
          ...message,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          stop_details: null,
          usage: { ...usage, output_tokens: 1 },
        },
      },
      'message_start'
    ),
    sseFrame({ type: 'ping' }, 'ping'),
  ];
  content.forEach((block, index) => events.push(...anthropicBlockEvents(block, index)));
  events.push(
    sseFrame(
      {
        type: 'message_delta',
        delta: { stop_reason: message.stop_reason, stop_sequence: message.stop_sequence ?? null },
        usage: { output_tokens: usage.output_tokens ?? 0 },
      },
      'message_delta'
    ),
    sseFrame({ type: 'message_stop' }, 'message_stop')
  );
  return events;
}
