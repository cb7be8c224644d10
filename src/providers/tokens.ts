/**
 * Input token estimates of chat requests, before sending (reconciled with the response's `usage` afterwards): the
 * chat framing every provider adds, around each provider's count of a message's text.
 */
import type { ContentPart, ImagePart } from '../types/messages';
import { base64ImageHeader, pdfPages, PDF_PAGE_TOKENS, type ImageHeader } from '../simulator/media';
import { contentText, isTextMediaType, mediaPayload, type MediaPayload } from './content';
import type { ProviderRequest } from './types';

/** Chat formatting overhead per message and per reply, as OpenAI documents it. */
const PER_MESSAGE = 4;
const PER_REPLY = 2;

/** A conservative count from the length: more tokens per character than most tokenizers yield on most text. */
export function tokensFromLength(text: string): number {
  return Math.ceil(text.length / 3);
}

/** An image or file part of a message. */
export type MediaContentPart = Exclude<ContentPart, { type: 'text' }>;

/** The input tokens of `request`, counting each message's text with `countText` and its images and files with `countMedia`. */
export function chatInputTokens(
  request: ProviderRequest,
  countText: (text: string) => number,
  countMedia: (part: MediaContentPart) => number
): number {
  let total = PER_REPLY;
  for (const m of request.messages) {
    total += PER_MESSAGE + countText(contentText(m.content));
    if (typeof m.content === 'string') continue;
    for (const part of m.content) if (part.type !== 'text') total += countMedia(part);
  }
  if (request.schema) total += Math.ceil(JSON.stringify(request.schema).length / 3.5);
  return total;
}

/**
 * Prompt tokens of a file, as the simulator counts them for both providers: a PDF by its pages, text by its length
 * (on the high side), a file by URL as one page.
 */
export function fileTokens(payload: MediaPayload): number {
  if (payload.kind === 'url') return PDF_PAGE_TOKENS;
  if (isTextMediaType(payload.mediaType))
    return tokensFromLength(Buffer.from(payload.base64, 'base64').toString('utf8'));
  return pdfPages(payload.base64) * PDF_PAGE_TOKENS;
}

/**
 * Prompt tokens of an image or file part: a file as {@link fileTokens} counts it, an image by the provider's
 * `imageTokens` from the size its bytes tell (`undefined` for an image by URL).
 */
export function mediaTokens(
  part: MediaContentPart,
  imageTokens: (image: ImagePart, header: ImageHeader | undefined) => number
): number {
  const payload = mediaPayload(part);
  if (part.type === 'file') return fileTokens(payload);
  return imageTokens(part, payload.kind === 'base64' ? base64ImageHeader(payload.base64) : undefined);
}
