/**
 * Images (`image` blocks) and documents (`document` blocks) in Anthropic Messages: which the API refuses, and the
 * input tokens of the ones it accepts.
 */
import {
  anthropicImageTokens,
  base64ImageHeader,
  IMAGE_MEDIA_TYPES,
  pdfPages,
  PDF_PAGE_TOKENS,
  type ImageHeader,
} from './media';
import { isRecord, type Body } from './provider';
import { contentText, textTokens, type PartTokens } from './tokens';

/**
 * Anthropic's limit per image. The API measures the base64 text, not the decoded bytes (its error reports the
 * base64 length), so an image of about 3.75 MB is already refused.
 */
export const ANTHROPIC_MAX_IMAGE_BYTES = 5 * 1024 * 1024;
/** Anthropic's limit per request body (the same 413 the HTTP layer sends for a larger body). */
export const ANTHROPIC_MAX_REQUEST_BYTES = 32 * 1024 * 1024;

/** A refused block: the status (400 or 413) and Anthropic's message. */
export interface AnthropicPartError {
  status: number;
  message: string;
}

const MEDIA_TYPES = Object.values(IMAGE_MEDIA_TYPES);

/** The first image or document block the API would refuse, or the request's size when its media exceed 32 MB. */
export function anthropicMediaError(body: Body): AnthropicPartError | undefined {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  let base64Total = 0;
  for (const [i, message] of messages.entries()) {
    if (!isRecord(message) || !Array.isArray(message.content)) continue;
    for (const [j, block] of message.content.entries()) {
      if (!isRecord(block) || (block.type !== 'image' && block.type !== 'document')) continue;
      const at = `messages.${i}.content.${j}.${block.type}.source`;
      const source = block.source;
      if (!isRecord(source)) return { status: 400, message: `${at}: Field required` };
      if (source.type === 'base64' && typeof source.data === 'string') base64Total += source.data.length;
      const error = block.type === 'image' ? imageError(source, at) : documentError(source, at);
      if (error !== undefined) return { status: 400, message: error };
    }
  }
  if (base64Total > ANTHROPIC_MAX_REQUEST_BYTES) {
    return { status: 413, message: 'Request exceeds the maximum allowed number of bytes.' };
  }
  return undefined;
}

function imageError(source: Body, at: string): string | undefined {
  if (source.type === 'url') return typeof source.url === 'string' ? undefined : `${at}.url.url: Field required`;
  if (source.type !== 'base64') {
    return `${at}: Input tag '${String(source.type)}' found using 'type' does not match any of the expected tags: 'base64', 'url', 'file'`;
  }
  if (!MEDIA_TYPES.includes(source.media_type as string)) {
    return `${at}.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'`;
  }
  const data = typeof source.data === 'string' ? source.data : '';
  if (data.length > ANTHROPIC_MAX_IMAGE_BYTES) {
    return `${at}.base64: image exceeds 5 MB maximum: ${data.length} bytes > ${ANTHROPIC_MAX_IMAGE_BYTES} bytes`;
  }
  const header = base64ImageHeader(data);
  if (header === undefined) return `${at}.base64.data: Could not process image`;
  const actual = IMAGE_MEDIA_TYPES[header.format];
  if (actual !== source.media_type) {
    return (
      `${at}.base64.data: The image was specified using the ${String(source.media_type)} media type, but the image ` +
      `appears to be a ${actual} image`
    );
  }
  return undefined;
}

function documentError(source: Body, at: string): string | undefined {
  switch (source.type) {
    case 'base64':
      if (source.media_type !== 'application/pdf') return `${at}.base64.media_type: Input should be 'application/pdf'`;
      return typeof source.data === 'string' ? undefined : `${at}.base64.data: Field required`;
    case 'text':
      return typeof source.data === 'string' ? undefined : `${at}.text.data: Field required`;
    case 'url':
      return typeof source.url === 'string' ? undefined : `${at}.url.url: Field required`;
    case 'content':
    case 'file':
      return undefined;
    default:
      return (
        `${at}: Input tag '${String(source.type)}' found using 'type' does not match any of the expected tags: ` +
        "'base64', 'content', 'text', 'url', 'file'"
      );
  }
}

/**
 * Input tokens of an `image` block (`width * height / 750`, by the size read from its bytes; a URL at the maximum)
 * or a `document` block (a PDF by its pages, text by its characters, a URL or file as one page).
 */
export const anthropicPartTokens: PartTokens = (part) => {
  const source = isRecord(part.source) ? part.source : {};
  if (part.type === 'image') {
    const header: ImageHeader | undefined =
      source.type === 'base64' && typeof source.data === 'string' ? base64ImageHeader(source.data) : undefined;
    return anthropicImageTokens(header);
  }
  if (part.type === 'document') {
    if (source.type === 'base64' && typeof source.data === 'string') return pdfPages(source.data) * PDF_PAGE_TOKENS;
    if (source.type === 'text' && typeof source.data === 'string') return textTokens(source.data);
    if (source.type === 'content') return textTokens(contentText(source.content));
    return PDF_PAGE_TOKENS;
  }
  return undefined;
};
