/** Conformance fixtures on a running S3 test server: every test gets a fresh key prefix, emptied after. */
import { randomBytes } from 'node:crypto';
import type { S3TestServer } from '../../lab/devservers/s3-server.js';
import { S3Store, type S3StoreOptions } from '../../src/store/s3-store.js';
import type { StoreFixture } from './conformance.js';

export function s3Store(server: S3TestServer, extra: Partial<S3StoreOptions> = {}, prefix?: string): S3Store {
  return new S3Store({
    ...server.storeOptions(prefix ?? `t-${randomBytes(6).toString('hex')}`),
    ...extra,
  });
}

/** Deletes everything under the store's prefix, then closes it. */
export async function emptyAndClose(store: S3Store): Promise<void> {
  try {
    for (const o of await store.list('')) await store.delete(o.key);
  } finally {
    await store.close();
  }
}

export function s3Fixture(
  server: () => S3TestServer,
  extra: Partial<S3StoreOptions> = {},
): () => Promise<StoreFixture> {
  return async () => {
    // small parts, so that the 20 MB file of the conformance suite goes through multipart
    const store = s3Store(server(), { partSize: 5 << 20, partConcurrency: 3, ...extra });
    return { store, cleanup: () => emptyAndClose(store) };
  };
}
