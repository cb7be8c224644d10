/**
 * Parquet export of a dataset written by `arrow.ts`. Arrow IPC stays the primary format (finalize writes it and its
 * SHA-256 identifies a run); Parquet is a copy for tools and hubs that expect it.
 *
 * Why parquet-wasm: it is the Rust `parquet`/`arrow` crates compiled to WebAssembly, so it installs without a native
 * build or a Python runtime on the worker, and it writes every type `arrow-schema.ts` produces (Int64, Float64, Bool,
 * Utf8, Null, and Lists and Structs nested to any depth). It also embeds the Arrow schema in the file's metadata
 * (`ARROW:schema`), so pyarrow and `datasets` read back exactly the Arrow types we wrote, Null columns included,
 * rather than re-deriving them from Parquet's physical types. The pure-JavaScript writers handle neither nested
 * lists of structs nor Arrow's types well enough for that.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type RecordBatch, RecordBatchReader, RecordBatchStreamWriter, Table, tableToIPC } from 'apache-arrow';
import * as pq from 'parquet-wasm';
import { DEFAULT_PARQUET_COMPRESSION, DEFAULT_ROW_GROUP_BYTES, DEFAULT_ROW_GROUP_ROWS } from '../defaults';
import { fsyncFile } from './arrow';

/** Options for {@link writeParquetFromArrow}. */
export interface ParquetWriteOptions {
  /**
   * The compression codec: zstd is smaller than snappy on text at a similar speed, and read by every current Parquet
   * reader.
   * @defaultValue `'zstd'` (`DEFAULT_PARQUET_COMPRESSION`)
   */
  compression?: 'zstd' | 'snappy';
  /**
   * At most this many rows per row group.
   * @defaultValue 10,000, the batch size of the Arrow files finalize writes (`DEFAULT_ROW_GROUP_ROWS`)
   */
  rowGroupRows?: number;
  /**
   * At most about this many uncompressed bytes per row group. A row group is buffered in WebAssembly memory until it
   * is complete, and LLM rows can be long, so a row cap alone would not bound memory.
   * @defaultValue 64 MiB (`DEFAULT_ROW_GROUP_BYTES`)
   */
  rowGroupBytes?: number;
}

/** What {@link writeParquetFromArrow} wrote. */
export interface ParquetWriteResult {
  /** The final path (the temporary file has been renamed onto it). */
  path: string;
  rows: number;
  /** File size in bytes. */
  bytes: number;
}

function writerProperties(options: ParquetWriteOptions): pq.WriterProperties {
  const rows = options.rowGroupRows ?? DEFAULT_ROW_GROUP_ROWS;
  const bytes = options.rowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES;
  if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`rowGroupRows must be a positive integer, got ${rows}`);
  if (!Number.isInteger(bytes) || bytes < 1) {
    throw new RangeError(`rowGroupBytes must be a positive integer, got ${bytes}`);
  }
  const compression = options.compression ?? DEFAULT_PARQUET_COMPRESSION;
  if (compression !== 'zstd' && compression !== 'snappy') {
    throw new RangeError(`compression must be 'zstd' or 'snappy', got '${String(compression)}'`);
  }
  return new pq.WriterPropertiesBuilder()
    .setCompression(compression === 'zstd' ? pq.Compression.ZSTD : pq.Compression.SNAPPY)
    .setMaxRowGroupSize(rows)
    .setMaxRowGroupBytes(bytes)
    .setCreatedBy('temporal-curator (parquet-wasm)')
    .build();
}

/**
 * Writes the Arrow IPC file (stream or file format) at `arrowPath` as Parquet at `parquetPath`, one record batch in
 * memory at a time: batches stream into the Parquet writer and each finished row group streams out to disk.
 *
 * The file is written to a temporary file next to `parquetPath`, fsynced and then renamed onto `parquetPath`, so readers never see a
 * partial file; the parent directory is created if needed. A dataset with no rows (even with no columns) gives a
 * valid Parquet file with its schema and no row groups.
 */
export async function writeParquetFromArrow(
  arrowPath: string,
  parquetPath: string,
  options: ParquetWriteOptions = {}
): Promise<ParquetWriteResult> {
  // Validated before any file is touched, so bad options cannot leave a temporary file behind.
  writerProperties(options).free();
  // Unique, so two exports to the same path at once cannot write into each other's file; the last rename wins.
  const tmpPath = `${parquetPath}.${randomBytes(6).toString('hex')}.tmp`;
  // A FileHandle rather than a read stream: Arrow's reader swallows read-stream errors (see readArrowRows).
  const handle = await open(arrowPath, 'r');
  let rows = 0;
  try {
    const reader = await RecordBatchReader.from(handle);
    await reader.open();
    if (!reader.schema) throw new Error(`${arrowPath} is not an Arrow IPC stream or file`);
    const schema = reader.schema;
    const batches = reader[Symbol.asyncIterator]();
    // Arrow JS yields a placeholder batch for a stream without batches, and an empty batch adds nothing to Parquet.
    const nextBatch = async (): Promise<IteratorResult<RecordBatch>> => {
      for (;;) {
        const next = await batches.next();
        if (next.done || next.value.numRows > 0) return next;
      }
    };
    const first = await nextBatch();
    await mkdir(dirname(parquetPath), { recursive: true });

    if (first.done) {
      // The streaming writer takes the schema from its first batch and fails without one; a table without rows is
      // tiny, so the in-memory writer takes it.
      const table = pq.Table.fromIPCStream(tableToIPC(new Table(schema), 'stream'));
      await writeFile(tmpPath, pq.writeParquet(table, writerProperties(options)));
    } else {
      let pending: typeof first | undefined = first;
      // parquet-wasm reports a failing source only as "Dyn casting error"; the real cause is kept here.
      let sourceError: unknown;
      const source = new ReadableStream<pq.RecordBatch>({
        async pull(controller) {
          try {
            const next = pending ?? (await nextBatch());
            pending = undefined;
            if (next.done) {
              controller.close();
              return;
            }
            rows += next.value.numRows;
            // The IPC bytes of a single batch are the only way across: Arrow JS and parquet-wasm share no memory.
            const wasmTable = pq.Table.fromIPCStream(RecordBatchStreamWriter.writeAll([next.value]).toUint8Array(true));
            try {
              const batch = wasmTable.recordBatch(0);
              if (!batch) throw new Error('parquet-wasm read no record batch from a non-empty one');
              controller.enqueue(batch);
            } finally {
              wasmTable.free();
            }
          } catch (error) {
            sourceError ??= error;
            controller.error(error);
          }
        },
      });
      try {
        const parquet = await pq.transformParquetStream(source, writerProperties(options));
        await pipeline(Readable.fromWeb(parquet), createWriteStream(tmpPath));
      } catch (error) {
        throw sourceError ?? error;
      }
      if (sourceError) throw sourceError;
    }

    await fsyncFile(tmpPath);
    await rename(tmpPath, parquetPath);
  } catch (error) {
    await rm(tmpPath, { force: true }).catch(() => undefined);
    throw new Error(`Parquet export of ${arrowPath} failed: ${(error as Error)?.message ?? String(error)}`, {
      cause: error,
    });
  } finally {
    await handle.close();
  }
  return { path: parquetPath, rows, bytes: (await stat(parquetPath)).size };
}
