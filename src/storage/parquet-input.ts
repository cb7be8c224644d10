/**
 * Reading a Parquet file as input rows, one row group at a time, so memory holds one row group's rows however large
 * the file is.
 *
 * Why hyparquet rather than parquet-wasm (which writes our Parquet exports): it reads through an `AsyncBuffer` of
 * byte ranges, here a file handle, fetching the footer and then only the column chunks of the row group asked for;
 * and being plain JavaScript, a corrupt page is an exception we can name the file in. parquet-wasm's async reader
 * panics inside WebAssembly on a corrupt page, which escapes as an uncaught error and would take the worker down.
 *
 * hyparquet ships as an ES module only; it is imported when a Parquet file is read, so the rest of the library loads
 * on every Node version it supports (reading Parquet needs `require` of ES modules, Node 20.19 or later).
 */
import { open } from 'node:fs/promises';
import type { AsyncBuffer } from 'hyparquet';
import type { JsonRow } from './arrow';

/** Streams the rows of the Parquet file at `path`; throws on a file that is not Parquet, corrupt or cut short. */
export async function* readParquetRows(path: string): AsyncGenerator<JsonRow> {
  const [{ parquetMetadataAsync, parquetReadObjects }, { compressors }] = await Promise.all([
    import('hyparquet'),
    import('hyparquet-compressors'),
  ]);
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const file: AsyncBuffer = {
      byteLength: size,
      async slice(start: number, end = size): Promise<ArrayBuffer> {
        const bytes = new Uint8Array(Math.max(0, end - start));
        const { bytesRead } = await handle.read(bytes, 0, bytes.length, start);
        if (bytesRead < bytes.length) throw new Error(`the file ends at byte ${start + bytesRead}, before ${end}`);
        return bytes.buffer;
      },
    };
    const metadata = await parquetMetadataAsync(file);
    let rowStart = 0;
    for (const group of metadata.row_groups) {
      const rowEnd = rowStart + Number(group.num_rows);
      // `utf8: false`: only columns annotated as strings are text; plain byte arrays stay bytes (base64 in the row).
      const rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd, compressors, utf8: false });
      yield* rows as JsonRow[];
      rowStart = rowEnd;
    }
  } finally {
    await handle.close();
  }
}
