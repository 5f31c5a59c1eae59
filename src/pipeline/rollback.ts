/**
 * Rollback of a collection to a retained version: a new, fenced pointer compare-and-swap that makes a
 * retained snapshot current again (under the collection's lease, so no compactor publishes meanwhile).
 * The result is a NEW version number (versions never go backwards): `{from, to, version}` says which
 * version was current, which retained version's snapshot is now served, and the version it got.
 *
 * The ledger after a rollback is derived as always, from the current snapshot's manifest: deltas that
 * were promoted only after the rolled-back-to version are no longer in the current manifest's promoted
 * ranges, so they read as `pending` again and the next compaction promotes them once more (on top of the
 * restored snapshot). A rollback therefore undoes a bad build, not the data: to drop data, write deletes.
 *
 * The body belongs to the lead's rework of the version format (a version becomes a list of segments);
 * everything around it (HTTP endpoint, CLI command, Console button) is built against this signature.
 */
import { ErrorCodes, StrataError } from '../core/errors.js';
import type { ObjectStore } from '../store/object-store.js';
import type { LeaseOptions } from './lease.js';

export interface RollbackResult {
  collection: string;
  /** The version that was current. */
  from: number;
  /** The retained version whose snapshot is current again. */
  to: number;
  /** The version number the rollback published (greater than `from`). */
  version: number;
}

export async function rollbackCollection(
  _store: ObjectStore,
  collection: string,
  _opts: { toVersion: number; lease?: LeaseOptions },
): Promise<RollbackResult> {
  throw new StrataError(ErrorCodes.UNSUPPORTED, 'rollback is not implemented yet', { collection });
}
