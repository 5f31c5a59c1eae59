export { compareKeys, MAX_KEY_BYTES, MAX_SEGMENT_BYTES, validateKey, validatePrefix } from './keys.js';
export { LocalStore, type LocalStoreOptions } from './local-store.js';
export {
  joinKey,
  type ObjectInfo,
  type ObjectStore,
  type PutFileOptions,
  type PutOptions,
} from './object-store.js';
export { openStore } from './open.js';
