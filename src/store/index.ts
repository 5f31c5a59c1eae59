/** The store layer: one ObjectStore interface, its backends, and opening one from a spec. Entered through here. */
export { compareKeys, MAX_KEY_BYTES, MAX_SEGMENT_BYTES, validateKey, validatePrefix } from './keys.js';
export { LocalStore, type LocalStoreOptions } from './local-store.js';
export {
  joinKey,
  type ObjectInfo,
  type ObjectStore,
  type PutFileOptions,
  type PutOptions,
} from './object-store.js';
export { type OpenStoreOptions, openStore } from './open.js';
export { withS3Endpoint } from './s3/config.js';
