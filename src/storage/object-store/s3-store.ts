/**
 * The object store as an S3 bucket (any S3-compatible server: AWS, versitygw, SeaweedFS, MinIO). Create-if-absent is
 * `If-None-Match: *` and compare-and-swap is `If-Match: <etag>`: the store decides, so concurrent writers on several
 * machines get exactly one winner (docs/storage-backends.md has what versitygw answers). Large objects go up as a
 * multipart upload of {@link S3ObjectStoreOptions.partSize} parts, at most two parts in memory at a time.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import {
  checkKey,
  ObjectExistsError,
  type ObjectBody,
  type ObjectEntry,
  type ObjectKey,
  type ObjectStore,
  type UploadOptions,
  type UploadResult,
} from './object-store';
import { hashingStream } from './hashing-stream';

/** Where the objects go and how to reach the store. */
export interface S3ObjectStoreOptions {
  bucket: string;
  /** Key prefix of the root, without a leading or trailing `/` (`''` for the bucket's root). */
  prefix: string;
  /** A client to use; by default one made from the standard AWS variables (see {@link s3ClientFromEnv}). */
  client?: S3Client;
  /**
   * Multipart part size in bytes (S3's minimum is 5 MiB for all parts but the last).
   * @defaultValue 8 MiB
   */
  partSize?: number;
}

/**
 * An S3 client from the standard variables: `AWS_ENDPOINT_URL_S3` (or `AWS_ENDPOINT_URL`) for a non-AWS store, then
 * path-style addressing; `AWS_REGION` (default `us-east-1`); `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`
 * (/`AWS_SESSION_TOKEN`) from `env` when set there, else the SDK's default chain (profiles, instance roles).
 */
export function s3ClientFromEnv(env: NodeJS.ProcessEnv = process.env): S3Client {
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  return new S3Client({
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    ...(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? {
          credentials: {
            accessKeyId: env.AWS_ACCESS_KEY_ID,
            secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
            sessionToken: env.AWS_SESSION_TOKEN || undefined,
          },
        }
      : {}),
  });
}

const status = (err: unknown): number | undefined =>
  (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

/** 409 ConditionalRequestConflict: another conditional write on the key is in progress; S3 asks for a retry. */
async function retryConflicts<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (status(err) !== 409 || attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 20 * attempt));
    }
  }
}

