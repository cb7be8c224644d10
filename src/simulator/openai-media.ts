/**
 * Images (`image_url` parts) and files (`file` parts) in OpenAI Chat Completions messages: which the API refuses, and
 * the prompt tokens of the ones it accepts.
 */
import {
  base64ImageHeader,
  IMAGE_MEDIA_TYPES,
  openaiImageTokens,
  parseDataUrl,
  pdfPages,
  PDF_PAGE_TOKENS,
} from './media';
import { isRecord, type Body } from './provider';
import type { PartTokens } from './tokens';

/** OpenAI's limit per image ("below 20 MB in size"). */
export const OPENAI_MAX_IMAGE_BYTES = 20 * 1024 * 1024;

const UNSUPPORTED_IMAGE =
  "You uploaded an unsupported image. Please make sure your image is below 20 MB in size and is of one the following formats: ['png', 'jpeg', 'gif', 'webp'].";

/** A refused part: the fields of OpenAI's 400 `invalid_request_error`. */
export interface OpenAIPartError {
  message: string;
  param: string | null;
  code: string;
}

/** The first image or file part the API would refuse, if any. */
export function openaiMediaError(body: Body): OpenAIPartError | undefined {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  for (const [i, message] of messages.entries()) {
    if (!isRecord(message) || !Array.isArray(message.content)) continue;
    for (const [j, part] of message.content.entries()) {
      if (!isRecord(part)) continue;
      const param = `messages[${i}].content[${j}]`;
      if (part.type === 'image_url') {
        if (message.role !== 'user') {
          return {
            message:
              `Invalid 'messages[${i}]'. Image URLs are only allowed for messages with role 'user', but this ` +
              `message with role '${String(message.role)}' contains an image URL.`,
            param: `messages[${i}]`,
            code: 'invalid_value',
          };
        }
        const error = imageError(part.image_url, param);
        if (error) return error;
      } else if (part.type === 'file') {
        const error = fileError(part.file, param);
        if (error) return error;
      }
    }
  }
  return undefined;
}

function imageError(image: unknown, param: string): OpenAIPartError | undefined {
  if (!isRecord(image) || typeof image.url !== 'string') {
    return {
      message: `Missing required parameter: '${param}.image_url.url'.`,
      param: `${param}.image_url.url`,
      code: 'missing_required_parameter',
    };
  }
  if (image.detail !== undefined && !['auto', 'low', 'high'].includes(image.detail as string)) {
    return {
      message: `Invalid value: '${String(image.detail)}'. Supported values are: 'auto', 'low', and 'high'.`,
      param: `${param}.image_url.detail`,
      code: 'invalid_value',
    };
  }
  const url = image.url;
  if (/^https?:\/\//i.test(url)) return undefined;
  const data = parseDataUrl(url);
  if (data === undefined) {
    return {
      message: `Invalid '${param}.image_url.url'. Expected a valid URL, but got a value with an invalid format.`,
      param: `${param}.image_url.url`,
      code: 'invalid_value',
    };
  }
  if (!Object.values(IMAGE_MEDIA_TYPES).includes(data.mediaType)) {
    return {
      message:
        `Invalid '${param}.image_url.url'. Expected a base64-encoded data URL with an image MIME type (e.g. ` +
        `'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got unsupported MIME type '${data.mediaType}'.`,
      param: `${param}.image_url.url`,
      code: 'invalid_value',
    };
  }
  if (data.bytes > OPENAI_MAX_IMAGE_BYTES || base64ImageHeader(data.base64) === undefined) {
    return { message: UNSUPPORTED_IMAGE, param: null, code: 'invalid_image_format' };
  }
  return undefined;
}

function fileError(file: unknown, param: string): OpenAIPartError | undefined {
  const fileData = isRecord(file) ? file.file_data : undefined;
  const fileId = isRecord(file) ? file.file_id : undefined;
  if (typeof fileData !== 'string' && typeof fileId !== 'string') {
    return {
      message: `Invalid '${param}.file': one of 'file_data' or 'file_id' must be provided.`,
      param: `${param}.file`,
      code: 'invalid_value',
    };
  }
  if (typeof fileData === 'string' && parseDataUrl(fileData) === undefined) {
    return {
      message: `Invalid '${param}.file.file_data'. Expected a base64-encoded data URL, e.g. 'data:application/pdf;base64,...'.`,
      param: `${param}.file.file_data`,
      code: 'invalid_value',
    };
  }
  return undefined;
}

/**
 * Prompt tokens of an `image_url` part (the tile formula of `media.ts`, by the pixel size read from a data URL's
 * bytes) or a `file` part (a PDF by its pages, text by its characters; a `file_id` as one page).
 */
export const openaiPartTokens: PartTokens = (part) => {
  if (part.type === 'image_url' && isRecord(part.image_url)) {
    const url = typeof part.image_url.url === 'string' ? part.image_url.url : '';
    const data = parseDataUrl(url);
    const header = data === undefined ? undefined : base64ImageHeader(data.base64);
    return openaiImageTokens(header, part.image_url.detail);
  }
  if (part.type === 'file' && isRecord(part.file)) {
    const data = typeof part.file.file_data === 'string' ? parseDataUrl(part.file.file_data) : undefined;
    if (data === undefined) return PDF_PAGE_TOKENS;
    if (data.mediaType.startsWith('text/') || data.mediaType === 'application/json') return Math.ceil(data.bytes / 4);
    return pdfPages(data.base64) * PDF_PAGE_TOKENS;
  }
  return undefined;
};
