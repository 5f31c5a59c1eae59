/**
 * S3Store: an ObjectStore on S3 or anything that speaks it (AWS S3, Cloudflare R2, MinIO, Ceph radosgw).
 *
 * - Keys live under `prefix/` in one bucket; they are validated exactly like LocalStore's (validateKey).
 * - Integrity end to end: the SHA-256 of every object is computed while writing and stored with it as
 *   user metadata (x-amz-meta-sha256); each request body also carries Content-MD5 (transport check). Every
 *   get/getObject/getToFile hashes what it received and compares: a mismatch, or an object without a
 *   recorded SHA-256, is an IntegrityError (E_STORE_INTEGRITY) and the bytes are never returned.
 * - etag = the ETag exactly as the server returns it (quoted); getObject returns the ETag of the body it
 *   returns (one GET), so a conditional replace based on it is a true compare-and-swap.
 * - put with `ifNoneMatch: '*'` / `ifMatch: etag` sends If-None-Match / If-Match; 412 (and 409
 *   ConditionalRequestConflict, and 404 for If-Match on a missing key) → PreconditionFailedError.
 *   `ifMatchQuoting: 'unquoted'` sends the bare ETag for radosgw 16; the default is the quoted HTTP form.
 * - putFile streams large files with multipart (s3/multipart.ts): bounded memory, parallel parts, aborted
 *   on any failure; a conditional putFile of a large file is one streamed PutObject instead (radosgw 16
 *   ignores preconditions on CompleteMultipartUpload). getToFile streams into a temp file next to the destination, fsyncs, checks, renames.
 * - Transient failures (5xx, throttling, timeouts, connection resets) are retried with jittered backoff
 *   (core/retry.ts); the SDK's own retries are off so there is exactly one retry policy. Permanent ones are
 *   StoreErrors naming the bucket and key.
 * - No localPath/scratchDir: readers download into os.tmpdir() (pipeline/segments.ts).
 */

