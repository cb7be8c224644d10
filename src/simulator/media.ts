/**
 * Images and documents in prompts: what the simulator reads of their bytes (format, pixel size, PDF pages) and how
 * many prompt tokens each provider bills for them. Both providers publish an estimate rather than their exact
 * arithmetic; these are the published formulas, so tests can predict `usage` to the token.
 */

/** The image formats both providers accept. */
export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp';

/** What the header of an image says. */
export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
}

/** The MIME type of each accepted image format. */
export const IMAGE_MEDIA_TYPES: Record<ImageFormat, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
};

/**
 * The format and pixel size from an image's first bytes (PNG IHDR, GIF screen descriptor, WebP VP8/VP8L/VP8X, JPEG
 * start-of-frame), or `undefined` when the bytes are none of these formats or are cut before the size.
 */
export function imageHeader(bytes: Buffer): ImageHeader | undefined {
  if (bytes.length >= 24 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.toString('latin1', 12, 16) === 'IHDR') {
    return { format: 'png', width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
  }
  const magic = bytes.toString('latin1', 0, 6);
  if (bytes.length >= 10 && (magic === 'GIF87a' || magic === 'GIF89a')) {
    return { format: 'gif', width: bytes.readUInt16LE(6), height: bytes.readUInt16LE(8) };
  }
  if (bytes.length >= 30 && magic.startsWith('RIFF') && bytes.toString('latin1', 8, 12) === 'WEBP') {
    return webpHeader(bytes);
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) return jpegHeader(bytes);
  return undefined;
}

function webpHeader(bytes: Buffer): ImageHeader | undefined {
  const chunk = bytes.toString('latin1', 12, 16);
  if (chunk === 'VP8 ') {
    return { format: 'webp', width: bytes.readUInt16LE(26) & 0x3fff, height: bytes.readUInt16LE(28) & 0x3fff };
  }
  if (chunk === 'VP8L') {
    const bits = bytes.readUInt32LE(21);
    return { format: 'webp', width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X') {
    return { format: 'webp', width: bytes.readUIntLE(24, 3) + 1, height: bytes.readUIntLE(27, 3) + 1 };
  }
  return undefined;
}

/** Walks the JPEG segments to the first start-of-frame marker, which holds the size. */
function jpegHeader(bytes: Buffer): ImageHeader | undefined {
  let at = 2;
  while (at + 9 <= bytes.length) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1] as number;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC), which share the range.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { format: 'jpeg', height: bytes.readUInt16BE(at + 5), width: bytes.readUInt16BE(at + 7) };
    }
    if (marker === 0xd9 || marker === 0xda) return undefined; // end of image or start of scan before any frame
    at += 2 + bytes.readUInt16BE(at + 2);
  }
  return undefined;
}

/** A `data:` URL taken apart. `bytes` is the decoded size, known without decoding everything. */
export interface DataUrl {
  mediaType: string;
  base64: string;
  bytes: number;
}

/** Parses a base64 `data:` URL; `undefined` for anything else. */
export function parseDataUrl(url: string): DataUrl | undefined {
  const match = /^data:([^;,]*)((?:;[^;,]*)*),/i.exec(url.slice(0, 256));
  if (!match || !/;base64$/i.test(match[2] ?? '')) return undefined;
  const base64 = url.slice(match[0].length);
  return { mediaType: (match[1] ?? '').toLowerCase(), base64, bytes: base64Bytes(base64) };
}

/** Decoded size of a base64 text, without decoding it. */
export function base64Bytes(base64: string): number {
  const padding = base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor((base64.length * 3) / 4) - padding);
}

/** Enough of an image's bytes for its header: JPEG frames may follow tens of kilobytes of EXIF data. */
const HEADER_BASE64_CHARS = 256 * 1024;

/** The header of a base64 image. */
export function base64ImageHeader(base64: string): ImageHeader | undefined {
  return imageHeader(Buffer.from(base64.slice(0, HEADER_BASE64_CHARS), 'base64'));
}

/** Pages of a PDF: its `/Type /Page` objects (at least 1, so a PDF the count misses still costs something). */
export function pdfPages(base64: string): number {
  const text = Buffer.from(base64, 'base64').toString('latin1');
  return Math.max(1, text.match(/\/Type\s*\/Page(?![a-zA-Z])/g)?.length ?? 0);
}

/** Prompt tokens per PDF page: its text plus its picture, as both providers bill a page. */
export const PDF_PAGE_TOKENS = 2000;

/** OpenAI's token count of one image at `detail: 'low'`. */
const OPENAI_LOW_DETAIL = 85;

/**
 * OpenAI's tile formula: `low` is 85 tokens; `high` (and `auto`) scales the image into 2048×2048, then its shortest
 * side down to 768, and costs 85 plus 170 per 512-pixel tile. An image whose size is unknown (a URL the simulator does
 * not fetch) is counted as a 1024×1024 one (765 tokens).
 */
export function openaiImageTokens(header: { width: number; height: number } | undefined, detail: unknown): number {
  if (detail === 'low') return OPENAI_LOW_DETAIL;
  let { width, height } = header ?? { width: 1024, height: 1024 };
  const fit = Math.min(1, 2048 / Math.max(width, height, 1));
  width *= fit;
  height *= fit;
  const shortest = Math.min(width, height);
  if (shortest > 768) {
    width *= 768 / shortest;
    height *= 768 / shortest;
  }
  return OPENAI_LOW_DETAIL + 170 * Math.ceil(width / 512) * Math.ceil(height / 512);
}

/** Anthropic's largest image, in tokens: bigger ones are scaled down to it first. */
const ANTHROPIC_MAX_IMAGE_TOKENS = 1600;

/**
 * Anthropic's estimate, `width * height / 750`, after scaling the long edge down to 1568 pixels and the area down to
 * about 1.2 megapixels (1,600 tokens), as the API does before the model sees it. An image whose size is unknown (a
 * URL) is counted at that maximum.
 */
export function anthropicImageTokens(header: { width: number; height: number } | undefined): number {
  if (header === undefined) return ANTHROPIC_MAX_IMAGE_TOKENS;
  const { width, height } = header;
  const scale = Math.min(1, 1568 / Math.max(width, height, 1));
  const tokens = Math.ceil((width * scale * height * scale) / 750);
  return Math.max(1, Math.min(ANTHROPIC_MAX_IMAGE_TOKENS, tokens));
}
