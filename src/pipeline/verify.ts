import { StrataError, VerificationError } from '../core/errors.js';
import type { SegmentManifest } from '../core/manifest.js';
import { verifySegment } from '../engine/index.js';
import type { ObjectStore } from '../store/object-store.js';
import { readPointer } from './pointer.js';
import { openStoredSegment } from './segments.js';

export interface SnapshotVerification {
  collection: string;
  ok: boolean;
  version: number | null;
  snapshot: string | null;
  count: number;
  contentHash: string | null;
  problems: string[];
  manifest?: SegmentManifest;
}

/**
 * Resolves pointer → manifest (hash checked) → files (every SHA-256 checked), then a full verification:
 * record-store integrity, counts, id set, index loads, self-queries, content hash recomputed.
 */
export async function verifyCollection(
  store: ObjectStore,
  collection: string,
): Promise<SnapshotVerification> {
  const pointer = await readPointer(store, collection);
  if (!pointer) {
    return { collection, ok: true, version: null, snapshot: null, count: 0, contentHash: null, problems: [] };
  }
  const p = pointer.value;
  const problems: string[] = [];
  let manifest: SegmentManifest | undefined;
  try {
    // Checksums first (at open, before anything is parsed or mapped), then the deep checks.
    await using seg = await openStoredSegment(store, p.snapshot, p.manifestSha256, { verify: 'checksums' });
    const m = seg.reader.manifest;
    manifest = m;
    const report = await verifySegment(seg.reader.dir, m, { full: true, checksumsVerified: true });
    problems.push(...report.problems);
    if (report.contentHash !== p.contentHash)
      problems.push(`content hash ${report.contentHash} ≠ pointer's ${p.contentHash}`);
    if (m.counts.records !== p.count)
      problems.push(`manifest counts ${m.counts.records} ≠ pointer's ${p.count}`);
    if (m.snapshot?.version !== p.version)
      problems.push(`manifest version ${m.snapshot?.version} ≠ pointer's ${p.version}`);
  } catch (e) {
    problems.push(e instanceof StrataError ? e.describe() : String(e));
  }
  return {
    collection,
    ok: problems.length === 0,
    version: p.version,
    snapshot: p.snapshot,
    count: p.count,
    contentHash: p.contentHash,
    problems,
    ...(manifest ? { manifest } : {}),
  };
}

export function assertVerified(v: SnapshotVerification): void {
  if (!v.ok) {
    throw new VerificationError(
      `snapshot ${v.version} of ${v.collection} failed verification: ${v.problems.join('; ')}`,
      {
        collection: v.collection,
        snapshot: v.version ?? undefined,
      },
    );
  }
}
