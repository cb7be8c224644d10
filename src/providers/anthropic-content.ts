/**
 * Anthropic Messages content blocks: images as `image` blocks (a base64 or URL source), files as `document` blocks (a
 * PDF as base64 or by URL, text as a text source), and their input tokens by the same arithmetic as the simulator
 * (`src/simulator/media.ts`), so the rate limiter reserves what the API will count.
 */
import { anthropicImageTokens } from '../simulator/media';
import type { ChatMessage, ContentPart } from '../types/messages';
import { isTextMediaType, mapParts, mediaPayload } from './content';
import { mediaTokens, type MediaContentPart } from './tokens';

function anthropicBlock(part: ContentPart): Record<string, unknown> {
  if (part.type === 'text') return { type: 'text', text: part.text };
  const payload = mediaPayload(part);
  if (part.type === 'image') {
    const source =
      payload.kind === 'url'
        ? { type: 'url', url: payload.url }
        : { type: 'base64', media_type: payload.mediaType, data: payload.base64 };
    return { type: 'image', source };
  }
  const title = part.filename ? { title: part.filename } : {};
  if (payload.kind === 'url') return { type: 'document', source: { type: 'url', url: payload.url }, ...title };
  if (isTextMediaType(payload.mediaType)) {
    const data = Buffer.from(payload.base64, 'base64').toString('utf8');
    return { type: 'document', source: { type: 'text', media_type: 'text/plain', data }, ...title };
  }
  return {
    type: 'document',
    source: { type: 'base64', media_type: payload.mediaType, data: payload.base64 },
    ...title,
  };
}

/** The messages of a Messages body (system messages apart): text content stays a string, parts become blocks. */
export const anthropicMessages = (messages: readonly ChatMessage[]) => mapParts(messages, anthropicBlock);

/**
 * Input tokens of an image (`width * height / 750`, an image by URL at the maximum) or a document (a PDF by its
 * pages, text by its length, a URL as one page), as the simulator counts them.
 */
export const anthropicMediaTokens = (part: MediaContentPart): number =>
  mediaTokens(part, (_image, header) => anthropicImageTokens(header));
