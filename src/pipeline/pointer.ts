import { PreconditionFailedError } from '../core/errors.js';
import type { ObjectStore } from '../store/object-store.js';
import { readJson, type Versioned, writeJson } from './json-object.js';
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
