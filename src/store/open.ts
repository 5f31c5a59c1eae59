import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../core/errors.js';
import { LocalStore, type LocalStoreOptions } from './local-store.js';
import type { ObjectStore } from './object-store.js';

/**
 * Opens a store from a spec: a directory path or a file:// URL → LocalStore (created if missing);
 * s3://bucket/prefix → S3Store (not in this build yet).
 */
export async function openStore(spec: string, opts: LocalStoreOptions = {}): Promise<ObjectStore> {
  if (typeof spec !== 'string' || spec.trim() === '') throw new UsageError('store location is empty');
  if (/^s3:\/\//i.test(spec))
    throw new UsageError('S3 store not available in this build yet', { store: spec });
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
