import { ErrorCodes, StrataError } from '../core/errors.js';
import type { OpenOptions } from '../engine/index.js';
import type { ObjectStore } from '../store/object-store.js';
import { type Pointer, readPointer } from './pointer.js';
import { type OpenedSegment, openStoredSegment } from './segments.js';

/** Resolves pointer → manifest → files (all verified) and opens the current snapshot for queries. */
export async function openCurrentSnapshot(
  store: ObjectStore,
  collection: string,
  opts: OpenOptions = {},
): Promise<{ segment: OpenedSegment; pointer: Pointer }> {
  const p = await readPointer(store, collection);
  if (!p) {
    throw new StrataError(
      ErrorCodes.NOT_FOUND,
      `collection ${collection} has no published snapshot yet (run strata compact)`,
      {
        collection,
      },
    );
  }
  const segment = await openStoredSegment(store, p.value.snapshot, p.value.manifestSha256, opts);
  return { segment, pointer: p.value };
}
