/**
 * The contract between the HTTP pipeline (`server.ts`) and a provider's wire format (`openai.ts`, `anthropic.ts`).
 * The pipeline owns ordering, stats, faults, rate limiting and latency; an adapter only knows bodies and headers.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Cost, Rejection, Snapshot } from './rate-limits';
import type { FaultSpec, SimProvider } from './types';

/** A parsed JSON request body that is an object. */
export type Body = Record<string, unknown>;

/** A response other than a completion (an error, or a small JSON answer): status, body, extra headers. */
export interface JsonReply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** Facts about the request that bodies and headers need. */
export interface RequestContext {
  requestId: string;
  model: string | undefined;
  /** The simulator's `seed` option. */
  seed: string;
}

/** A successful completion and what it costs against the rate limits. */
export interface Generated {
  body: Body;
  cost: Cost;
}

/** The `kind` faults that change how a successful answer looks. */
export type AnswerFault = Extract<FaultSpec, { kind: 'finish' | 'refusal' | 'invalid-json' }>;

export interface ProviderAdapter {
  provider: SimProvider;
  newRequestId(): string;
  /** `undefined` when the request carries an acceptable key. */
  authenticate(
    headers: IncomingHttpHeaders,
    validApiKeys: readonly string[] | undefined,
    ctx: RequestContext
  ): JsonReply | undefined;
  /** The error for a body that is not a JSON object. */
  unparsable(ctx: RequestContext): JsonReply;
  /** `undefined` when the completion request is well-formed. */
  validate(body: Body, headers: IncomingHttpHeaders, ctx: RequestContext): JsonReply | undefined;
  /** All message contents (and any system prompt) joined with `"\n"`. */
  promptText(body: Body): string;
  generate(body: Body, ctx: RequestContext, fault: AnswerFault | undefined): Generated;
  /** The server-sent events of a generated answer, for a request with `stream: true` (see `streaming.ts`). */
  streamEvents(generated: Body, request: Body): string[];
  /** The error response for a `{ status }` fault. */
  statusError(fault: Extract<FaultSpec, { status: number }>, ctx: RequestContext, snapshot: Snapshot): JsonReply;
  /** The 429 for a request over an enforced limit. */
  rateLimited(rejection: Rejection, ctx: RequestContext): JsonReply;
  /** An error with the given status and message in this provider's shape, for routing and size errors. */
  plainError(status: number, message: string, ctx: RequestContext): JsonReply;
  /** Headers of every response: request id, processing time and (unless omitted) the rate-limit state. */
  commonHeaders(ctx: RequestContext, snapshot: Snapshot | undefined, processingMs: number): Record<string, string>;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A random id body in the style of the providers' ids (`chatcmpl-…`, `msg_…`). */
export function randomId(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += BASE62[(bytes[i] as number) % 62];
  return out;
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `retry-after`, `retry-after-ms` and `x-should-retry` headers requested by a status fault. */
export function faultHeaders(fault: Extract<FaultSpec, { status: number }>): Record<string, string> {
  const headers: Record<string, string> = {};
  if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
  if (fault.retryAfterMs !== undefined) headers['retry-after-ms'] = String(fault.retryAfterMs);
  if (fault.shouldRetry !== undefined) headers['x-should-retry'] = String(fault.shouldRetry);
  return headers;
}

/** `retry-after` (whole seconds, rounded up) and `retry-after-ms` for a limiter's wait. */
export function retryHeaders(retryAfterMs: number | undefined, withMs: boolean): Record<string, string> {
  if (retryAfterMs === undefined) return {};
  const ms = Math.max(1, Math.ceil(retryAfterMs));
  const headers: Record<string, string> = { 'retry-after': String(Math.ceil(ms / 1000)) };
  if (withMs) headers['retry-after-ms'] = String(ms);
  return headers;
}

/** Cuts `text` at the earliest stop sequence; returns the sequence that matched. */
export function applyStop(text: string, stops: unknown): { text: string; matched?: string } {
  const list = typeof stops === 'string' ? [stops] : Array.isArray(stops) ? stops : [];
  let cut = -1;
  let matched: string | undefined;
  for (const stop of list) {
    if (typeof stop !== 'string' || stop === '') continue;
    const at = text.indexOf(stop);
    if (at >= 0 && (cut < 0 || at < cut)) {
      cut = at;
      matched = stop;
    }
  }
  return matched === undefined ? { text } : { text: text.slice(0, cut), matched };
}
