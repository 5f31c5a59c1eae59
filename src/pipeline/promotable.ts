/**
 * Which pending deltas a run may promote without breaking sequence order.
 *
 * Sequence ranges are reserved before a delta's data and descriptor are written, so the listing of
 * descriptors can have holes: a delta still being written (slow producer), a descriptor the listing missed
 * (an eventually consistent list), or a reservation abandoned by a crash. Promoting a later delta across
 * the first two would apply its operations before older ones — a lost update. So the plan walks the
 * sequence space above everything already promoted, and at each hole:
 *   - reads the descriptor at that position directly (the key is derived from the sequence number): found
 *     → the listing missed it, take it;
 *   - a tombstone there instead (AbandonedReservation: the producer's write failed and it closed its
 *     reservation; no descriptor can ever appear behind one) → skip the range at once;
 *   - otherwise, a reservation at that position younger than `inFlightMs` → in flight: stop here, the
 *     later deltas wait for the next run;
 *   - otherwise the reservation was abandoned: close it with a tombstone (created only if absent), then
 *     skip it. The tombstone makes the skip safe whatever the clocks say: a producer that was only slow
 *     (or whose clock made its reservation look old) finds its descriptor write refused, is told so
 *     (E_RESERVATION_ABANDONED), and nothing it wrote is applied out of order. If the descriptor won the
 *     race, it is taken; if the tombstone cannot be written, the plan stops there.
 */
import { ErrorCodes } from '../core/errors.js';
import type { ObjectStore } from '../store/index.js';
import { type AbandonedReservation, closeReservation, type DeltaDescriptor, isAbandoned } from './deltas.js';
import { readJson } from './json-object.js';
import { Keys } from './layout.js';
import type { Ledger, LedgerEntry } from './ledger.js';
import { readCounter } from './sequence.js';
import type { DeltaRef } from './steps.js';

export interface PromotableOptions {
  /** A reservation younger than this whose delta is not visible yet is in flight (default 2 min). */
  inFlightMs?: number;
  now?: number;
}

export interface Promotable {
  deltas: DeltaRef[];
  /** Set when the plan stopped at a delta still being written (its sequence start). */
  waitingFor?: number;
  /** Descriptors the listing missed and the plan found by their key. */
  recovered: number[];
  /** Reservations skipped as abandoned — tombstoned by their producer or by this plan (sequence starts). */
  abandoned?: number[];
}

const ref = ({ key, seqStart, seqEnd, sha256, count }: DeltaDescriptor): DeltaRef => ({
  key,
  seqStart,
  seqEnd,
  sha256,
  count,
});

export async function promotableDeltas(
  store: ObjectStore,
  ledger: Ledger,
  opts: PromotableOptions = {},
): Promise<Promotable> {
  const inFlightMs = opts.inFlightMs ?? 2 * 60_000;
  const now = opts.now ?? Date.now();
  const collection = ledger.collection;
  // the frontier: everything up to it landed in some version (still promoted, or rolled back since)
  const landed = [...(ledger.manifest?.promoted ?? []), ...(ledger.manifest?.rolledBack ?? [])];
  const floor = landed.reduce((m, r) => Math.max(m, r[1]), 0);
  const isCandidate = (e: LedgerEntry) => e.state === 'pending' || e.state === 'compacting';
  // Deltas below the promoted frontier cannot be ordered any better any more: take them first.
  const out: DeltaRef[] = ledger.entries.filter((e) => isCandidate(e) && e.seqStart <= floor).map(ref);
  const above = ledger.entries.filter((e) => e.seqStart > floor).sort((a, b) => a.seqStart - b.seqStart);
  if (above.length === 0) return { deltas: out, recovered: [] };
  const counter = await readCounter(store, collection);
  const allocations = new Map((counter.recent ?? []).map((a) => [a[0], a]));
  const recovered: number[] = [];
  const abandoned: number[] = [];
  const result = (waitingFor?: number): Promotable => ({
    deltas: out,
    recovered,
    ...(abandoned.length > 0 ? { abandoned } : {}),
    ...(waitingFor !== undefined ? { waitingFor } : {}),
  });
  let p = floor + 1;
  for (const k of above) {
    while (p < k.seqStart) {
      const missed = await readJson<DeltaDescriptor | AbandonedReservation>(
        store,
        Keys.deltaDescriptor(collection, p),
      );
      if (missed) {
        const v = missed.value;
        if (isAbandoned(v)) {
          abandoned.push(p);
          p = Math.max(p, v.seqEnd) + 1;
          continue;
        }
        // A quarantine marker would have come with a listed descriptor; a missed one is plain pending.
        out.push(ref(v));
        recovered.push(p);
        p = v.seqEnd + 1;
        continue;
      }
      const a = allocations.get(p);
      if (a && now - a[2] < inFlightMs) return result(p);
      // Abandoned: the recorded reservation, or (older than the log) everything up to the next one.
      const next = [...allocations.keys()].filter((s) => s > p && s < k.seqStart).sort((x, y) => x - y)[0];
      const end = a ? a[0] + a[1] - 1 : (next ?? k.seqStart) - 1;
      let closed: Awaited<ReturnType<typeof closeReservation>>;
      try {
        closed = await closeReservation(store, collection, p, end, {
          producer: 'planner',
          code: ErrorCodes.RESERVATION_ABANDONED,
          message: a
            ? `reserved ${Math.round((now - a[2]) / 1000)} s ago (in-flight grace ${Math.round(inFlightMs / 1000)} s), no descriptor`
            : 'reservation older than the counter log, no descriptor',
        });
      } catch {
        return result(p); // cannot close it: it must be treated as in flight
      }
      if (!closed.closed) continue; // the descriptor landed meanwhile: the next pass takes it
      abandoned.push(p);
      p = end + 1;
    }
    if (isCandidate(k)) out.push(ref(k));
    p = k.seqEnd + 1;
  }
  return result();
}
