/**
 * Writes dataset rows as an Arrow IPC stream file and reads them back, without holding the dataset in memory.
 *
 * The stream format (not the random-access file format) is used because `pyarrow.ipc.open_stream` and Hugging Face
 * `datasets.Dataset.from_file` read it directly. Type mapping rules are documented in `arrow-schema.ts`.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname } from 'node:path';
import { finished } from 'node:stream/promises';
import {
  AsyncByteQueue,
  makeBuilder,
  RecordBatch,
  RecordBatchReader,
  RecordBatchStreamWriter,
  type Schema,
  Struct,
} from 'apache-arrow';
import { DEFAULT_ARROW_BATCH_ROWS } from '../defaults';
import { createBatchDecoder, createRowEncoder, type JsonRow, SchemaInferrer } from './arrow-schema';

export { SchemaInferrer, type JsonRow } from './arrow-schema';

/** What {@link writeArrowFile} wrote. */
export interface ArrowWriteResult {
  /** The final path (the temporary file has been renamed onto it). */
  path: string;
  rows: number;
  /** File size in bytes. */
  bytes: number;
  /** Hex SHA-256 of the file bytes. */
  sha256: string;
  /** Top-level columns in file order, with Arrow's type names such as `Int64` or `List<Struct<{a:Utf8}>>`. */
  columns: { name: string; type: string }[];
}

/** Options for {@link writeArrowFile}. */
export interface ArrowWriteOptions {
  /** Rows per record batch, which bounds memory use while writing. Default 10,000. */
  batchRows?: number;
}

/**
 * A sink that hands each chunk over synchronously. The writer's default sink is an unbounded queue that is drained
 * asynchronously, which would let a fast producer buffer the whole file; collecting chunks here lets the caller write
 * them out and wait for the disk before encoding the next batch.
 */
class ChunkCollector extends AsyncByteQueue {
  chunks: Uint8Array[] = [];
  closedByWriter = false;

  override write(chunk: Uint8Array): void {
    this.chunks.push(chunk);
  }

  override close(): void {
    this.closedByWriter = true;
    super.close();
  }

  take(): Buffer {
    // One copy per batch: the chunks can be views onto builder memory, and one write beats dozens of tiny ones.
    const buffer = Buffer.concat(this.chunks);
    this.chunks = [];
    return buffer;
  }
}

/**
 * Writes rows to `path` as an Arrow IPC stream, in two passes over `rows()`: the first infers the schema (see
 * {@link SchemaInferrer}), the second encodes one record batch per `batchRows` rows. `rows` must yield the same rows
 * on both calls; a row count, key or kind that differs makes the write fail.
 *
 * The file is written to `${path}.tmp`, fsynced and then renamed onto `path`, so readers never see a partial file;
 * the parent directory is created if needed. The SHA-256 is computed over the bytes as they are written. Zero rows
 * produce a valid stream with an empty schema.
 */
export async function writeArrowFile(
  path: string,
  rows: () => AsyncIterable<JsonRow> | Iterable<JsonRow>,
  options: ArrowWriteOptions = {}
): Promise<ArrowWriteResult> {
  const batchRows = options.batchRows ?? DEFAULT_ARROW_BATCH_ROWS;
  if (!Number.isInteger(batchRows) || batchRows < 1) {
    throw new RangeError(`batchRows must be a positive integer, got ${batchRows}`);
  }

  const inferrer = new SchemaInferrer();
  for await (const row of rows()) inferrer.observe(row);
  const schema = inferrer.schema();

  const tmpPath = `${path}.tmp`;
  await mkdir(dirname(path), { recursive: true });
  const out = createWriteStream(tmpPath, { highWaterMark: 1 << 20 });
  const hash = createHash('sha256');
  let bytes = 0;
  // A write error can surface between awaits; keep it for the next emit instead of crashing the process.
  let streamError: Error | undefined;
  out.on('error', (error) => (streamError ??= error));

  const sink = new ChunkCollector();
  const writer = new RecordBatchStreamWriter();
  writer.reset(sink, schema);

  const emit = async (): Promise<void> => {
    const buffer = sink.take();
    if (streamError) throw streamError;
    if (buffer.byteLength === 0) return;
    hash.update(buffer);
    bytes += buffer.byteLength;
    if (!out.write(buffer)) await once(out, 'drain');
  };

  try {
    const encode = createRowEncoder(schema);
    const builder = makeBuilder({ type: new Struct(schema.fields), nullValues: [null, undefined] });
    let written = 0;

    const writeBatch = async (): Promise<void> => {
      writer.write(new RecordBatch(schema, builder.flush()));
      // The writer closes itself instead of throwing when a batch's schema differs from the stream's.
      if (sink.closedByWriter) throw new Error('Arrow writer rejected a record batch: schema mismatch');
      await emit();
    };

    await emit();
    for await (const row of rows()) {
      try {
        // StructBuilder accepts an array in field order in place of a row object (see createRowEncoder).
        builder.append(encode(row) as unknown as Struct['TValue']);
      } catch (error) {
        throw new Error(`Row ${written} of ${path}: ${(error as Error).message}`, { cause: error });
      }
      written++;
      if (builder.length >= batchRows) await writeBatch();
    }
    if (builder.length > 0) await writeBatch();
    if (written !== inferrer.rows) {
      throw new Error(
        `rows() yielded ${inferrer.rows} rows on the first pass and ${written} on the second; it must be repeatable`
      );
    }

    writer.close();
    await emit();
    out.end();
    await finished(out);
    await fsyncFile(tmpPath);
    await rename(tmpPath, path);
  } catch (error) {
    out.destroy();
    await finished(out).catch(() => undefined);
    await rm(tmpPath, { force: true }).catch(() => undefined);
    throw error;
  }

  return {
    path,
    rows: inferrer.rows,
    bytes,
    sha256: hash.digest('hex'),
    columns: schema.fields.map((f) => ({ name: f.name, type: String(f.type) })),
  };
}

/**
 * Without fsync, a crash shortly after the rename can leave an empty or truncated file under the final name. fsync
 * applies to the file, not the descriptor, so a fresh one works after the write stream has closed its own (the
 * stream's `flush` option would do the same but needs Node 20.10).
 */
export async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Streams the rows of an Arrow IPC stream (or file-format) file as plain JSON objects, one record batch in memory at
 * a time. This is the inverse of the mapping in {@link writeArrowFile}: nulls and missing keys both come back as
 * `null`, Int64 values come back as numbers when they are safe integers (bigint otherwise), and columns that held
 * conflicting kinds come back as strings.
 */
export async function* readArrowRows(path: string): AsyncGenerator<JsonRow> {
  // A FileHandle rather than a read stream: Arrow's reader swallows read-stream errors, so a missing file would
  // silently read as zero rows.
  const handle = await open(path, 'r');
  try {
    const reader = await RecordBatchReader.from(handle);
    await reader.open();
    if (!reader.schema) throw new Error(`${path} is not an Arrow IPC stream or file`);
    let decoderSchema: Schema | undefined;
    let decoder: ReturnType<typeof createBatchDecoder> | undefined;
    for await (const batch of reader) {
      if (batch.schema !== decoderSchema) {
        decoderSchema = batch.schema;
        decoder = createBatchDecoder(batch.schema);
      }
      const read = decoder!(batch.data);
      for (let i = 0; i < batch.numRows; i++) yield read(i);
    }
  } finally {
    await handle.close();
  }
}

/** Hex SHA-256 of a file's contents, read as a stream. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