import { createHash } from 'node:crypto';
import { type FileHandle, mkdir, open, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { replaceFileDurable, writeAll } from '../core/durable.js';
import { ClosedError, ErrorCodes, IntegrityError, StoreError } from '../core/errors.js';
import { fileChunks, md5Base64, sha256Chunks, sha256Handle, sha256Hex } from '../core/hash.js';
import { isTransient, type RetryOptions, withRetry } from '../core/retry.js';
import { compareKeys, validateKey, validatePrefix } from './keys.js';
import {
  checkGivenSha256,
  type ObjectInfo,
  type ObjectStore,
  type PutFileOptions,
  type PutOptions,
} from './object-store.js';
import type { S3ConnectionOptions, S3Location } from './s3/config.js';
import {
  isNotFoundS3,
  isPreconditionS3,
  notFound,
  preconditionFailed,
  s3ErrorShape,
  storeErrorOf,
} from './s3/errors.js';
import { readFully, uploadMultipart } from './s3/multipart.js';

export interface S3StoreOptions extends S3Location, S3ConnectionOptions {
  /** Files larger than this go through multipart upload (default: the part size). */
  multipartThreshold?: number;
  /** Retry policy for transient errors (default: 6 attempts, 100 ms base, 5 s cap, full jitter). */
  retry?: Pick<RetryOptions, 'attempts' | 'baseMs' | 'maxMs' | 'onRetry'>;
  /** Socket connect timeout (default 5 s). */
  connectTimeoutMs?: number;
  /** Longest a request may stay idle on its socket (default 60 s). */
  idleTimeoutMs?: number;
  /** Keys per list request (S3 max and default: 1000). */
  listPageSize?: number;
}

const SHA_META = 'sha256';
const SHA_RE = /^[0-9a-f]{64}$/;
const DEFAULT_PART = 16 << 20;
const WRITE_BUF = 4 << 20;
/** S3's limit for one PutObject. */
const MAX_SINGLE_PUT = 5 * 1024 ** 3;

function bare(etag: string): string {
  return etag.replace(/^(W\/)?"(.*)"$/, '$2');
}

export class S3Store implements ObjectStore {
  readonly kind = 's3';
  readonly url: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly #client: S3Client;
  readonly #quoting: 'quoted' | 'unquoted';
  readonly #partSize: number;
  readonly #partConcurrency: number;
  readonly #threshold: number;
  readonly #retry: RetryOptions;
  readonly #listPageSize: number | undefined;
  #closed = false;

  constructor(opts: S3StoreOptions) {
    // The SDK warns on Node < 22 about its releases after January 2027; this build pins one that supports 20.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.bucket = opts.bucket;
    this.prefix = opts.prefix.replace(/^\/+|\/+$/g, '');
    if (this.prefix !== '') validateKey(this.prefix);
    this.url = `s3://${this.bucket}/${this.prefix}`;
    this.#quoting = opts.ifMatchQuoting ?? 'quoted';
    this.#partSize = opts.partSize ?? DEFAULT_PART;
    this.#partConcurrency = opts.partConcurrency ?? 4;
    this.#threshold = opts.multipartThreshold ?? this.#partSize;
    this.#listPageSize = opts.listPageSize;
    this.#retry = { attempts: 6, baseMs: 100, maxMs: 5_000, ...opts.retry, retryable: isTransient };
    const endpoint = opts.endpoint;
    this.#client = new S3Client({
      ...(endpoint ? { endpoint } : {}),
      region: opts.region ?? (endpoint ? 'us-east-1' : undefined),
      forcePathStyle: opts.forcePathStyle ?? (endpoint ? true : undefined),
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      // one retry policy (ours); checksums: we send Content-MD5 and record SHA-256 ourselves, which every
      // S3-compatible server accepts (the SDK's default CRC trailers are not understood by older gateways)
      maxAttempts: 1,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      followRegionRedirects: true,
      requestHandler: {
        connectionTimeout: opts.connectTimeoutMs ?? 5_000,
        // an idle socket (no bytes either way) for this long fails the attempt with a retryable TimeoutError;
        // no cap on the total time, which a 1 GB object on a slow link legitimately needs
        socketTimeout: opts.idleTimeoutMs ?? 60_000,
        httpAgent: { keepAlive: true, maxSockets: 64 },
        httpsAgent: { keepAlive: true, maxSockets: 64 },
      },
    });
  }

  async get(key: string): Promise<Uint8Array> {
    return (await this.getObject(key)).body;
  }

  async getObject(key: string): Promise<{ body: Uint8Array; info: ObjectInfo }> {
    const full = this.#full(key);
    return this.#retrying('get', key, async () => {
      const out = await this.#getResponse(full, key);
      const body = await out.Body!.transformToByteArray();
      const sha256 = this.#verify(key, out, sha256Hex(body), body.byteLength);
      return { body, info: this.#info(key, out, body.byteLength, sha256) };
    });
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const full = this.#full(key);
    return this.#retrying('head', key, async () => {
      try {
        const out = await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: full }));
        return this.#info(key, out, out.ContentLength ?? 0, out.Metadata?.[SHA_META]);
      } catch (e) {
        if (isNotFoundS3(e)) return undefined;
        throw e;
      }
    });
  }

  async put(key: string, body: Uint8Array | string, opts: PutOptions = {}): Promise<ObjectInfo> {
    const full = this.#full(key);
    const data = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const sha256 = sha256Hex(data);
    checkGivenSha256(opts.sha256, sha256, { bucket: this.bucket, key });
    const md5 = md5Base64(data);
    return this.#putObject(key, full, () => data, data.byteLength, { sha256, md5 }, opts);
  }

  /**
   * Small files: one PutObject from memory. Large files: multipart (parallel parts) — unless the put is
   * conditional: then one streamed PutObject (bounded memory, up to S3's 5 GiB single-put limit), because
   * radosgw 16 ignores If-None-Match / If-Match on CompleteMultipartUpload (measured), and a precondition
   * must never be silently dropped.
   */
  async putFile(key: string, path: string, opts: PutFileOptions = {}): Promise<ObjectInfo> {
    const full = this.#full(key);
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw storeErrorOf('cannot read the source file', e, { bucket: this.bucket, key, file: path });
    }
    let info: ObjectInfo;
    try {
      const st = await fh.stat();
      if (!st.isFile())
        throw new StoreError('source is not a regular file', { bucket: this.bucket, key, file: path });
      const conditional = opts.ifNoneMatch !== undefined || opts.ifMatch !== undefined;
      if (st.size <= this.#threshold) {
        const data = Buffer.allocUnsafe(st.size);
        await readFully(fh, data, 0, key);
        info = await this.put(key, data, opts);
      } else if (conditional) {
        if (st.size > MAX_SINGLE_PUT) {
          throw new StoreError('a conditional put is limited to 5 GiB (one PutObject)', {
            bucket: this.bucket,
            key,
            file: path,
            size: st.size,
          });
        }
        // one pass for SHA-256 (recorded) and MD5 (the server checks the bytes it receives against it, so a
        // file changed after this pass is refused with BadDigest)
        const sums = await this.#sums(fh);
        checkGivenSha256(opts.sha256, sums.sha256, { bucket: this.bucket, key });
        const stream = () => fh.createReadStream({ start: 0, end: st.size - 1, autoClose: false });
        info = await this.#putObject(key, full, stream, st.size, sums, opts);
      } else {
        // the SHA-256 goes into the object's metadata at creation: the caller's (checked against the bytes
        // sent before completion) or one read pass ahead of the upload
        const sha256 = opts.sha256?.toLowerCase() ?? (await sha256Handle(fh)).sha256;
        const etag = await uploadMultipart({
          client: this.#client,
          bucket: this.bucket,
          objectKey: full,
          key,
          file: fh,
          size: st.size,
          sha256,
          contentType: opts.contentType,
          partSize: this.#partSize,
          concurrency: this.#partConcurrency,
          send: (what, fn) => this.#retrying(what, key, fn),
        });
        // radosgw 16 completes without an ETag in its answer: read it back, if the object is still ours
        const tag = etag ?? (await this.#etagOf(key, sha256, st.size));
        info = { key, size: st.size, sha256, ...(tag ? { etag: tag } : {}) };
      }
    } catch (e) {
      throw storeErrorOf('putFile failed', e, { bucket: this.bucket, key, file: path });
    } finally {
      await fh.close();
    }
    if (opts.consume) await unlink(path).catch(() => undefined);
    return info;
  }

  /** One PutObject (retried on transient errors; `body` is called once per attempt). */
  async #putObject(
    key: string,
    full: string,
    body: () => Uint8Array | Readable,
    size: number,
    sums: { sha256: string; md5: string },
    opts: PutOptions,
  ): Promise<ObjectInfo> {
    const etag = await this.#retrying('put', key, async () => {
      try {
        const out = await this.#client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: full,
            Body: body(),
            ContentLength: size,
            ContentMD5: sums.md5,
            ContentType: opts.contentType,
            Metadata: { [SHA_META]: sums.sha256 },
            ...this.#conditions(opts),
          }),
        );
        return out.ETag;
      } catch (e) {
        throw this.#conditionalError(e, key, opts);
      }
    });
    if (!etag) throw new StoreError('server returned no ETag', { bucket: this.bucket, key });
    return { key, size, etag, sha256: sums.sha256 };
  }

  async getToFile(key: string, path: string): Promise<ObjectInfo> {
    const full = this.#full(key);
    const dest = resolve(path);
    const dir = dirname(dest);
    await mkdir(dir, { recursive: true });
    return this.#retrying('getToFile', key, async () => {
      const out = await this.#getResponse(full, key);
      return replaceFileDurable(dest, async (fh) => {
        // the body arrives in small chunks: written in batches of WRITE_BUF
        let pending: Uint8Array[] = [];
        let pendingBytes = 0;
        const flush = async () => {
          if (pendingBytes === 0) return;
          await writeAll(fh, pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes));
          pending = [];
          pendingBytes = 0;
        };
        const received = await sha256Chunks(out.Body as Readable, async (chunk) => {
          pending.push(chunk);
          pendingBytes += chunk.byteLength;
          if (pendingBytes >= WRITE_BUF) await flush();
        });
        await flush();
        const sha256 = this.#verify(key, out, received.sha256, received.size);
        return this.#info(key, out, received.size, sha256);
      });
    });
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    validatePrefix(prefix);
    this.#assertOpen();
    const base = this.prefix === '' ? '' : `${this.prefix}/`;
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const page = await this.#retrying('list', prefix, () =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: base + prefix,
            ContinuationToken: token,
            MaxKeys: this.#listPageSize,
          }),
        ),
      );
      for (const o of page.Contents ?? []) {
        if (!o.Key?.startsWith(base)) continue;
        out.push({
          key: o.Key.slice(base.length),
          size: o.Size ?? 0,
          ...(o.ETag ? { etag: o.ETag } : {}),
          ...(o.LastModified ? { lastModified: o.LastModified } : {}),
        });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    out.sort((a, b) => compareKeys(a.key, b.key));
    return out;
  }

  async delete(key: string): Promise<void> {
    const full = this.#full(key);
    await this.#retrying('delete', key, async () => {
      try {
        await this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: full }));
      } catch (e) {
        if (!isNotFoundS3(e)) throw e;
      }
    });
  }

  /** Destroys the client (its sockets). Idempotent; later calls throw ClosedError. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---------------------------------------------------------------------------------------------------

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('S3Store', { bucket: this.bucket, store: this.url });
  }

  #full(key: string): string {
    validateKey(key);
    this.#assertOpen();
    return this.prefix === '' ? key : `${this.prefix}/${key}`;
  }

  /** Runs one S3 operation with the store's retry policy; errors come out as StrataErrors. */
  async #retrying<T>(what: string, key: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(async () => {
      this.#assertOpen();
      try {
        return await fn();
      } catch (e) {
        throw storeErrorOf(`${what} failed`, e, { bucket: this.bucket, key });
      }
    }, this.#retry);
  }

  async #getResponse(full: string, key: string): Promise<GetObjectCommandOutput> {
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: full }));
      if (!out.Body) throw new StoreError('server returned no body', { bucket: this.bucket, key });
      return out;
    } catch (e) {
      if (isNotFoundS3(e)) throw notFound(this.bucket, key);
      throw e;
    }
  }

  #conditions(opts: PutOptions): { IfNoneMatch?: string; IfMatch?: string } {
    const c: { IfNoneMatch?: string; IfMatch?: string } = {};
    if (opts.ifNoneMatch !== undefined) c.IfNoneMatch = '*';
    if (opts.ifMatch !== undefined) {
      const b = bare(opts.ifMatch);
      c.IfMatch = this.#quoting === 'unquoted' ? b : `"${b}"`;
    }
    return c;
  }

  /** A failed conditional write → PreconditionFailedError; anything else passes on unchanged. */
  #conditionalError(e: unknown, key: string, opts: PutOptions): unknown {
    if (opts.ifNoneMatch === undefined && opts.ifMatch === undefined) return e;
    const { code } = s3ErrorShape(e);
    const ctx = { ...(opts.ifMatch !== undefined ? { expected: opts.ifMatch } : {}), s3Code: code };
    if (isPreconditionS3(e)) {
      return preconditionFailed(
        opts.ifNoneMatch !== undefined
          ? 'object already exists (ifNoneMatch: *)'
          : 'object changed (ifMatch etag mismatch)',
        this.bucket,
        key,
        ctx,
      );
    }
    if (
      opts.ifMatch !== undefined &&
      (code === 'NoSuchKey' || (isNotFoundS3(e) && code !== 'NoSuchUpload'))
    ) {
      return preconditionFailed('no object to replace (ifMatch)', this.bucket, key, ctx);
    }
    return e;
  }

  /** Checks what was received against the recorded SHA-256 and length; returns the SHA-256. */
  #verify(
    key: string,
    out: { Metadata?: Record<string, string>; ContentLength?: number },
    actual: string,
    size: number,
  ): string {
    const recorded = out.Metadata?.[SHA_META]?.toLowerCase();
    const ctx = { bucket: this.bucket, key };
    if (out.ContentLength !== undefined && out.ContentLength !== size) {
      throw new StoreError(
        `received ${size} bytes, expected ${out.ContentLength}`,
        { ...ctx, expectedSize: out.ContentLength, actualSize: size },
        { transient: true },
      );
    }
    if (!recorded || !SHA_RE.test(recorded)) {
      throw new IntegrityError(
        ErrorCodes.STORE_INTEGRITY,
        'object has no recorded SHA-256 (not written by Strata?)',
        ctx,
      );
    }
    if (recorded !== actual) {
      throw new IntegrityError(
        ErrorCodes.STORE_INTEGRITY,
        'object content does not match its recorded SHA-256',
        {
          ...ctx,
          expected: recorded,
          actual,
        },
      );
    }
    return actual;
  }

  #info(
    key: string,
    out: { ETag?: string; LastModified?: Date; Metadata?: Record<string, string> },
    size: number,
    sha256: string | undefined,
  ): ObjectInfo {
    return {
      key,
      size,
      ...(out.ETag ? { etag: out.ETag } : {}),
      ...(sha256 ? { sha256: sha256.toLowerCase() } : {}),
      ...(out.LastModified ? { lastModified: out.LastModified } : {}),
    };
  }

  /** The current ETag of `key` if the object there has this SHA-256 and size (else undefined). */
  async #etagOf(key: string, sha256: string, size: number): Promise<string | undefined> {
    const h = await this.head(key);
    return h && h.sha256 === sha256 && h.size === size ? h.etag : undefined;
  }

  /** SHA-256 (hex) and MD5 (base64) of the whole file, in one pass. */
  async #sums(fh: FileHandle): Promise<{ sha256: string; md5: string }> {
    const md5 = createHash('md5');
    const { sha256 } = await sha256Chunks(fileChunks(fh), (chunk) => {
      md5.update(chunk);
    });
    return { sha256, md5: md5.digest('base64') };
  }
}
