/**
 * Stage "inline", between format and send: each image and file a prompt gives by path, bytes, base64 or `data:` URL
 * becomes base64 with its media type (an image's read from its bytes), and is checked against the provider's limits
 * before anything is sent. Rows carry paths, not megabytes: the worker reads the files here, as it formats a shard.
 * A missing, unreadable, unknown or oversized file fails its row alone, with an error naming the part and the file.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, extname, resolve } from 'node:path';
import { PromptError } from '../errors';
import type { MediaLimits } from '../providers/provider';
import type { RequestError } from '../providers/outcome';
import type { ProviderRequest } from '../providers/types';
import { base64Bytes, base64ImageHeader, IMAGE_MEDIA_TYPES, parseDataUrl } from '../simulator/media';
import { sha256 } from '../storage/fingerprint';
import type { ChatMessage, ContentPart, FilePart, ImagePart } from '../types/messages';
import { partPlace, sourceOf, type MediaPart } from './content-parts';

/** Media types of files by extension, for paths given without a `mediaType`. */
const FILE_TYPES: Record<string, string> = {
  '.pdf': 'application/pdf',
  '.txt': 'text/plain',
  '.md': 'text/markdown',
  '.csv': 'text/csv',
  '.tsv': 'text/tab-separated-values',
  '.html': 'text/html',
  '.xml': 'text/xml',
  '.json': 'application/json',
};

const megabytes = (n: number): string => `${(n / (1024 * 1024)).toFixed(1)} MB`;

/** Characters of the base64 text of `bytes` bytes. */
const base64Chars = (bytes: number): number => 4 * Math.ceil(bytes / 3);

/** How a part names its file in an error: the path, the URL, or how its bytes were given. */
function described(part: MediaPart): string {
  if ('path' in part && part.path !== undefined) return resolve(part.path);
  if ('url' in part && part.url !== undefined) return part.url.startsWith('data:') ? 'a data: URL' : part.url;
  return 'data' in part && part.data !== undefined ? 'bytes given in memory' : 'base64 given in the prompt';
}

