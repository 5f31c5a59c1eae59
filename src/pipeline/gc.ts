/**
 * Garbage collection removes only what nothing reaches (docs/architecture.md, "Nothing acknowledged is
 * lost" and "A listed segment never changes and never vanishes"), and only after a grace period:
 *   - a version manifest is kept while the pointer names it or retains it, or while it was superseded less
 *     than `grace` ago (a reader that resolved it a moment ago can still open what it lists);
 *   - a segment or deletion vector is kept while a kept version lists it, while it is younger than `grace`,
 *     or — while a compactor holds a live lease — if it was written after the last publish (a run about to
 *     publish, or a merge about to publish, may list it);
 *   - format 1 snapshots the same way, by their prefix;
 *   - run intermediates once their run is finished (or its lease gone) and older than `grace`.
 */
import { parseVersionManifest, type VersionManifest } from '../core/version-manifest.js';
import type { ObjectInfo, ObjectStore } from '../store/index.js';
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
  deletedVersions: number;
  deletedSegments: string[];
  deletedDeletionVectors: number;
  /** Format 1 snapshots. */
  deletedSnapshots: string[];
  deletedRuns: string[];
  deletedObjects: number;
  deletedBytes: number;
  kept: { versions: number[]; segments: number; snapshots: string[] };
}

function topPrefix(key: string, under: string): string | undefined {
  if (!key.startsWith(under)) return undefined;
  const rest = key.slice(under.length);
  const i = rest.indexOf('/');
  return i < 0 ? undefined : `${under}${rest.slice(0, i + 1)}`;
}

interface Group {
  keys: string[];
  bytes: number;
  newest: number;
}

function groupByPrefix(objects: ObjectInfo[], under: string, now: number): Map<string, Group> {
  const out = new Map<string, Group>();
  for (const o of objects) {
    const p = topPrefix(o.key, under);
    if (!p) continue;
    const g = out.get(p) ?? { keys: [], bytes: 0, newest: 0 };
    g.keys.push(o.key);
    g.bytes += o.size;
    g.newest = Math.max(g.newest, o.lastModified?.getTime() ?? now);
    out.set(p, g);
  }
  return out;
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
    deletedVersions: 0,
    deletedSegments: [],
    deletedDeletionVectors: 0,
    deletedSnapshots: [],
    deletedRuns: [],
    deletedObjects: 0,
    deletedBytes: 0,
    kept: { versions: [], segments: 0, snapshots: [] },
  };
  const del = async (keys: string[], bytes: number) => {
    report.deletedObjects += keys.length;
    report.deletedBytes += bytes;
    if (opts.dryRun) return;
    // manifests first: a segment without its manifest does not exist for readers
    const ordered = [...keys].sort(
      (a, b) => Number(b.endsWith('manifest.json')) - Number(a.endsWith('manifest.json')),
    );
    for (const k of ordered) await store.delete(k);
  };

  // Read the listings before the pointer: anything written after this is younger than grace anyway.
  const [versionObjs, segmentObjs, dvObjs, snapshotObjs] = await Promise.all([
    store.list(Keys.versionsPrefix(collection)),
    store.list(Keys.segmentsPrefix(collection)),
    store.list(Keys.deletionsPrefix(collection)),
    store.list(Keys.snapshotsPrefix(collection)),
  ]);
  const pointer = await readPointer(store, collection);
  const lease = await readLease(store, collection);
  const leaseLive = lease !== undefined && !lease.released && lease.expiresAt > now;
  const lastPublish = pointer ? Date.parse(pointer.value.publishedAt) : 0;
  const protectedByRun = (newest: number) => now - newest < graceMs || (leaseLive && newest > lastPublish);

  // --- versions: reachable, or superseded within grace ------------------------------------------------
  const reachable = new Set<string>();
  const keptSnapshots = new Set<string>();
  if (pointer) {
    for (const r of [pointer.value, ...pointer.value.retained]) {
      if (r.manifest) reachable.add(r.manifest);
      if (r.snapshot) keptSnapshots.add(r.snapshot);
    }
  }
  const manifests: Array<{ info: ObjectInfo; m: VersionManifest | undefined }> = [];
  for (const info of versionObjs) {
    let m: VersionManifest | undefined;
    try {
      m = parseVersionManifest(Buffer.from(await store.get(info.key)).toString('utf8'), { key: info.key });
    } catch {
      m = undefined; // unreadable: kept while young, then removed
    }
    manifests.push({ info, m });
  }
  const keptVersions: VersionManifest[] = [];
  for (const { info, m } of manifests) {
    const written = info.lastModified?.getTime() ?? now;
    let keep = reachable.has(info.key) || now - written < graceMs;
    if (!keep && m) {
      // superseded when the first later version was written
      const later = manifests
        .filter((x) => x.m && x.m.version > m.version)
        .map((x) => x.info.lastModified?.getTime() ?? now);
      const supersededAt = later.length > 0 ? Math.min(...later) : now;
      keep = now - supersededAt < graceMs;
    }
    if (keep) {
      if (m) {
        keptVersions.push(m);
        report.kept.versions.push(m.version);
      }
      continue;
    }
    report.deletedVersions++;
    await del([info.key], info.size);
  }

  // --- segments and deletion vectors: listed by a kept version, or young --------------------------------
  const listedSegments = new Set<string>();
  const listedDvs = new Set<string>();
  for (const m of keptVersions) {
    for (const s of m.segments) {
      listedSegments.add(s.prefix);
      if (s.dv) listedDvs.add(s.dv.key);
    }
  }
  for (const [prefix, g] of groupByPrefix(segmentObjs, Keys.segmentsPrefix(collection), now)) {
    if (listedSegments.has(prefix) || protectedByRun(g.newest)) {
      report.kept.segments++;
      continue;
    }
    report.deletedSegments.push(prefix);
    await del(g.keys, g.bytes);
  }
  for (const o of dvObjs) {
    if (listedDvs.has(o.key) || protectedByRun(o.lastModified?.getTime() ?? now)) continue;
    report.deletedDeletionVectors++;
    await del([o.key], o.size);
  }

  // --- format 1 snapshots: kept while the pointer (or a kept version) lists them ------------------------
  for (const p of listedSegments) if (p.startsWith(Keys.snapshotsPrefix(collection))) keptSnapshots.add(p);
  report.kept.snapshots = [...keptSnapshots];
  for (const [prefix, g] of groupByPrefix(snapshotObjs, Keys.snapshotsPrefix(collection), now)) {
    if (keptSnapshots.has(prefix) || protectedByRun(g.newest)) continue;
    report.deletedSnapshots.push(prefix);
    await del(g.keys, g.bytes);
  }

  // --- run intermediates: finished runs, or runs whose owner no longer holds a live lease -----------------
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
    await del(
      objs.map((o) => o.key),
      objs.reduce((n, o) => n + o.size, 0),
    );
  }
  return report;
}
