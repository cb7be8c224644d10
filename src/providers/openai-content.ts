/**
 * OpenAI Chat Completions content parts: images as `image_url` parts (a data URL or the image's URL, with `detail`),
 * files as `file` parts (`file_data` as a base64 data URL, with a file name), and their prompt tokens by the same
 * arithmetic as the simulator (`src/simulator/media.ts`), so the rate limiter reserves what the API will count.
 */
import { openaiImageTokens } from '../simulator/media';
import type { ChatMessage, ContentPart, FilePart } from '../types/messages';
import { dataUrl, isTextMediaType, mapParts, mediaPayload } from './content';
import { mediaTokens, type MediaContentPart } from './tokens';

/** The file name OpenAI sees: the part's own, else one that tells the type. */
export function fileName(part: FilePart, mediaType: string): string {
  return part.filename ?? (isTextMediaType(mediaType) ? 'document.txt' : 'document.pdf');
}

function openaiPart(part: ContentPart): Record<string, unknown> {
  if (part.type === 'text') return { type: 'text', text: part.text };
  const payload = mediaPayload(part);
  if (part.type === 'image') {
    const url = payload.kind === 'url' ? payload.url : dataUrl(payload);
    return { type: 'image_url', image_url: { url, ...(part.detail ? { detail: part.detail } : {}) } };
  }
  if (payload.kind === 'url') {
    // The inline stage refuses these with the row's name (OpenAI takes files inline only); this is a last guard.
    throw new Error(`OpenAI takes files inline only, not by URL (${payload.url})`);
  }
  return { type: 'file', file: { filename: fileName(part, payload.mediaType), file_data: dataUrl(payload) } };
}

/** The messages of a Chat Completions body: text content stays a string, parts become OpenAI's parts. */
export const openaiMessages = (messages: readonly ChatMessage[]) => mapParts(messages, openaiPart);

/**
 * Prompt tokens of an image (the tile formula; an image by URL as a 1024×1024 one) or a file (a PDF by its pages,
 * text by its length), as the simulator counts them.
 */
export const openaiMediaTokens = (part: MediaContentPart): number =>
  mediaTokens(part, (image, header) => openaiImageTokens(header, image.detail));
