export {
  FAULT_KINDS,
  type FaultKind,
  type FaultProbabilities,
  type FaultStats,
  FaultyStore,
  type FaultyStoreOptions,
} from './faulty-store.js';
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
