import { ErrorCodes, NotFoundError, StrataError } from '../core/errors.js';
import type { ObjectInfo, ObjectStore, PutOptions } from '../store/index.js';

export interface Versioned<T> {
  value: T;
  etag: string;
}

/** Reads a small JSON object together with the etag of exactly those bytes (for a conditional replace). */
export async function readJson<T>(store: ObjectStore, key: string): Promise<Versioned<T> | undefined> {
  let got: { body: Uint8Array; info: ObjectInfo };
  try {
    got = await store.getObject(key);
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
  let value: T;
  try {
    value = JSON.parse(Buffer.from(got.body).toString('utf8')) as T;
  } catch (e) {
    throw new StrataError(
      ErrorCodes.MANIFEST_INVALID,
      'stored JSON object does not parse',
      { key },
      { cause: e },
    );
  }
  if (!got.info.etag) throw new StrataError(ErrorCodes.INTERNAL, 'store returned no etag', { key });
  return { value, etag: got.info.etag };
}

export async function writeJson(
  store: ObjectStore,
  key: string,
  value: unknown,
  opts: PutOptions = {},
): Promise<ObjectInfo> {
  return store.put(key, `${JSON.stringify(value, null, 2)}\n`, { contentType: 'application/json', ...opts });
}
