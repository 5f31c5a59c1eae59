/**
 * compact(), waiting for a lease held by someone else (a compactor that was killed holds its lease until
 * it expires; a live one releases it when done): on E_LEASE_HELD, look again at the lease after
 * `pollMs` or at the holder's expiry, whichever comes first, up to `waitMs` in total.
 */
import { ErrorCodes, isStrataError } from '../../src/core/errors.js';
import { delay } from '../../src/core/retry.js';
import { type CompactOptions, type CompactReport, compact } from '../../src/pipeline/compact.js';
import type { ObjectStore } from '../../src/store/object-store.js';

/**
 * The campaign writes every delta of a round before it compacts, so a reserved sequence range without a
 * visible descriptor is never in flight: it belongs to a producer the campaign killed. (Spread, not
 * written inline, so this compiles whether or not CompactOptions knows `inFlightMs` yet.)
 */
const NO_PRODUCER_IN_FLIGHT = { inFlightMs: 0 };

export async function compactWaitingForLease(
  store: ObjectStore,
  collection: string,
  opts: CompactOptions,
  waitMs: number,
  pollMs = 200,
): Promise<CompactReport> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await compact(store, collection, { ...NO_PRODUCER_IN_FLIGHT, ...opts });
    } catch (e) {
      if (!isStrataError(e, ErrorCodes.LEASE_HELD)) throw e;
      const expiresAt = Number(e.context.expiresAt);
      if (!Number.isFinite(expiresAt) || expiresAt > deadline) throw e;
      await delay(Math.min(pollMs, Math.max(5, expiresAt - Date.now() + 10)));
    }
  }
}