/** An {@link ObjectStore} over `s3://bucket/prefix`. */
export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly root: string;
  private readonly partSize: number;

  constructor(opts: S3ObjectStoreOptions) {
    this.client = opts.client ?? s3ClientFromEnv();
    this.bucket = opts.bucket;
    this.root = opts.prefix === '' ? '' : `${opts.prefix}/`;
    this.partSize = opts.partSize ?? 8 << 20;
    if (this.partSize < 5 << 20) throw new Error(`S3 multipart parts must be at least 5 MiB (got ${this.partSize})`);
    this.location = `s3://${this.bucket}/${opts.prefix}`;
  }

  private key(key: ObjectKey): string {
    return this.root + checkKey(key);
  }

  private async putObject(input: Omit<PutObjectCommandInput, 'Bucket'>): Promise<string | undefined> {
    try {
      const out = await retryConflicts(() => this.client.send(new PutObjectCommand({ Bucket: this.bucket, ...input })));
      return out.ETag ?? '';
    } catch (err) {
      // 412: the condition failed; 404: If-Match on a key that is gone.
      if (status(err) === 412 || (input.IfMatch !== undefined && status(err) === 404)) return undefined;
      throw err;
    }
  }

  async put(key: ObjectKey, body: Buffer | string): Promise<string> {
    return (await this.putObject({ Key: this.key(key), Body: Buffer.from(body) }))!;
  }

  putIfAbsent(key: ObjectKey, body: Buffer | string): Promise<string | undefined> {
    return this.putObject({ Key: this.key(key), Body: Buffer.from(body), IfNoneMatch: '*' });
  }

  putIfMatch(key: ObjectKey, body: Buffer | string, etag: string): Promise<string | undefined> {
    return this.putObject({ Key: this.key(key), Body: Buffer.from(body), IfMatch: etag });
  }

  private async getObject(key: ObjectKey): Promise<{ body: Readable; etag: string } | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
      return { body: out.Body as Readable, etag: out.ETag ?? '' };
    } catch (err) {
      if (status(err) === 404) return undefined;
      throw err;
    }
  }

  async get(key: ObjectKey): Promise<ObjectBody | undefined> {
    const out = await this.getObject(key);
    if (!out) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of out.body) chunks.push(chunk as Buffer);
    return { body: Buffer.concat(chunks), etag: out.etag };
  }

  async read(key: ObjectKey): Promise<AsyncIterable<Buffer> | undefined> {
    return (await this.getObject(key))?.body;
  }

  async upload(
    key: ObjectKey,
    source: AsyncIterable<Buffer | string>,
    opts: UploadOptions = {}
  ): Promise<UploadResult> {
    const Key = this.key(key);
    const stream = hashingStream(source);
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let uploadId: string | undefined;
    const parts: Promise<CompletedPart>[] = [];
    const ifNoneMatch = opts.ifAbsent ? '*' : undefined;

    const sendPart = async (body: Buffer): Promise<void> => {
      // CRC32 declared up front: each part carries its checksum and the store checks the parts listed at completion
      // against them (parts listed with checksums the upload did not declare are refused).
      uploadId ??= (
        await this.client.send(
          new CreateMultipartUploadCommand({ Bucket: this.bucket, Key, ChecksumAlgorithm: 'CRC32' })
        )
      ).UploadId;
      const PartNumber = parts.length + 1;
      // One part in flight while the next one fills: memory stays at about two parts.
      if (parts.length > 0) await parts[parts.length - 1];
      const part = this.client
        .send(new UploadPartCommand({ Bucket: this.bucket, Key, UploadId: uploadId, PartNumber, Body: body }))
        .then((out) => ({ PartNumber, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32 }));
      // Handled here too: a part that fails while the next one is filling must not be an unhandled rejection.
      part.catch(() => undefined);
      parts.push(part);
    };

    try {
      for await (const buf of stream.chunks) {
        pending.push(buf);
        pendingBytes += buf.length;
        if (pendingBytes >= this.partSize) {
          const all = Buffer.concat(pending);
          pending = [all.subarray(this.partSize)];
          pendingBytes = pending[0].length;
          await sendPart(all.subarray(0, this.partSize));
        }
      }
      const rest = Buffer.concat(pending);
      if (uploadId === undefined) {
        // Smaller than one part: a plain PUT, with the same create-only condition.
        if ((await this.putObject({ Key, Body: rest, IfNoneMatch: ifNoneMatch })) === undefined) {
          throw new ObjectExistsError(`${this.location}/${key}`);
        }
      } else {
        if (rest.length > 0) await sendPart(rest);
        const done = await Promise.all(parts);
        try {
          await this.client.send(
            new CompleteMultipartUploadCommand({
              Bucket: this.bucket,
              Key,
              UploadId: uploadId,
              MultipartUpload: { Parts: done },
              IfNoneMatch: ifNoneMatch,
            })
          );
        } catch (err) {
          if (status(err) === 412) throw new ObjectExistsError(`${this.location}/${key}`);
          throw err;
        }
        uploadId = undefined;
      }
    } catch (err) {
      await Promise.allSettled(parts);
      if (uploadId !== undefined) {
        const UploadId = uploadId;
        await this.client
          .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId }))
          .catch(() => undefined);
      }
      throw err;
    }
    return stream.result();
  }

  async *list(prefix: string): AsyncIterable<ObjectEntry> {
    let ContinuationToken: string | undefined;
    do {
      const out = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.root + prefix, ContinuationToken })
      );
      for (const o of out.Contents ?? []) {
        if (o.Key) yield { key: o.Key.slice(this.root.length), size: o.Size ?? 0 };
      }
      ContinuationToken = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  async delete(key: ObjectKey): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
  }

  async deleteIfMatch(key: ObjectKey, etag: string): Promise<boolean> {
    try {
      await retryConflicts(() =>
        this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(key), IfMatch: etag }))
      );
      return true;
    } catch (err) {
      if (status(err) === 412 || status(err) === 404) return false;
      throw err;
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
