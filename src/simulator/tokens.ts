/**
 * The simulator's token arithmetic. It is deliberately a cheap chars/4 rule rather than a real tokenizer: what matters
 * is that it is deterministic and that `usage`, `count_tokens` and the rate-limit buckets all use the same numbers.
 *
 * Prompt tokens = Σ over messages (4 + ⌈chars / 4⌉) + 2, where the Anthropic `system` counts as one more message and
 * tool / response schemas add ⌈JSON chars / 4⌉. Completion tokens = max(1, ⌈chars / 4⌉).
 */

/** Per-message overhead, as in OpenAI's cookbook estimate that Curator also uses. */
const PER_MESSAGE = 4;
/** Priming tokens of the assistant reply. */
const PRIMING = 2;

/** Tokens of a piece of text, never less than 1 (providers bill at least one output token). */
export function textTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** Characters a text needs so that {@link textTokens} of it is exactly `tokens`. */
export function charsForTokens(tokens: number): number {
  return Math.max(0, tokens) * 4;
}

/**
 * The text of a message `content`: a string as is, or the `text` of its text parts joined with `"\n"`. Anthropic
 * `tool_result` blocks contribute their nested content; other parts (images, documents) contribute nothing.
 */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const parts: string[] = [];
  for (const part of content) {
    if (typeof part === 'string') parts.push(part);
    else if (isRecord(part)) {
      if (typeof part.text === 'string') parts.push(part.text);
      else if (part.type === 'tool_result') parts.push(contentText(part.content));
    }
  }
  return parts.join('\n');
}

/**
 * Tokens a part is billed for when it is not text, or `undefined` to bill its JSON as text: each wire format counts
 * its own images and documents (see `media.ts`).
 */
export type PartTokens = (part: Record<string, unknown>) => number | undefined;

/**
 * Tokens a content is billed for: its text plus the JSON of non-text parts, so that tool calls in a conversation
 * still cost something; parts that `media` prices (images, documents) cost what it says instead.
 */
function contentTokens(content: unknown, media: PartTokens | undefined): number {
  const billed = { chars: 0, tokens: 0 };
  addContent(content, media, billed);
  return billed.tokens + Math.ceil(billed.chars / 4);
}

function addContent(content: unknown, media: PartTokens | undefined, billed: { chars: number; tokens: number }): void {
  if (typeof content === 'string') billed.chars += content.length;
  else if (!Array.isArray(content)) billed.chars += content == null ? 0 : JSON.stringify(content).length;
  else {
    for (const part of content) {
      const priced = isRecord(part) && media !== undefined ? media(part) : undefined;
      if (priced !== undefined) billed.tokens += priced;
      else if (isRecord(part) && typeof part.text === 'string') billed.chars += part.text.length;
      else if (isRecord(part) && part.type === 'tool_result') addContent(part.content, media, billed);
      else billed.chars += JSON.stringify(part ?? null).length;
    }
  }
}

/** Prompt tokens of a list of message contents plus any extra JSON (tools, schemas) the request carries. */
export function promptTokens(contents: unknown[], extras: unknown[] = [], media?: PartTokens): number {
  let tokens = PRIMING;
  for (const content of contents) tokens += PER_MESSAGE + contentTokens(content, media);
  for (const extra of extras) {
    if (extra !== undefined && extra !== null) tokens += Math.ceil(JSON.stringify(extra).length / 4);
  }
  return tokens;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
