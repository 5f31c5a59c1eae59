import { StrataError, VerificationError } from '../core/errors.js';
import { LtHash } from '../core/lthash.js';
import type { Metadata } from '../core/types.js';
import type { VersionManifest } from '../core/version-manifest.js';
import { verifySegment } from '../engine/index.js';
import type { ObjectStore } from '../store/index.js';
import { openVersion } from './open-version.js';
import { baseRefOf, readPointer } from './pointer.js';

export interface SegmentVerification {
  prefix: string;
  rows: number;
  deleted: number;
  indexed: boolean;
  ok: boolean;
  problems: string[];
}

export interface SnapshotVerification {
  collection: string;
  ok: boolean;
  version: number | null;
  /** The version manifest's key (format 2) or the snapshot's prefix (format 1). */
  snapshot: string | null;
  count: number;
  contentHash: string | null;
  problems: string[];
  segments: SegmentVerification[];
  manifest?: VersionManifest;
}

/**
 * Resolves pointer → version manifest (hash checked) → every segment it lists (manifest hash = the address
 * the version recorded; every file's SHA-256 checked before anything is parsed or mapped) → a full check of
 * each segment (record-store integrity, counts, ids, index loads, self-queries, LtHash recomputed) and of
 * each deletion vector against its segment (key space, count, every key a row of it); then the version as
 * a whole: no id live twice, live count, and its content hash recomputed as Σ segments − Σ deleted rows.
 */
export async function verifyCollection(
  store: ObjectStore,
  collection: string,
): Promise<SnapshotVerification> {
  const pointer = await readPointer(store, collection);
  if (!pointer) {
    return {
      collection,
      ok: true,
      version: null,
      snapshot: null,
      count: 0,
      contentHash: null,
      problems: [],
      segments: [],
    };
  }
  const p = pointer.value;
  const problems: string[] = [];
  const segments: SegmentVerification[] = [];
  let manifest: VersionManifest | undefined;
  try {
    await using v = await openVersion(store, collection, baseRefOf(pointer)!, { verify: 'checksums' });
    manifest = v.resolved.manifest;
    const legacy = v.resolved.legacy;
    const total = new LtHash();
    const liveIds = new Set<string>();
    let live = 0;
    for (const { entry, segment, dv } of v.segments) {
      const r = segment.reader;
      const sp: string[] = [];
      const report = await verifySegment(r.dir, r.manifest, { full: true, checksumsVerified: true });
      sp.push(...report.problems);
      if (!legacy) {
        // verifySegment recomputed a data segment's LtHash from its rows and compared it with its manifest's;
        // a format 1 snapshot listed by a format 2 version has none recorded: recomputed here
        const seg =
          r.manifest.lthash !== undefined
            ? LtHash.decode(r.manifest.lthash)
            : r.recomputeContent(true).lthash!;
        if (seg.encode() !== entry.lthash) sp.push('segment LtHash differs from its version entry');
        const found = r.rowsByKey([...dv.keys]);
        if (found.size !== dv.count)
          sp.push(`deletion vector names ${dv.count - found.size} keys the segment lacks`);
        for (const row of found.values()) {
          seg.remove({
            id: row.id,
            embedding: row.embedding,
            document: row.document ?? null,
            metadata: (row.metadata as Metadata | null | undefined) ?? null,
          });
        }
        total.combine(seg);
      }
      for (const [key, id] of r.scanIds()) {
        if (dv.has(key)) continue;
        live++;
        if (liveIds.has(id)) sp.push(`id ${JSON.stringify(id)} is live in more than one segment`);
        liveIds.add(id);
      }
      segments.push({
        prefix: entry.prefix,
        rows: entry.rows,
        deleted: entry.deleted,
        indexed: entry.indexed,
        ok: sp.length === 0,
        problems: sp,
      });
      problems.push(...sp.map((x) => `${entry.prefix}: ${x}`));
    }
    if (live !== p.count) problems.push(`${live} live records, the pointer says ${p.count}`);
    if (live !== manifest.count) problems.push(`${live} live records, the version says ${manifest.count}`);
    if (legacy) {
      const only = v.segments[0]!.segment.reader.manifest;
      if (only.contentHash !== p.contentHash)
        problems.push(`content hash ${only.contentHash} ≠ pointer's ${p.contentHash}`);
      if (only.snapshot?.version !== p.version)
        problems.push(`manifest version ${only.snapshot?.version} ≠ pointer's ${p.version}`);
    } else {
      if (total.encode() !== manifest.lthash)
        problems.push(`recomputed content hash ${total.digest()} ≠ the version's ${manifest.contentHash}`);
      if (manifest.contentHash !== p.contentHash)
        problems.push(`version content hash ${manifest.contentHash} ≠ pointer's ${p.contentHash}`);
      if (manifest.version !== p.version)
        problems.push(`version manifest says v${manifest.version}, the pointer v${p.version}`);
    }
  } catch (e) {
    problems.push(e instanceof StrataError ? e.describe() : String(e));
  }
  return {
    collection,
    ok: problems.length === 0,
    version: p.version,
    snapshot: p.manifest ?? p.snapshot ?? null,
    count: p.count,
    contentHash: p.contentHash,
    problems,
    segments,
    ...(manifest ? { manifest } : {}),
  };
}

export function assertVerified(v: SnapshotVerification): void {
  if (!v.ok) {
    throw new VerificationError(
      `version ${v.version} of ${v.collection} failed verification: ${v.problems.join('; ')}`,
      {
        collection: v.collection,
        snapshot: v.version ?? undefined,
      },
    );
  }
}
