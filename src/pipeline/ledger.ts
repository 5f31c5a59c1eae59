/**
 * The ledger is derived, not maintained (DESIGN.md): "promoted" is a fact of the current snapshot's
 * manifest, "quarantined" a marker object with the coded error, "compacting" a run record whose owner
 * still holds the lease, and "pending" everything else that was accepted. Nothing can disagree with the
 * pointer because nothing but the pointer says what is promoted.
 */
import type { SerializedError } from '../core/errors.js';
import type { PromotedRange, SegmentManifest } from '../core/manifest.js';
import type { ObjectStore } from '../store/object-store.js';
import { type DeltaDescriptor, listDeltas } from './deltas.js';
import { readJson, type Versioned } from './json-object.js';
import { Keys } from './layout.js';
import { isLeaseLive, readLease } from './lease.js';
import { type Pointer, readPointer } from './pointer.js';
import type { RunRecord } from './runs.js';
import { fetchManifest } from './segments.js';

export type DeltaState = 'pending' | 'compacting' | 'promoted' | 'quarantined';

export interface LedgerEntry extends DeltaDescriptor {
  state: DeltaState;
  /** promoted: the snapshot version it landed in. */
  version?: number;
  /** quarantined: why. */
  error?: SerializedError;
  run?: string;
}

export interface QuarantineRecord {
  seqStart: number;
  key: string;
  run: string;
  chunk?: number;
  error: SerializedError;
  at: string;
}

export interface Ledger {
  collection: string;
  pointer: Versioned<Pointer> | undefined;
  manifest: SegmentManifest | undefined;
  entries: LedgerEntry[];
  counts: Record<DeltaState, number>;
}

export function promotedVersion(ranges: PromotedRange[], seqStart: number): number | undefined {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid]!;
    if (seqStart < r[0]) hi = mid - 1;
    else if (seqStart > r[1]) lo = mid + 1;
    else return r[2];
  }
  return undefined;
}

export async function listQuarantine(
  store: ObjectStore,
  collection: string,
): Promise<Map<number, QuarantineRecord>> {
  const out = new Map<number, QuarantineRecord>();
  for (const o of await store.list(Keys.quarantinePrefix(collection))) {
    const q = await readJson<QuarantineRecord>(store, o.key);
    if (q) out.set(q.value.seqStart, q.value);
  }
  return out;
}

export async function readLedger(store: ObjectStore, collection: string): Promise<Ledger> {
  const pointer = await readPointer(store, collection);
  const manifest = pointer
    ? (await fetchManifest(store, pointer.value.snapshot, pointer.value.manifestSha256)).manifest
    : undefined;
  const promoted = manifest?.snapshot?.promoted ?? [];
  const [deltas, quarantine, lease] = await Promise.all([
    listDeltas(store, collection),
    listQuarantine(store, collection),
    readLease(store, collection),
  ]);
  // Deltas in the run of the live lease holder are "compacting".
  let compacting = new Set<number>();
  let activeRun: string | undefined;
  if (lease && isLeaseLive(lease)) {
    const runs = await store.list(Keys.runsPrefix(collection));
    for (const o of runs.filter((r) => r.key.endsWith('/run.json')).reverse()) {
      const rec = await readJson<RunRecord>(store, o.key);
      if (
        rec &&
        rec.value.status === 'running' &&
        rec.value.owner === lease.owner &&
        rec.value.token === lease.token
      ) {
        compacting = new Set(rec.value.deltas);
        activeRun = rec.value.run;
        break;
      }
    }
  }
  const counts: Record<DeltaState, number> = { pending: 0, compacting: 0, promoted: 0, quarantined: 0 };
  const entries: LedgerEntry[] = deltas.map((d) => {
    const v = promotedVersion(promoted, d.seqStart);
    let e: LedgerEntry;
    if (v !== undefined) e = { ...d, state: 'promoted', version: v };
    else if (quarantine.has(d.seqStart)) {
      const q = quarantine.get(d.seqStart)!;
      e = { ...d, state: 'quarantined', error: q.error, run: q.run };
    } else if (compacting.has(d.seqStart))
      e = { ...d, state: 'compacting', ...(activeRun ? { run: activeRun } : {}) };
    else e = { ...d, state: 'pending' };
    counts[e.state]++;
    return e;
  });
  return { collection, pointer, manifest, entries, counts };
}
