/**
 * Input token estimates of chat requests, before sending (reconciled with the response's `usage` afterwards): the
 * chat framing every provider adds, around each provider's count of a message's text.
 */
import type { ProviderRequest } from './types';

/** Chat formatting overhead per message and per reply, as OpenAI documents it. */
const PER_MESSAGE = 4;
const PER_REPLY = 2;

/** A conservative count from the length: more tokens per character than most tokenizers yield on most text. */
export function tokensFromLength(text: string): number {
  return Math.ceil(text.length / 3);
}

/** The input tokens of `request`, counting each message's text with `countText`. */
export function chatInputTokens(request: ProviderRequest, countText: (text: string) => number): number {
  let total = PER_REPLY;
  for (const m of request.messages) total += PER_MESSAGE + countText(m.content);
  if (request.schema) total += Math.ceil(JSON.stringify(request.schema).length / 3.5);
  return total;
}
