import type { ObjectStore } from '../store/object-store.js';
import { readJson, type Versioned } from './json-object.js';
import { Keys } from './layout.js';

/** The one mutable object per collection. Changed only by compare-and-swap (see publish.ts). */
export interface Pointer {
  collection: string;
  version: number;
  /** Key prefix of the current snapshot segment (ends with '/'). */
  snapshot: string;
  /** SHA-256 of the snapshot's manifest.json bytes: resolving pointer → manifest is verified. */
  manifestSha256: string;
  contentHash: string;
  count: number;
  /** Fencing token of the lease under which this pointer was written. */
  fencingToken: number;
  run: string;
  publishedAt: string;
  /** Earlier snapshots kept for readers and rollback (newest first); retention trims this list. */
  retained: Array<{ version: number; snapshot: string; retiredAt: string }>;
}

export async function readPointer(
  store: ObjectStore,
  collection: string,
): Promise<Versioned<Pointer> | undefined> {
  return readJson<Pointer>(store, Keys.pointer(collection));
}

/** What a final merge records of the snapshot it builds on (null: the first snapshot). */
export function baseRefOf(
  p: Versioned<Pointer> | undefined | null,
): { version: number; snapshot: string; manifestSha256: string } | null {
  return p
    ? { version: p.value.version, snapshot: p.value.snapshot, manifestSha256: p.value.manifestSha256 }
    : null;
}
