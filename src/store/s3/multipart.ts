/**
 * Multipart upload of a local file with bounded memory and parallel parts.
 *
 * - Parts are read in file order (so the SHA-256 of exactly the bytes sent is computed while sending) and
 *   uploaded up to `concurrency` at a time: memory ≤ partSize × concurrency.
 * - Each part carries Content-MD5 (the server refuses a part damaged in transit) and is retried on
 *   transient errors on its own.
 * - Before completing, the hash of what was sent must equal the SHA-256 recorded in the object's metadata
 *   (set at creation): a file that changed under the upload is never completed.
 * - On any failure the upload is aborted: no object appears, and no parts are left billed.
 * - Unconditional only: radosgw 16 ignores If-None-Match / If-Match on CompleteMultipartUpload, so the
 *   store sends conditional puts of large files as one streamed PutObject instead.
 */
import type { FileHandle } from 'node:fs/promises';
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { ErrorCodes, IntegrityError, StoreError } from '../../core/errors.js';
import { md5Base64, sha256Hasher } from '../../core/hash.js';
import { Semaphore } from '../../core/semaphore.js';

/** S3 allows at most 10,000 parts, each at least 5 MiB (but the last). */
export const MIN_PART_SIZE = 5 << 20;
export const MAX_PARTS = 10_000;

export interface MultipartInput {
  client: S3Client;
  bucket: string;
  /** Full object key (store prefix included). */
  objectKey: string;
  /** The store key, for error context. */
  key: string;
  file: FileHandle;
  size: number;
  /** SHA-256 recorded in the object's metadata; the bytes sent must hash to it. */
  sha256: string;
  contentType?: string;
  partSize: number;
  concurrency: number;
  /** Wraps every request (retries, error mapping). */
  send<T>(what: string, fn: () => Promise<T>): Promise<T>;
}

export function partSizeFor(size: number, wanted: number): number {
  return Math.max(MIN_PART_SIZE, wanted, Math.ceil(size / MAX_PARTS));
}

export async function readFully(fh: FileHandle, buf: Buffer, position: number, key: string): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesRead } = await fh.read(buf, off, buf.length - off, position + off);
    if (bytesRead === 0) {
      throw new StoreError('source file shrank during the upload', { key, position: position + off });
    }
    off += bytesRead;
  }
}

/**
 * Uploads the file; returns the completed object's ETag, or undefined when the server's completion
 * response has none (radosgw 16 answers with an empty <ETag/>). Never leaves a half-visible object.
 */
export async function uploadMultipart(m: MultipartInput): Promise<string | undefined> {
  const created = await m.send('create multipart upload', () =>
    m.client.send(
      new CreateMultipartUploadCommand({
        Bucket: m.bucket,
        Key: m.objectKey,
        Metadata: { sha256: m.sha256 },
        ContentType: m.contentType,
      }),
    ),
  );
  const uploadId = created.UploadId;
  if (!uploadId)
    throw new StoreError('server returned no multipart upload id', { bucket: m.bucket, key: m.key });
  const parts: CompletedPart[] = [];
  try {
    const partSize = partSizeFor(m.size, m.partSize);
    const hash = sha256Hasher();
    const slots = new Semaphore(Math.max(1, m.concurrency));
    const inflight: Array<Promise<void>> = [];
    let failed: { error: unknown } | undefined;
    for (let n = 1, pos = 0; pos < m.size && !failed; n++, pos += partSize) {
      const release = await slots.acquire();
      if (failed) {
        release();
        break;
      }
      const len = Math.min(partSize, m.size - pos);
      let body: Buffer;
      try {
        body = Buffer.allocUnsafe(len);
        await readFully(m.file, body, pos, m.key);
      } catch (e) {
        release();
        failed = { error: e };
        break;
      }
      hash.update(body);
      const md5 = md5Base64(body);
      const partNumber = n;
      inflight.push(
        m
          .send(`upload part ${partNumber}`, () =>
            m.client.send(
              new UploadPartCommand({
                Bucket: m.bucket,
                Key: m.objectKey,
                UploadId: uploadId,
                PartNumber: partNumber,
                Body: body,
                ContentLength: len,
                ContentMD5: md5,
              }),
            ),
          )
          .then((r) => {
            if (!r.ETag)
              throw new StoreError('server returned no part ETag', { key: m.key, part: partNumber });
            parts[partNumber - 1] = { PartNumber: partNumber, ETag: r.ETag };
          })
          .catch((e: unknown) => {
            failed ??= { error: e };
          })
          .finally(release),
      );
    }
    await Promise.all(inflight);
    if (failed) throw failed.error;
    const sent = hash.digest('hex');
    if (sent !== m.sha256) {
      throw new IntegrityError(
        ErrorCodes.STORE_INTEGRITY,
        'the bytes uploaded do not match the SHA-256 recorded',
        {
          bucket: m.bucket,
          key: m.key,
          expected: m.sha256,
          actual: sent,
        },
      );
    }
  } catch (e) {
    await abort(m, uploadId);
    throw e;
  }
  let done: { ETag?: string };
  try {
    done = await m.send('complete multipart upload', () =>
      m.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: m.bucket,
          Key: m.objectKey,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
      ),
    );
  } catch (e) {
    // failed: the upload is not an object; abort it (a no-op if it completed after all)
    await abort(m, uploadId);
    throw e;
  }
  return done.ETag || undefined;
}

async function abort(m: MultipartInput, uploadId: string): Promise<void> {
  await m
    .send('abort multipart upload', () =>
      m.client.send(
        new AbortMultipartUploadCommand({ Bucket: m.bucket, Key: m.objectKey, UploadId: uploadId }),
      ),
    )
    .catch(() => undefined);
}
