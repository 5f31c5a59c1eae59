/**
 * Reading and writing versions: the version manifest a pointer names, and the deletion vectors it lists.
 * Both are immutable; both are checked against the SHA-256 their referrer recorded before they are parsed.
 * A format 1 pointer (one snapshot segment, Strata 0.1) reads as a version of that one segment with nothing
 * deleted, marked `legacy` (its key space and LtHash are not recorded; the next publish computes them once).
 */
import { randomUUID } from 'node:crypto';
import { DeletionVector } from '../core/deletion-vector.js';
import {
  ErrorCodes,
  IntegrityError,
  NotFoundError,
  PreconditionFailedError,
  StrataError,
} from '../core/errors.js';
import { sha256Hex } from '../core/hash.js';
import type { SegmentManifest } from '../core/manifest.js';
import {
  parseVersionManifest,
  serializeVersionManifest,
  VERSION_FORMAT,
  VERSION_FORMAT_VERSION,
  type VersionManifest,
  type VersionSegment,
} from '../core/version-manifest.js';
import type { ObjectStore } from '../store/index.js';
import { Keys } from './layout.js';
import type { BaseRef } from './pointer.js';
import { fetchManifest } from './segments.js';

export interface ResolvedVersion {
  manifest: VersionManifest;
  /** The version manifest's key, or (legacy) the snapshot segment's prefix. */
  key: string;
  sha256: string;
  /** A format 1 snapshot read as a one-segment version. */
  legacy: boolean;
}

export async function readVersion(
  store: ObjectStore,
  ref: BaseRef,
  collection: string,
): Promise<ResolvedVersion> {
  if (ref.manifest) {
    const key = ref.manifest;
    let bytes: Uint8Array;
    try {
      bytes = await store.get(key);
    } catch (e) {
      if (e instanceof NotFoundError) {
        throw new StrataError(ErrorCodes.VERSION_INVALID, `version ${ref.version} has no manifest`, {
          collection,
          key,
          snapshot: ref.version,
        });
      }
      throw e;
    }
    const sha256 = sha256Hex(bytes);
    if (sha256 !== ref.manifestSha256) {
      throw new IntegrityError(
        ErrorCodes.STORE_INTEGRITY,
        'version manifest does not match the hash its pointer recorded',
        {
          collection,
          key,
          expected: ref.manifestSha256,
          actual: sha256,
        },
      );
    }
    const manifest = parseVersionManifest(Buffer.from(bytes).toString('utf8'), { collection, key });
    if (manifest.version !== ref.version || manifest.collection !== collection) {
      throw new StrataError(
        ErrorCodes.VERSION_INVALID,
        `version manifest says ${manifest.collection} v${manifest.version}, its pointer ${collection} v${ref.version}`,
        { collection, key },
      );
    }
    return { manifest, key, sha256, legacy: false };
  }
  if (!ref.snapshot)
    throw new StrataError(ErrorCodes.VERSION_INVALID, 'pointer names no version', { collection });
  const { manifest: seg, sha256 } = await fetchManifest(store, ref.snapshot, ref.manifestSha256);
  return { manifest: legacyVersion(collection, ref, seg, sha256), key: ref.snapshot, sha256, legacy: true };
}

/** A format 1 snapshot segment as a version manifest (maxKey and lthash unknown: 0 and ''). */
function legacyVersion(
  collection: string,
  ref: BaseRef,
  seg: SegmentManifest,
  sha256: string,
): VersionManifest {
  return {
    format: VERSION_FORMAT,
    formatVersion: VERSION_FORMAT_VERSION,
    collection,
    version: ref.version,
    parentVersion: seg.snapshot?.parentVersion ?? null,
    cause: 'publish',
    run: seg.snapshot?.run ?? '',
    dimension: seg.dimension,
    metric: seg.metric,
    segments: [
      {
        prefix: ref.snapshot!,
        manifestSha256: sha256,
        rows: seg.counts.records,
        maxKey: 0,
        indexed: seg.index !== null,
        bytes: seg.files.reduce((n, f) => n + f.size, 0),
        seqRange: seg.seqRange,
        lthash: '',
        deleted: 0,
        dv: null,
      },
    ],
    count: seg.counts.records,
    lthash: '',
    contentHash: seg.contentHash,
    promoted: seg.snapshot?.promoted ?? [],
    promotedDeltas: seg.snapshot?.promotedDeltas ?? 0,
    rolledBack: [],
    shard: seg.shard,
    createdAt: seg.createdAt,
    producer: seg.producer,
  };
}

/** Writes a version manifest under a fresh key (create-only); returns its key and SHA-256. */
export async function writeVersion(
  store: ObjectStore,
  m: VersionManifest,
): Promise<{ key: string; sha256: string }> {
  const key = Keys.version(m.collection, m.version, `${m.run}-${randomUUID().slice(0, 8)}`);
  const text = serializeVersionManifest(m);
  const sha256 = sha256Hex(text);
  await store.put(key, text, { sha256, contentType: 'application/json', ifNoneMatch: '*' });
  return { key, sha256 };
}

/** Reads one segment's deletion vector as a version lists it, checked against hash, key space and count. */
export async function readDeletionVector(
  store: ObjectStore,
  collection: string,
  entry: VersionSegment,
): Promise<DeletionVector> {
  const ctx = { collection, segment: entry.prefix };
  if (entry.dv === null) return DeletionVector.empty(entry.maxKey);
  let bytes: Uint8Array;
  try {
    bytes = await store.get(entry.dv.key);
  } catch (e) {
    if (e instanceof NotFoundError) {
      throw new StrataError(ErrorCodes.DELETION_VECTOR_INVALID, 'deletion vector is missing', {
        ...ctx,
        key: entry.dv.key,
      });
    }
    throw e;
  }
  const sha = sha256Hex(bytes);
  if (sha !== entry.dv.sha256) {
    throw new StrataError(
      ErrorCodes.DELETION_VECTOR_INVALID,
      'deletion vector does not match its recorded SHA-256',
      {
        ...ctx,
        key: entry.dv.key,
        expected: entry.dv.sha256,
        actual: sha,
      },
    );
  }
  const dv = DeletionVector.decode(bytes, { ...ctx, key: entry.dv.key });
  if (dv.keySpace !== entry.maxKey) {
    throw new StrataError(
      ErrorCodes.DELETION_VECTOR_INVALID,
      `deletion vector covers keys 1..${dv.keySpace}, its segment 1..${entry.maxKey}`,
      { ...ctx, key: entry.dv.key },
    );
  }
  if (dv.count !== entry.deleted) {
    throw new StrataError(
      ErrorCodes.DELETION_VECTOR_INVALID,
      `deletion vector holds ${dv.count} keys, its version says ${entry.deleted}`,
      { ...ctx, key: entry.dv.key },
    );
  }
  return dv;
}

/** Stores a deletion vector by content address (a no-op when it is already there). */
export async function writeDeletionVector(
  store: ObjectStore,
  collection: string,
  dv: DeletionVector,
): Promise<{ key: string; sha256: string }> {
  const bytes = dv.encode();
  const sha256 = sha256Hex(bytes);
  const key = Keys.deletion(collection, sha256);
  try {
    await store.put(key, bytes, { sha256, contentType: 'application/octet-stream', ifNoneMatch: '*' });
  } catch (e) {
    if (!(e instanceof PreconditionFailedError)) throw e; // same address, same bytes
  }
  return { key, sha256 };
}
