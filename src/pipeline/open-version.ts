/**
 * A version opened for reading: each listed segment opened (in place on a local store, through the local
 * segment cache otherwise; every file's SHA-256 checked before anything is mapped) with its deletion vector
 * read and checked against the segment (key space, count). Owns the opened segments; close() releases
 * them all. Steps (final, merge), verification and one-shot readers use it; the query server shares
 * segments between versions through its own pool instead.
 */
import type { DeletionVector } from '../core/deletion-vector.js';
import { ErrorCodes, StrataError } from '../core/errors.js';
import type { VersionSegment } from '../core/version-manifest.js';
import type { OpenOptions, SegmentRow } from '../engine/index.js';
import type { ObjectStore } from '../store/index.js';
import type { BaseRef } from './pointer.js';
import { type OpenedSegment, openStoredSegment } from './segments.js';
import { type ResolvedVersion, readDeletionVector, readVersion } from './versions.js';

export interface OpenedVersionSegment {
  entry: VersionSegment;
  segment: OpenedSegment;
  dv: DeletionVector;
}

export class OpenedVersion implements AsyncDisposable {
  constructor(
    readonly collection: string,
    readonly resolved: ResolvedVersion,
    readonly segments: OpenedVersionSegment[],
  ) {}

  get version(): number {
    return this.resolved.manifest.version;
  }

  /** Live records (not superseded), segment by segment, each segment in id order. */
  *liveRows(): Generator<SegmentRow> {
    for (const s of this.segments) {
      for (const { key, row } of s.segment.reader.scanWithKeys()) if (!s.dv.has(key)) yield row;
    }
  }

  /** Live records. */
  get count(): number {
    return this.resolved.manifest.count;
  }

  async close(): Promise<void> {
    const errors: unknown[] = [];
    for (const s of this.segments) await s.segment.close().catch((e: unknown) => errors.push(e));
    if (errors.length > 0) throw errors[0];
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Opens every segment of a version with its deletion vector. Nothing stays open if any of it fails. */
export async function openVersion(
  store: ObjectStore,
  collection: string,
  ref: BaseRef | ResolvedVersion,
  opts: OpenOptions = {},
): Promise<OpenedVersion> {
  const resolved = 'legacy' in ref ? ref : await readVersion(store, ref, collection);
  const opened: OpenedVersionSegment[] = [];
  try {
    for (const entry of resolved.manifest.segments) {
      const segment = await openStoredSegment(store, entry.prefix, entry.manifestSha256, opts);
      opened.push({ entry, segment, dv: undefined as unknown as DeletionVector });
      const m = segment.reader.manifest;
      if (m.kind !== 'data' && m.kind !== 'snapshot') {
        throw new StrataError(ErrorCodes.VERSION_INVALID, `version lists a ${m.kind} segment`, {
          collection,
          segment: entry.prefix,
        });
      }
      if (
        !resolved.legacy &&
        (m.counts.records !== entry.rows || (m.maxKey ?? segment.reader.maxKey) !== entry.maxKey)
      ) {
        throw new StrataError(
          ErrorCodes.VERSION_INVALID,
          `segment holds ${m.counts.records} rows (keys to ${m.maxKey}), its version entry says ${entry.rows} (keys to ${entry.maxKey})`,
          { collection, segment: entry.prefix },
        );
      }
      opened[opened.length - 1]!.dv = await readDeletionVector(
        store,
        collection,
        resolved.legacy ? { ...entry, maxKey: segment.reader.maxKey } : entry,
      );
    }
  } catch (e) {
    for (const o of opened) await o.segment.close().catch(() => undefined);
    throw e;
  }
  return new OpenedVersion(collection, resolved, opened);
}
