/** Stage 1 of a request's life: a dataset row becomes a provider request. Pure, so it is easy to test. */
import type { ChatMessage, Curator, Row } from '../curator';
import type { ProviderRequest } from '../providers/types';
import { resolveResponseFormat } from '../schema';
import { PromptError } from '../errors';

const ROLES = new Set(['system', 'user', 'assistant']);

/** Keys read by generic code (serialisers, promise checks), never a sign of a missing field. */
const NOT_FIELDS = new Set(['toJSON', 'then', 'constructor', 'toString', 'valueOf']);

/** Watches which fields the prompt reads that the row does not have. */
function watchMissingFields(row: Row): { row: Row; missing: Set<string> } {
  const missing = new Set<string>();
  const proxy = new Proxy(row, {
    get(target, key, receiver) {
      if (typeof key === 'string' && !(key in target) && !NOT_FIELDS.has(key)) missing.add(key);
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
  return { row: proxy, missing };
}

/** Runs the curator's `prompt` and checks what it returned. */
export function buildMessages(curator: Curator, row: Row): ChatMessage[] {
  let prompt: unknown;
  const watched = watchMissingFields(row);
  try {
    prompt = curator.prompt(watched.row as never);
  } catch (err) {
    const missing = [...watched.missing].map((k) => `'${k}'`).join(', ');
    const hint = missing ? ` (the row has no field ${missing})` : '';
    throw new PromptError(`prompt() threw: ${(err as Error)?.message ?? String(err)}${hint}`);
  }
  // A field the row lacks, interpolated into the text, would send the model the word "undefined".
  if (watched.missing.size > 0 && JSON.stringify(prompt ?? null).includes('undefined')) {
    const missing = [...watched.missing].map((k) => `'${k}'`).join(', ');
    throw new PromptError(`the row has no field ${missing}, which prompt() used: the prompt would say "undefined"`);
  }
  let messages: ChatMessage[];
  if (typeof prompt === 'string') {
    messages = [{ role: 'user', content: prompt }];
  } else if (Array.isArray(prompt)) {
    prompt.forEach((m, i) => {
      const msg = m as Partial<ChatMessage> | null;
      if (!msg || typeof msg !== 'object' || !ROLES.has(msg.role as string) || typeof msg.content !== 'string') {
        throw new PromptError(
          `prompt() returned an invalid message at position ${i}: expected {role: system|user|assistant, content: string}`
        );
      }
    });
    messages = prompt as ChatMessage[];
  } else {
    throw new PromptError(`prompt() must return a string or an array of messages, got ${typeof prompt}`);
  }
  if (messages.length === 0) throw new PromptError('prompt() returned no messages');
  if (curator.systemPrompt) {
    if (messages.some((m) => m.role === 'system')) {
      throw new PromptError('prompt() returned a system message and the curator also sets systemPrompt');
    }
    messages = [{ role: 'system', content: curator.systemPrompt }, ...messages];
  }
  return messages;
}

/** The generation params as sent: null and undefined mean "not set" and are dropped, as Curator does. */
export function requestParams(curator: Curator): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(curator.generationParams ?? {}).filter(([, v]) => v !== undefined && v !== null)
  );
}

export function buildRequest(curator: Curator, row: Row): ProviderRequest {
  const params = requestParams(curator);
  return {
    model: curator.model,
    messages: buildMessages(curator, row),
    params,
    schema: resolveResponseFormat(curator.responseFormat)?.jsonSchema,
  };
}
