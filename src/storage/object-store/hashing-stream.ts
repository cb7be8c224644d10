/** The SHA-256 and length of a stream, taken as it passes through to its writer (never held whole). */
import { createHash } from 'node:crypto';
import type { UploadResult } from './object-store';

/** `chunks` yields `source` as Buffers; `result()` gives their length and hash once they have all been read. */
export function hashingStream(source: AsyncIterable<Buffer | string>): {
  chunks: AsyncIterable<Buffer>;
  result(): UploadResult;
} {
  const hash = createHash('sha256');
  let bytes = 0;
  return {
    chunks: (async function* () {
      for await (const chunk of source) {
        const buf = Buffer.from(chunk);
        hash.update(buf);
        bytes += buf.length;
        yield buf;
      }
    })(),
    result: () => ({ bytes, sha256: hash.digest('hex') }),
  };
}
