/**
 * Garbage collection removes only what nothing reaches (DESIGN.md invariant 6): snapshots that are
 * neither current nor retained by the pointer, and run intermediates of runs that are finished (or whose
 * lease is gone), and only once they are older than the grace period — a reader that resolved an older
 * pointer a moment ago can still open what it resolved.
 */
import type { ObjectStore } from '../store/object-store.js';
import { Keys } from './layout.js';
import { readLease } from './lease.js';
import { readPointer } from './pointer.js';
import { listRuns } from './runs.js';

export interface GcOptions {
  graceMs?: number;
  dryRun?: boolean;
  now?: number;
}

export interface GcReport {
  collection: string;
  deletedSnapshots: string[];
  deletedRuns: string[];
  deletedObjects: number;
  deletedBytes: number;
  kept: { snapshots: string[] };
}

function topPrefix(key: string, under: string): string | undefined {
  if (!key.startsWith(under)) return undefined;
  const rest = key.slice(under.length);
  const i = rest.indexOf('/');
  return i < 0 ? undefined : `${under}${rest.slice(0, i + 1)}`;
}

export async function gcCollection(
  store: ObjectStore,
  collection: string,
  opts: GcOptions = {},
): Promise<GcReport> {
  const graceMs = opts.graceMs ?? 10 * 60_000;
  const now = opts.now ?? Date.now();
  const report: GcReport = {
    collection,
    deletedSnapshots: [],
    deletedRuns: [],
    deletedObjects: 0,
    deletedBytes: 0,
    kept: { snapshots: [] },
  };
  const pointer = await readPointer(store, collection);
  const keep = new Set<string>();
  if (pointer) {
    keep.add(pointer.value.snapshot);
    for (const r of pointer.value.retained) keep.add(r.snapshot);
  }
  report.kept.snapshots = [...keep];

  // Snapshots: by prefix, the newest object's time decides age.
  const snaps = new Map<string, { keys: string[]; bytes: number; newest: number }>();
  for (const o of await store.list(Keys.snapshotsPrefix(collection))) {
    const p = topPrefix(o.key, Keys.snapshotsPrefix(collection));
    if (!p) continue;
    const s = snaps.get(p) ?? { keys: [], bytes: 0, newest: 0 };
    s.keys.push(o.key);
    s.bytes += o.size;
    s.newest = Math.max(s.newest, o.lastModified?.getTime() ?? now);
    snaps.set(p, s);
  }
  // A snapshot built after the pointer was last written may belong to a run that is about to publish.
  const lease = await readLease(store, collection);
  const leaseLive = lease !== undefined && !lease.released && lease.expiresAt > now;
  for (const [prefix, s] of snaps) {
    if (keep.has(prefix)) continue;
    if (now - s.newest < graceMs) continue;
    if (leaseLive && pointer && s.newest > Date.parse(pointer.value.publishedAt)) continue;
    report.deletedSnapshots.push(prefix);
    report.deletedObjects += s.keys.length;
    report.deletedBytes += s.bytes;
    if (!opts.dryRun) {
      // manifest first: a segment without its manifest does not exist for readers
      const ordered = [...s.keys].sort(
        (a, b) => Number(b.endsWith('manifest.json')) - Number(a.endsWith('manifest.json')),
      );
      for (const k of ordered) await store.delete(k);
    }
  }

  // Run intermediates: finished runs, or runs whose owner no longer holds a live lease.
  const runs = await listRuns(store, collection, Number.MAX_SAFE_INTEGER);
  for (const r of runs) {
    const finished = r.status !== 'running';
    const orphaned = !leaseLive || lease?.owner !== r.owner || lease?.token !== r.token;
    const at = Date.parse(r.finishedAt ?? r.startedAt);
    if (!(finished || orphaned) || now - at < graceMs) continue;
    const objs = (await store.list(Keys.runPrefix(collection, r.run))).filter(
      (o) => !o.key.endsWith('/run.json'),
    );
    if (objs.length === 0) continue;
    report.deletedRuns.push(r.run);
    report.deletedObjects += objs.length;
    report.deletedBytes += objs.reduce((n, o) => n + o.size, 0);
    if (!opts.dryRun) for (const o of objs) await store.delete(o.key);
  }
  return report;
}
