/** Stage "format" of a request's life: a dataset row becomes a provider request. Pure, so it is easy to test. */
import type { ChatMessage, Curator, Row } from '../curator';
import type { RequestError } from '../providers/outcome';
import type { ProviderRequest, RequestTool } from '../providers/types';
import { INVALID_ROW_KEY } from '../storage/dataset';
import { resolveResponseFormat } from '../schema';
import { PromptError } from '../errors';
import { paramsForRow } from './row-params';
import { checkContent } from './content-parts';

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
      const content = msg?.content as unknown;
      if (
        !msg ||
        typeof msg !== 'object' ||
        !ROLES.has(msg.role as string) ||
        !(typeof content === 'string' || Array.isArray(content))
      ) {
        throw new PromptError(
          `prompt() returned an invalid message at position ${i}: expected {role: system|user|assistant, content: string or parts}`
        );
      }
      checkContent(content, i, msg.role as string);
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

/** The curator's tools as a request carries them: their parameters as JSON Schema. */
export function requestTools(curator: Curator): RequestTool[] | undefined {
  return curator.tools?.map(({ name, description, parameters }) => ({
    name,
    ...(description !== undefined ? { description } : {}),
    parameters: resolveResponseFormat(parameters)!.jsonSchema,
  }));
}

/** One row's provider request: its messages, and the curator's params with the row's own merged over them. */
export function buildRequest(curator: Curator, row: Row): ProviderRequest {
  const request: ProviderRequest = {
    model: curator.model,
    messages: buildMessages(curator, row),
    params: paramsForRow(curator, row),
    schema: resolveResponseFormat(curator.responseFormat)?.jsonSchema,
  };
  const tools = requestTools(curator);
  if (tools) request.tools = tools;
  if (curator.toolChoice !== undefined) request.toolChoice = curator.toolChoice;
  return request;
}

/** The requests of a shard's rows, and the rows that cannot become one, each with why (they fail alone). */
export interface FormattedShard {
  requests: Map<number, ProviderRequest>;
  errors: Map<number, RequestError>;
}

/** Formats the rows `indices` of a shard whose first row is `first`: a row unreadable in the input or refused by `prompt` fails alone. */
export function formatRequests(
  curator: Curator,
  rows: readonly Row[],
  first: number,
  indices: readonly number[]
): FormattedShard {
  const requests = new Map<number, ProviderRequest>();
  const errors = new Map<number, RequestError>();
  for (const i of indices) {
    const row = rows[i - first];
    if (!row) continue;
    if (typeof row[INVALID_ROW_KEY] === 'string') {
      errors.set(i, { type: 'InvalidRow', message: row[INVALID_ROW_KEY], retryable: false });
      continue;
    }
    try {
      requests.set(i, buildRequest(curator, row));
    } catch (err) {
      if (!(err instanceof PromptError)) throw err;
      errors.set(i, { type: 'PromptError', message: `row ${i}: ${err.message}`, retryable: false });
    }
  }
  return { requests, errors };
}
