/**
 * The parts of a message's content as `prompt()` returns them, checked where the prompt is built: a bad part fails its
 * row alone, named.
 */
import { PromptError } from '../errors';
import type { FilePart, ImagePart } from '../types/messages';

/** An image or a file part. */
export type MediaPart = ImagePart | FilePart;

const DETAILS = new Set(['auto', 'low', 'high']);
const SOURCES = ['url', 'path', 'data', 'base64'] as const;

/** Where a part sits, as users read it: `messages[0].content[1]`. */
export function partPlace(message: number, part: number): string {
  return `messages[${message}].content[${part}]`;
}

/** The one source key a media part has (`url`, `path`, `data` or `base64`); throws when it has none or several. */
export function sourceOf(part: Record<string, unknown>, place: string): (typeof SOURCES)[number] {
  const given = SOURCES.filter((key) => part[key] !== undefined);
  if (given.length !== 1) {
    throw new PromptError(
      `the ${String(part.type)} part ${place} must have exactly one of url, path, data or base64, got ${
        given.length ? given.join(', ') : 'none'
      }`
    );
  }
  const key = given[0]!;
  const value = part[key];
  const ok = key === 'data' ? value instanceof Uint8Array : typeof value === 'string' && value !== '';
  if (!ok) {
    throw new PromptError(
      `the ${String(part.type)} part ${place} has an invalid ${key}: expected ${key === 'data' ? 'a Uint8Array' : 'a non-empty string'}`
    );
  }
  if (key === 'base64' && typeof part.mediaType !== 'string') {
    throw new PromptError(`the ${String(part.type)} part ${place} gives base64 without its mediaType`);
  }
  return key;
}

/** Checks the content of message `index` as `prompt()` returned it; throws `PromptError` naming the bad part. */
export function checkContent(content: unknown, index: number, role: string): void {
  if (typeof content === 'string') return;
  if (!Array.isArray(content)) {
    throw new PromptError(
      `prompt() returned an invalid message at position ${index}: content must be a string or parts`
    );
  }
  content.forEach((raw: unknown, j) => {
    const place = partPlace(index, j);
    const part = raw as Record<string, unknown> | null;
    if (!part || typeof part !== 'object') throw new PromptError(`the part ${place} is not an object`);
    if (part.type === 'text') {
      if (typeof part.text !== 'string') throw new PromptError(`the text part ${place} has no text string`);
      return;
    }
    if (part.type !== 'image' && part.type !== 'file') {
      throw new PromptError(`the part ${place} has type ${JSON.stringify(part.type)}: expected text, image or file`);
    }
    if (role !== 'user')
      throw new PromptError(
        `the ${part.type} part ${place} is in a ${role} message: only user messages hold images and files`
      );
    sourceOf(part, place);
    if (part.type === 'image' && part.detail !== undefined && !DETAILS.has(part.detail as string)) {
      throw new PromptError(
        `the image part ${place} has detail ${JSON.stringify(part.detail)}: expected auto, low or high`
      );
    }
  });
}
