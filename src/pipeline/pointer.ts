import type { ObjectStore } from '../store/index.js';
import { readJson, type Versioned } from './json-object.js';
import { Keys } from './layout.js';

/** A version the pointer keeps reachable for readers and rollback. */
export interface RetainedVersion {
  version: number;
  /** Key of its version manifest (format 2). */
  manifest?: string;
  manifestSha256?: string;
  /** Format 1: key prefix of its single snapshot segment. */
  snapshot?: string;
  retiredAt: string;
}

/**
 * The one mutable object per collection. Changed only by compare-and-swap (see publish.ts).
 * Format 2 names a version manifest (`manifest`); format 1 (Strata 0.1) named a single snapshot segment
 * (`snapshot`) and is still read: such a version is one segment with nothing deleted, and the next publish
 * moves the collection forward.
 */
export interface Pointer {
  collection: string;
  version: number;
  /** Key of the version manifest (format 2). */
  manifest?: string;
  /** Format 1: key prefix of the snapshot segment (ends with '/'). */
  snapshot?: string;
  /** SHA-256 of the version manifest's (format 1: the snapshot segment manifest's) bytes. */
  manifestSha256: string;
  contentHash: string;
  count: number;
  /** Fencing token of the lease under which this pointer was written. */
  fencingToken: number;
  run: string;
  publishedAt: string;
  /** Earlier versions kept for readers and rollback (newest first); retention trims this list. */
  retained: RetainedVersion[];
}

export async function readPointer(
  store: ObjectStore,
  collection: string,
): Promise<Versioned<Pointer> | undefined> {
  return readJson<Pointer>(store, Keys.pointer(collection));
}

/** What a step records of the version it builds on (null: the first version). */
export interface BaseRef {
  version: number;
  /** Version manifest key (format 2) or snapshot prefix (format 1). */
  manifest?: string;
  snapshot?: string;
  manifestSha256: string;
}

export function baseRefOf(p: Versioned<Pointer> | undefined | null): BaseRef | null {
  if (!p) return null;
  const v = p.value;
  return {
    version: v.version,
    ...(v.manifest ? { manifest: v.manifest } : {}),
    ...(v.snapshot ? { snapshot: v.snapshot } : {}),
    manifestSha256: v.manifestSha256,
  };
}

/** The key a pointer (or retained entry) resolves to, for messages and comparisons. */
export const pointerTarget = (p: { manifest?: string; snapshot?: string }): string =>
  p.manifest ?? p.snapshot ?? '';
