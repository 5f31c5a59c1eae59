import { ErrorCodes, StrataError } from './errors.js';
import type { Metric, Quantization, SeqRange } from './types.js';

export const MANIFEST_FORMAT = 'strata.segment';
/** Written by this build. Version 1 (Strata 0.1's single-segment snapshots) is still read. */
export const MANIFEST_FORMAT_VERSION = 2;
const READABLE_VERSIONS: readonly number[] = [1, 2];

/**
 * - chunk, group: intermediate segments of a compaction run (puts, tombstones and patches, no index);
 * - changes: the tombstones and patches of a group, resolved against the base version by the final step;
 * - data: a segment a version lists (puts only, optional ANN index), content-addressed and shared;
 * - snapshot: a whole collection in one segment, as Strata 0.1 published it (read, never written).
 */
export type SegmentKind = 'chunk' | 'group' | 'changes' | 'data' | 'snapshot';

export interface ManifestFile {
  /** File name inside the segment (no directories). */
  name: string;
  size: number;
  sha256: string;
  role: 'records' | 'index';
}

/** A closed interval of delta sequence numbers promoted in one snapshot version. */
export type PromotedRange = [seqStart: number, seqEnd: number, version: number];

export interface SegmentManifest {
  format: typeof MANIFEST_FORMAT;
  formatVersion: number;
  kind: SegmentKind;
  collection: string;
  dimension: number;
  metric: Metric;
  /** Quantization of the ANN index, if the segment has one. */
  quantization: Quantization;
  index: null | { library: 'usearch'; connectivity: number; expansionAdd: number; expansionSearch: number };
  /** Live records (puts); for intermediate segments, also tombstones and patches. */
  counts: { records: number; tombstones: number; patches: number };
  /** Operation sequence range covered. */
  seqRange: SeqRange | null;
  /** Keys (store-relative) or delta seqStarts this segment was built from. */
  inputs: string[];
  /**
   * The logical record set's hash: equal content, equal hash, however built. Data segments: the digest of
   * their LtHash (`lthash`); other kinds: SHA-256 over the rows in id order.
   */
  contentHash: string;
  /** Data segments: the LtHash state of their records (base64), which versions add up. */
  lthash?: string;
  /** Data segments: the largest row key; keys are 1..maxKey (a merged segment has holes). */
  maxKey?: number;
  files: ManifestFile[];
  /** Format 1 snapshots only (today a version manifest says this). */
  snapshot?: {
    version: number;
    parentVersion: number | null;
    /** Which delta seq ranges are contained, and in which version each landed (the derived ledger). */
    promoted: PromotedRange[];
    promotedDeltas: number;
    build: 'full' | 'incremental';
    run: string;
  };
  /** Sharding is planned for: shard i of n by id hash. Always {0,1} today. */
  shard: { index: number; count: number };
  createdAt: string;
  producer: string;
}

export function parseManifest(text: string, context: Record<string, unknown> = {}): SegmentManifest {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new StrataError(ErrorCodes.MANIFEST_INVALID, 'manifest is not valid JSON', context, { cause: e });
  }
  const o = m as Partial<SegmentManifest>;
  if (o?.format !== MANIFEST_FORMAT) {
    throw new StrataError(ErrorCodes.MANIFEST_INVALID, 'not a Strata segment manifest', context);
  }
  if (!READABLE_VERSIONS.includes(o.formatVersion as number)) {
    throw new StrataError(
      ErrorCodes.MANIFEST_INVALID,
      `manifest format version ${o.formatVersion} is not supported (this build reads ${READABLE_VERSIONS.join(', ')})`,
      context,
    );
  }
  if (o.kind === 'data' && (typeof o.lthash !== 'string' || !Number.isInteger(o.maxKey))) {
    throw new StrataError(
      ErrorCodes.MANIFEST_INVALID,
      'data segment manifest lacks lthash or maxKey',
      context,
    );
  }
  if (!Array.isArray(o.files) || typeof o.contentHash !== 'string' || typeof o.dimension !== 'number') {
    throw new StrataError(ErrorCodes.MANIFEST_INVALID, 'manifest is missing required fields', context);
  }
  return o as SegmentManifest;
}

/** Stable serialization: the manifest's own bytes are hashed into the pointer. */
export function serializeManifest(m: SegmentManifest): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}
