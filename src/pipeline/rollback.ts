/**
 * Rollback: a new version whose records are those of a retained earlier version. Versions never go
 * backwards — the rollback is version N+1, published by the same fenced compare-and-swap as any other,
 * listing the earlier version's segments and deletion vectors (which retention and GC kept).
 *
 * What the ledger then says: the deltas that landed after the restored version are `rolled-back` (with the
 * version they had landed in and the rollback that undid them). They are not pending: later compactions do
 * not re-apply them (re-ingest them to apply them again). Deltas accepted after the rollback apply on top
 * of the restored records as usual. Rolling back to a version that still contained deltas a previous
 * rollback undid makes those promoted again: the ledger always says what the current version contains.
 */
import { ErrorCodes, StrataError, UsageError } from '../core/errors.js';
import type { PromotedRange } from '../core/manifest.js';
import type { RolledBackRange, VersionManifest } from '../core/version-manifest.js';
import type { ObjectStore } from '../store/index.js';
import { Lease, type LeaseOptions } from './lease.js';
import { promotedVersion } from './ledger.js';
import { openVersion } from './open-version.js';
import { baseRefOf, readPointer } from './pointer.js';
import { publishVersion } from './publish.js';
import { newRunId } from './runs.js';
import { readVersion, writeVersion } from './versions.js';

export interface RollbackOptions {
  toVersion: number;
  lease?: LeaseOptions;
  retain?: number;
}

export interface RollbackReport {
  collection: string;
  /** The version that was current. */
  from: number;
  /** The version whose records are restored. */
  to: number;
  /** The new version (from + 1). */
  version: number;
  count: number;
  contentHash: string;
  rolledBackDeltas: number;
}

export async function rollbackCollection(
  store: ObjectStore,
  collection: string,
  opts: RollbackOptions,
): Promise<RollbackReport> {
  await using lease = await Lease.acquire(store, collection, opts.lease);
  const cur = await readPointer(store, collection);
  const ctx = { collection, snapshot: opts.toVersion };
  if (!cur) throw new StrataError(ErrorCodes.NOT_FOUND, `collection ${collection} has no version yet`, ctx);
  if (opts.toVersion === cur.value.version) {
    throw new UsageError(`version ${opts.toVersion} is already current`, ctx);
  }
  const retained = cur.value.retained.find((r) => r.version === opts.toVersion);
  if (!retained) {
    const kept = cur.value.retained.map((r) => `v${r.version}`).join(', ') || 'none';
    throw new StrataError(
      ErrorCodes.NOT_FOUND,
      `version ${opts.toVersion} is not retained (retained: ${kept}); only retained versions can be restored`,
      ctx,
    );
  }
  const current = await readVersion(store, baseRefOf(cur)!, collection);
  const targetRef = {
    version: retained.version,
    ...(retained.manifest ? { manifest: retained.manifest } : {}),
    ...(retained.snapshot ? { snapshot: retained.snapshot } : {}),
    manifestSha256: retained.manifestSha256 ?? '',
  };
  let target = (await readVersion(store, targetRef, collection)).manifest;
  if (!retained.manifest) {
    // a format 1 snapshot: its key space and LtHash are computed once, as the next publish would
    await using v = await openVersion(store, collection, targetRef);
    const seg = v.segments[0]!;
    const lthash = seg.segment.reader.recomputeContent(true).lthash!;
    target = {
      ...target,
      segments: [{ ...seg.entry, maxKey: seg.segment.reader.maxKey, lthash: lthash.encode() }],
      lthash: lthash.encode(),
      contentHash: lthash.digest(),
    };
  }
  const version = cur.value.version + 1;
  const rolledBack = undone(current.manifest, target, version);
  const manifest: VersionManifest = {
    ...target,
    version,
    parentVersion: cur.value.version,
    cause: 'rollback',
    run: newRunId(),
    restores: opts.toVersion,
    rolledBack,
    createdAt: new Date().toISOString(),
  };
  delete manifest.merged;
  const written = await writeVersion(store, manifest);
  const pointer = await publishVersion(store, lease, {
    collection,
    run: manifest.run,
    version: {
      version,
      key: written.key,
      sha256: written.sha256,
      count: manifest.count,
      contentHash: manifest.contentHash,
      segments: manifest.segments.length,
      newBytes: 0,
    },
    base: cur,
    retain: opts.retain ?? Math.max(4, cur.value.retained.length + 1),
  });
  return {
    collection,
    from: cur.value.version,
    to: opts.toVersion,
    version: pointer.version,
    count: manifest.count,
    contentHash: manifest.contentHash,
    rolledBackDeltas: rolledBack.length - target.rolledBack.length,
  };
}

/**
 * The rolled-back table of the new version: the target's own, plus every range the current version holds
 * (promoted, or already rolled back) that the target does not contain.
 */
function undone(current: VersionManifest, target: VersionManifest, by: number): RolledBackRange[] {
  const out: RolledBackRange[] = [...target.rolledBack];
  const inTarget = (seq: number) => promotedVersion(target.promoted, seq) !== undefined;
  const already = (seq: number) => out.some((r) => seq >= r[0] && seq <= r[1]);
  for (const r of current.promoted as PromotedRange[]) {
    if (!inTarget(r[0]) && !already(r[0])) out.push([r[0], r[1], r[2], by]);
  }
  for (const r of current.rolledBack) {
    if (!inTarget(r[0]) && !already(r[0])) out.push(r);
  }
  return out.sort((a, b) => a[0] - b[0]);
}
