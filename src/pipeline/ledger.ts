/**
 * The ledger is derived, not maintained (docs/architecture.md, "Words" and "Nothing acknowledged is lost"):
 * "promoted" is a fact of the current version's manifest, "quarantined" a marker object with the coded
 * error, "compacting" a run record whose owner still holds the lease, and "pending" everything else that was
 * accepted. Nothing can disagree with the pointer because nothing but the pointer says what is promoted.
 */
import type { SerializedError } from '../core/errors.js';
import type { PromotedRange } from '../core/manifest.js';
import type { RolledBackRange, VersionManifest } from '../core/version-manifest.js';
import type { ObjectStore } from '../store/index.js';
import { type DeltaDescriptor, listDeltas } from './deltas.js';
import { readJson, type Versioned } from './json-object.js';
import { Keys } from './layout.js';
import { isLeaseLive, type LeaseRecord } from './lease.js';
import { baseRefOf, type Pointer, readPointer } from './pointer.js';
import type { RunRecord } from './runs.js';
import type { Counter } from './sequence.js';
import { readVersion } from './versions.js';

/**
 * - promoted: the current version contains it (`version`: the one it landed in);
 * - rolled-back: it landed in a version that a rollback undid (`version`: where it landed, `rolledBackBy`: the
 *   rollback's version); it is not re-applied by later compactions;
 * - quarantined: refused with a coded error; compacting: in the live lease holder's run; pending: the rest.
 */
export type DeltaState = 'pending' | 'compacting' | 'promoted' | 'rolled-back' | 'quarantined';

export interface LedgerEntry extends DeltaDescriptor {
  state: DeltaState;
  /** promoted, rolled-back: the version it landed in. */
  version?: number;
  /** rolled-back: the version of the rollback that undid it. */
  rolledBackBy?: number;
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
  manifest: VersionManifest | undefined;
  entries: LedgerEntry[];
  counts: Record<DeltaState, number>;
  /** The collection's lease object as read for this ledger (who is compacting). */
  lease: Versioned<LeaseRecord> | undefined;
}

/** The version a range table gives for a delta (binary search over disjoint, sorted ranges). */
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

/**
 * What a long-lived reader (the query server's Console) keeps between readLedger calls of one collection:
 * delta descriptors and quarantine markers are created once and never change, and a manifest is named by
 * its hash, so none of these can go stale; only what is no longer listed is dropped.
 */
export interface LedgerCache {
  descriptors: Map<string, DeltaDescriptor>;
  quarantine: Map<string, QuarantineRecord>;
  manifest?: { sha256: string; manifest: VersionManifest };
  /**
   * The deltas as last listed, and the sequence counter's etag then, when the listing was complete (every
   * reserved number 1..next-1 had its descriptor): until the counter moves, no delta can appear, so the
   * listing is reused (listing a collection's deltas stats every file).
   */
  listing?: { counterEtag: string; deltas: DeltaDescriptor[] };
}

/** Descriptors cover 1..next-1 without a gap (nothing reserved is still being written). */
function complete(deltas: DeltaDescriptor[], next: number): boolean {
  let expect = 1;
  for (const d of deltas) {
    if (d.seqStart !== expect) return false;
    expect = d.seqEnd + 1;
  }
  return expect === next;
}

async function listDeltasCached(
  store: ObjectStore,
  collection: string,
  cache: LedgerCache | undefined,
): Promise<DeltaDescriptor[]> {
  if (!cache) return listDeltas(store, collection);
  const counter = await readJson<Counter>(store, Keys.counter(collection));
  if (counter && cache.listing?.counterEtag === counter.etag) return cache.listing.deltas;
  const deltas = await listDeltas(store, collection, cache.descriptors);
  cache.listing =
    counter && complete(deltas, counter.value.next) ? { counterEtag: counter.etag, deltas } : undefined;
  return deltas;
}

export const newLedgerCache = (): LedgerCache => ({ descriptors: new Map(), quarantine: new Map() });

export async function listQuarantine(
  store: ObjectStore,
  collection: string,
  cache?: Map<string, QuarantineRecord>,
): Promise<Map<number, QuarantineRecord>> {
  const out = new Map<number, QuarantineRecord>();
  const objs = await store.list(Keys.quarantinePrefix(collection));
  if (cache) {
    const listed = new Set(objs.map((o) => o.key));
    for (const k of cache.keys()) if (!listed.has(k)) cache.delete(k);
  }
  for (const o of objs) {
    const hit = cache?.get(o.key);
    const q = hit ?? (await readJson<QuarantineRecord>(store, o.key))?.value;
    if (!q) continue;
    cache?.set(o.key, q);
    out.set(q.seqStart, q);
  }
  return out;
}

export async function readLedger(
  store: ObjectStore,
  collection: string,
  opts: { cache?: LedgerCache } = {},
): Promise<Ledger> {
  const cache = opts.cache;
  const pointer = await readPointer(store, collection);
  let manifest: VersionManifest | undefined;
  if (pointer && cache?.manifest?.sha256 === pointer.value.manifestSha256) manifest = cache.manifest.manifest;
  else if (pointer) {
    manifest = (await readVersion(store, baseRefOf(pointer)!, collection)).manifest;
    if (cache) cache.manifest = { sha256: pointer.value.manifestSha256, manifest };
  }
  const promoted = manifest?.promoted ?? [];
  const rolledBack = manifest?.rolledBack ?? [];
  const [deltas, quarantine, leaseObj] = await Promise.all([
    listDeltasCached(store, collection, cache),
    listQuarantine(store, collection, cache?.quarantine),
    readJson<LeaseRecord>(store, Keys.lease(collection)),
  ]);
  const lease = leaseObj?.value;
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
  const counts: Record<DeltaState, number> = {
    pending: 0,
    compacting: 0,
    promoted: 0,
    'rolled-back': 0,
    quarantined: 0,
  };
  const entries: LedgerEntry[] = deltas.map((d) => {
    const v = promotedVersion(promoted, d.seqStart);
    const rb = v === undefined ? rolledBackRange(rolledBack, d.seqStart) : undefined;
    let e: LedgerEntry;
    if (v !== undefined) e = { ...d, state: 'promoted', version: v };
    else if (rb) e = { ...d, state: 'rolled-back', version: rb.landed, rolledBackBy: rb.by };
    else if (quarantine.has(d.seqStart)) {
      const q = quarantine.get(d.seqStart)!;
      e = { ...d, state: 'quarantined', error: q.error, run: q.run };
    } else if (compacting.has(d.seqStart))
      e = { ...d, state: 'compacting', ...(activeRun ? { run: activeRun } : {}) };
    else e = { ...d, state: 'pending' };
    counts[e.state]++;
    return e;
  });
  return { collection, pointer, manifest, entries, counts, lease: leaseObj };
}

function rolledBackRange(
  ranges: RolledBackRange[],
  seqStart: number,
): { landed: number; by: number } | undefined {
  const r = ranges.find((x) => seqStart >= x[0] && seqStart <= x[1]);
  return r ? { landed: r[2], by: r[3] } : undefined;
}
