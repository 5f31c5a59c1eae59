import { PreconditionFailedError } from '../core/errors.js';
import type { ObjectStore } from '../store/index.js';
import { readJson, type Versioned, writeJson } from './json-object.js';
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

/**
 * Raises the pointer's fencing token to `token` without changing what it names: the first thing a
 * compactor does after taking over a lease its holder never released. A publish by the superseded
 * holder is conditional on the pointer it read, so once this write is in, that publish fails — however
 * the two processes' clocks disagree about when the old lease ended. Returns the version the pointer names
 * (undefined: no pointer yet, nothing to fence; the publish's lease check right before its create is the
 * only fence of a collection's first snapshot).
 */
export async function fencePointer(
  store: ObjectStore,
  collection: string,
  token: number,
): Promise<number | undefined> {
  for (let attempt = 0; ; attempt++) {
    const cur = await readPointer(store, collection);
    if (!cur) return undefined;
    if (cur.value.fencingToken >= token) return cur.value.version;
    try {
      await writeJson(
        store,
        Keys.pointer(collection),
        { ...cur.value, fencingToken: token } satisfies Pointer,
        {
          ifMatch: cur.etag,
        },
      );
      return cur.value.version;
    } catch (e) {
      // the superseded holder's publish landed between our read and write: fence that one
      if (!(e instanceof PreconditionFailedError) || attempt >= 20) throw e;
    }
  }
}
