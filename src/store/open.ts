import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../core/errors.js';
import { LocalStore, type LocalStoreOptions } from './local-store.js';
import type { ObjectStore } from './object-store.js';
import { resolveS3Options, type S3ConnectionOptions } from './s3/config.js';

export interface OpenStoreOptions extends LocalStoreOptions {
  /** Overrides for s3:// specs (the CLI's --s3-endpoint); see s3/config.ts for URL query and environment. */
  s3?: S3ConnectionOptions;
}

/**
 * Opens a store from a spec: a directory path or a file:// URL → LocalStore (created if missing);
 * s3://bucket/prefix[?endpoint=…&region=…&forcePathStyle=…&ifMatchQuoting=unquoted] → S3Store
 * (options from the URL query, STRATA_S3_* environment variables and `opts.s3`; credentials from
 * STRATA_S3_ACCESS_KEY_ID/STRATA_S3_SECRET_ACCESS_KEY or the standard AWS chain).
 */
export async function openStore(spec: string, opts: OpenStoreOptions = {}): Promise<ObjectStore> {
  if (typeof spec !== 'string' || spec.trim() === '') throw new UsageError('store location is empty');
  if (/^s3:\/\//i.test(spec)) {
    // loaded on demand: a local-store process (every worker) does not pay the AWS SDK's start-up
    const { S3Store } = await import('./s3-store.js');
    return new S3Store(resolveS3Options(spec, opts.s3));
  }
  if (/^file:/i.test(spec)) {
    let path: string;
    try {
      path = fileURLToPath(spec);
    } catch (e) {
      throw new UsageError(`not a usable file URL: ${(e as Error).message}`, { store: spec });
    }
    return LocalStore.open(path, opts);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) {
    throw new UsageError('unsupported store URL (use a directory, file://… or s3://…)', { store: spec });
  }
  return LocalStore.open(resolve(spec), opts);
}
