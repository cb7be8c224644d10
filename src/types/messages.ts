/**
 * The messages of a prompt, as curators write them and providers receive them. A message's content is text, or a list
 * of parts: text, images and files, in one provider-neutral form that each provider module maps to its own wire format.
 */

/** Who speaks a chat message. */
export type ChatRole = 'system' | 'user' | 'assistant';

/** One message of a prompt's conversation. */
export interface ChatMessage {
  /** Who speaks it. */
  role: ChatRole;
  /** Its text, or its parts (images and files only in `user` messages). */
  content: string | ContentPart[];
}

/** A part of a message's content. */
export type ContentPart = TextPart | ImagePart | FilePart;

/** Text among a message's parts. */
export interface TextPart {
  type: 'text';
  text: string;
}

/**
 * Where the bytes of an image or a file come from: exactly one of a URL, a local path, bytes, or base64 text.
 *
 * A local path (relative paths from the worker's working directory) is read by the worker when it formats the
 * request, so rows carry paths, not megabytes; its content is hashed into the run's fingerprint, so a changed file
 * is a new request. A URL is passed to the provider as it is (a `data:` URL is read as base64); what it points to is
 * not part of the fingerprint.
 */
export type MediaSource = UrlSource | PathSource | BytesSource | Base64Source;

/** Bytes the provider fetches itself, or a `data:` URL. */
export interface UrlSource {
  url: string;
  path?: never;
  data?: never;
  base64?: never;
}

/** A file on the worker's disk. */
export interface PathSource {
  path: string;
  url?: never;
  data?: never;
  base64?: never;
}

/** Bytes in memory (a `Buffer` is a `Uint8Array`). */
export interface BytesSource {
  data: Uint8Array;
  url?: never;
  path?: never;
  base64?: never;
}

/** Bytes as base64 text, with their media type. */
export interface Base64Source {
  base64: string;
  /** The media type of the bytes, e.g. `image/png` or `application/pdf`. */
  mediaType: string;
  url?: never;
  path?: never;
  data?: never;
}

/** How closely OpenAI looks at an image (and bills it); other providers ignore it. */
export type ImageDetail = 'auto' | 'low' | 'high';

/**
 * An image (PNG, JPEG, GIF or WebP) in a `user` message. The format of local bytes is read from the bytes themselves.
 * Checked before sending: at most 20 MB for OpenAI; for Anthropic at most 5 MB of base64 per image and 32 MB per
 * request. A row whose image is missing, unreadable or too large fails alone, with an error naming the row and file.
 *
 * @example
 * { type: 'image', path: row.photo, detail: 'low' }
 * { type: 'image', url: 'https://example.com/cat.jpg' }
 */
export type ImagePart = {
  type: 'image';
  /**
   * How closely the model looks at it (OpenAI).
   * @defaultValue the provider's (`auto`)
   */
  detail?: ImageDetail;
} & MediaSource;

/**
 * A file in a `user` message: a PDF, or text (`text/*`). Its type is the `mediaType` given, else from the path's
 * extension or the bytes (`%PDF`). OpenAI takes files inline only (a path, bytes or base64), Anthropic also by URL.
 *
 * @example
 * { type: 'file', path: 'papers/attention.pdf' }
 */
export type FilePart = {
  type: 'file';
  /**
   * The file's name as the provider sees it.
   * @defaultValue the path's file name, else `document.pdf` or `document.txt`
   */
  filename?: string;
  /** The file's media type (`application/pdf`, `text/plain`, ...), when neither its extension nor bytes tell it. */
  mediaType?: string;
} & MediaSource;
