/**
 * What provider modules share in mapping a message's parts to their wire formats: the text of a content, and the
 * bytes of an image or file part once the worker has read it (the "inline" stage leaves each one as base64 with its
 * media type, or as a URL the provider fetches).
 */
import type { ChatMessage, ContentPart, FilePart, ImagePart } from '../types/messages';

/** The text of a content: a string as is, its text parts joined by a blank line. */
export function contentText(content: string | readonly ContentPart[]): string {
  if (typeof content === 'string') return content;
  return content
    .filter((p) => p.type === 'text')
    .map((p) => p.text)
    .join('\n\n');
}

/** An image or file part as a provider sends it: inline bytes, or a URL. */
export type MediaPayload = { kind: 'base64'; base64: string; mediaType: string } | { kind: 'url'; url: string };

/**
 * The payload of an image or file part after the inline stage. Bytes given in memory are encoded here; a local path
 * is an error of the caller, who must run the inline stage (`requests/inline.ts`) first.
 */
export function mediaPayload(part: ImagePart | FilePart): MediaPayload {
  if ('base64' in part && part.base64 !== undefined) {
    return { kind: 'base64', base64: part.base64, mediaType: part.mediaType };
  }
  if ('url' in part && part.url !== undefined) return { kind: 'url', url: part.url };
  if ('data' in part && part.data !== undefined) {
    const mediaType = (part as { mediaType?: string }).mediaType ?? 'application/octet-stream';
    return { kind: 'base64', base64: Buffer.from(part.data).toString('base64'), mediaType };
  }
  throw new Error(
    `the ${part.type} part at ${(part as { path?: string }).path} was not read: run the inline stage before mapping`
  );
}

/** A base64 `data:` URL. */
export function dataUrl(payload: { base64: string; mediaType: string }): string {
  return `data:${payload.mediaType};base64,${payload.base64}`;
}

/** Whether a media type is text (sent as text where the provider has a text document). */
export function isTextMediaType(mediaType: string): boolean {
  return mediaType.startsWith('text/') || mediaType === 'application/json';
}

/** A provider's messages: text content stays a string (bodies without media are unchanged), parts are mapped. */
export function mapParts(
  messages: readonly ChatMessage[],
  mapPart: (part: ContentPart) => Record<string, unknown>
): Record<string, unknown>[] {
  return messages.map((m) =>
    typeof m.content === 'string' ? { ...m } : { role: m.role, content: m.content.map(mapPart) }
  );
}