/** The bytes of a local file, with errors that name it; `checkSize` may refuse it by its size before it is read. */
async function readLocal(part: MediaPart, place: string, checkSize: (bytes: number) => void): Promise<Buffer> {
  const path = resolve((part as { path: string }).path);
  try {
    checkSize((await stat(path)).size);
    return await readFile(path);
  } catch (err) {
    if (err instanceof PromptError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw new PromptError(`cannot read the ${part.type} ${place} at ${path}: ${why}`);
  }
}

/** Refuses an image of `bytes` bytes over the provider's limits per image (of the bytes, or of their base64). */
function checkImageSize(part: MediaPart, place: string, bytes: number, limits: MediaLimits, provider: string): void {
  if (part.type !== 'image') return;
  const over = (size: number, limit: number | undefined, what: string) => {
    if (limit === undefined || size <= limit) return;
    throw new PromptError(
      `the image ${place} (${described(part)}) is too large: ${what} ${megabytes(size)}, over ${provider}'s limit ` +
        `of ${megabytes(limit)}${what === 'it is' ? '' : ' of base64'} per image`
    );
  };
  over(bytes, limits.imageBytes, 'it is');
  over(base64Chars(bytes), limits.imageBase64Chars, 'its base64 text is');
}

/** A media part's bytes as base64 with the media type it was given, or its URL; a local path is read. */
async function loadPart(
  part: MediaPart,
  place: string,
  checkSize: (bytes: number) => void
): Promise<{ base64: string; mediaType?: string } | { url: string }> {
  switch (sourceOf(part as unknown as Record<string, unknown>, place)) {
    case 'path':
      return { base64: (await readLocal(part, place, checkSize)).toString('base64') };
    case 'data':
      return { base64: Buffer.from((part as { data: Uint8Array }).data).toString('base64') };
    case 'base64':
      return { base64: (part as { base64: string }).base64, mediaType: (part as { mediaType: string }).mediaType };
    default: {
      const url = (part as { url: string }).url;
      const data = parseDataUrl(url);
      return data ? { base64: data.base64, mediaType: data.mediaType } : { url };
    }
  }
}

/** A file's media type: given, else by its extension, else `%PDF` in its bytes; only PDF and text are accepted. */
function fileType(part: FilePart, place: string, base64: string, given: string | undefined): string {
  const path = 'path' in part ? part.path : undefined;
  const type =
    part.mediaType ??
    given ??
    (path ? FILE_TYPES[extname(path).toLowerCase()] : undefined) ??
    (Buffer.from(base64.slice(0, 8), 'base64').toString('latin1').startsWith('%PDF') ? 'application/pdf' : undefined);
  if (type === undefined) {
    throw new PromptError(`cannot tell the type of the file ${place} (${described(part)}): give its mediaType`);
  }
  if (type !== 'application/pdf' && !type.startsWith('text/') && type !== 'application/json') {
    throw new PromptError(`the file ${place} (${described(part)}) is ${type}: only PDF and text files are supported`);
  }
  return type;
}

/** One part inline, checked against `limits`; `base64Total` adds up the request's base64. */
async function inlinePart(
  part: MediaPart,
  place: string,
  limits: MediaLimits,
  provider: string,
  base64Total: { chars: number }
): Promise<ContentPart> {
  const checkSize = (bytes: number) => checkImageSize(part, place, bytes, limits, provider);
  const loaded = await loadPart(part, place, checkSize);
  if ('url' in loaded) {
    if (part.type === 'file' && limits.filesByUrl === false) {
      throw new PromptError(
        `the file ${place} is given by URL (${loaded.url}), which ${provider} does not fetch: give it by path, data or base64`
      );
    }
    return part;
  }
  const { base64 } = loaded;
  base64Total.chars += base64.length;
  if (part.type === 'file') {
    const filename = part.filename ?? ('path' in part && part.path ? basename(part.path) : undefined);
    const mediaType = fileType(part, place, base64, loaded.mediaType);
    return { type: 'file', base64, mediaType, ...(filename ? { filename } : {}) };
  }
  const image = part as ImagePart;
  checkSize(base64Bytes(base64));
  const header = base64ImageHeader(base64);
  if (header === undefined) {
    throw new PromptError(`the image ${place} (${described(part)}) is not a PNG, JPEG, GIF or WebP image`);
  }
  return {
    type: 'image',
    base64,
    mediaType: IMAGE_MEDIA_TYPES[header.format],
    ...(image.detail ? { detail: image.detail } : {}),
  };
}

/**
 * The request with every image and file inline (base64 with its media type) or by URL, checked against the
 * provider's `limits`; a request without media is returned as it is. Throws `PromptError` naming the part and file.
 */
export async function inlineRequest(
  request: ProviderRequest,
  limits: MediaLimits = {},
  provider = 'the provider'
): Promise<ProviderRequest> {
  if (request.messages.every((m) => typeof m.content === 'string')) return request;
  const total = { chars: 0 };
  const messages: ChatMessage[] = [];
  for (const [i, message] of request.messages.entries()) {
    if (typeof message.content === 'string') {
      messages.push(message);
      continue;
    }
    const content: ContentPart[] = [];
    for (const [j, part] of message.content.entries()) {
      content.push(part.type === 'text' ? part : await inlinePart(part, partPlace(i, j), limits, provider, total));
    }
    messages.push({ ...message, content });
  }
  if (limits.requestBase64Chars !== undefined && total.chars > limits.requestBase64Chars) {
    throw new PromptError(
      `the request's images and files are too large together: ${megabytes(total.chars)} of base64, over ` +
        `${provider}'s limit of ${megabytes(limits.requestBase64Chars)} per request`
    );
  }
  return { ...request, messages };
}

/**
 * Inlines the media of each request of a shard (see {@link inlineRequest}); a request whose media cannot be read or
 * are too large moves to `errors`, named by its row, and no other request is affected.
 */
export async function inlineRequests(
  requests: Map<number, ProviderRequest>,
  errors: Map<number, RequestError>,
  limits: MediaLimits | undefined,
  provider: string
): Promise<void> {
  for (const [i, request] of requests) {
    try {
      requests.set(i, await inlineRequest(request, limits, provider));
    } catch (err) {
      if (!(err instanceof PromptError)) throw err;
      requests.delete(i);
      errors.set(i, { type: 'PromptError', message: `row ${i}: ${err.message}`, retryable: false });
    }
  }
}

/** The bytes of a part given inline (bytes, base64 or a `data:` URL); undefined for a path or a URL. */
function inlineBytes(part: MediaPart): Buffer | undefined {
  if ('data' in part && part.data !== undefined) return Buffer.from(part.data);
  if ('base64' in part && part.base64 !== undefined) return Buffer.from(part.base64, 'base64');
  const data = 'url' in part && part.url !== undefined ? parseDataUrl(part.url) : undefined;
  return data ? Buffer.from(data.base64, 'base64') : undefined;
}

/**
 * A request as the run records what it sent (`requests/`): its text, each image or file by its path or URL, and
 * inline bytes by their SHA-256 and size rather than megabytes of base64.
 */
export function recordedRequest(request: ProviderRequest): ProviderRequest {
  if (request.messages.every((m) => typeof m.content === 'string')) return request;
  const messages = request.messages.map((m): ChatMessage => {
    if (typeof m.content === 'string') return m;
    const content = m.content.map((part) => {
      const bytes = part.type === 'text' ? undefined : inlineBytes(part);
      if (part.type === 'text' || bytes === undefined) return part;
      const mediaType = (part as { mediaType?: string }).mediaType;
      return { type: part.type, sha256: sha256(bytes), bytes: bytes.length, ...(mediaType ? { mediaType } : {}) };
    });
    return { ...m, content: content as ContentPart[] };
  });
  return { ...request, messages };
}
