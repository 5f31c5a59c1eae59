/**
 * The one storage interface. Everything above it (pipeline, server, runners) talks to an ObjectStore and
 * never learns which backend it is. Keys are '/'-separated, relative, no '..' segments, no leading '/'.
 *
 * Semantics every backend must meet (the conformance suite in test/store/conformance.ts checks them):
 * - put is atomic: a reader sees the old object, the new one, or none; never a part.
 * - `ifNoneMatch: '*'` creates only if absent; `ifMatch: etag` replaces only if the current etag is that
 *   one; otherwise PreconditionFailedError. Of N racers with the same precondition exactly one wins.
 * - etags change whenever the content changes (content-derived etags: equal content may give equal etags).
 * - get/getToFile of a missing key throw NotFoundError; head returns undefined.
 * - list(prefix) returns every key under that prefix (sorted ascending), with sizes.
 * - stored bytes are checked against their SHA-256 where the backend records one (IntegrityError).
 */
import { ErrorCodes, type ErrorContext, IntegrityError } from '../core/errors.js';

export interface ObjectInfo {
  key: string;
  size: number;
  /** Opaque version tag for conditional writes (S3: the ETag as returned; local: a content hash). */
  etag?: string;
  /** SHA-256 (hex) of the content, where known. */
  sha256?: string;
  lastModified?: Date;
}

export interface PutOptions {
  ifNoneMatch?: '*';
  ifMatch?: string;
  contentType?: string;
  /** Precomputed SHA-256 of the body; the backend may check it, and records it. */
  sha256?: string;
}

export interface PutFileOptions extends PutOptions {
  /**
   * The caller gives up the file: the backend may move it into place instead of copying
   * (local store, same filesystem: a rename). The path must not be used afterwards.
   */
  consume?: boolean;
}

export interface ObjectStore {
  /** 'local', 's3', 'faulty(local)'… */
  readonly kind: string;
  /** A URL-ish description for logs and errors: file:///…, s3://bucket/prefix. */
  readonly url: string;

  get(key: string): Promise<Uint8Array>;
  /** The body and the etag/sha256 OF THAT BODY, read atomically (use this before a conditional replace). */
  getObject(key: string): Promise<{ body: Uint8Array; info: ObjectInfo }>;
  head(key: string): Promise<ObjectInfo | undefined>;
  put(key: string, body: Uint8Array | string, opts?: PutOptions): Promise<ObjectInfo>;
  /** Streams a local file into the store (multipart on S3). Atomic like put. */
  putFile(key: string, path: string, opts?: PutFileOptions): Promise<ObjectInfo>;
  /** Streams an object to a local file (written to a temp name, fsynced, renamed). Verifies SHA-256 where known. */
  getToFile(key: string, path: string): Promise<ObjectInfo>;
  list(prefix: string): Promise<ObjectInfo[]>;
  /** Deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Where the object lives on this machine's filesystem, if it does (local store): lets readers open and
   * memory-map segment files in place instead of downloading them. Such files are immutable once put.
   */
  localPath?(key: string): string | undefined;
  /**
   * A private directory on the same filesystem as the store's objects, if the store is local: segments are
   * built there so that putFile({consume:true}) is a rename. Other stores build under os.tmpdir().
   */
  scratchDir?(): string;
  close(): Promise<void>;
}

/** A put whose caller gave the body's SHA-256 (`PutOptions.sha256`): the body must have it (any case). */
export function checkGivenSha256(given: string | undefined, actual: string, ctx: ErrorContext): void {
  if (given !== undefined && given.toLowerCase() !== actual) {
    throw new IntegrityError(ErrorCodes.STORE_INTEGRITY, 'body does not match the SHA-256 the caller gave', {
      ...ctx,
      expected: given,
      actual,
    });
  }
}

export function joinKey(...parts: string[]): string {
  return parts
    .filter((p) => p.length > 0)
    .join('/')
    .replace(/\/{2,}/g, '/');
}
