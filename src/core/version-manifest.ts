/**
 * A version: what a collection's pointer names. An immutable JSON object under a fresh key
 * (`versions/v<version>-<run>-<attempt>.json`) listing the segments that hold the collection's records,
 * each by its content address (the SHA-256 of the segment's sealed manifest), with the deletion vector
 * that says which of its rows are superseded as of this version. Segments are shared by every version
 * that lists them; a publish adds segments and deletion vectors, never rewrites a listed segment.
 *
 * The version also carries what the ledger derives from (which delta sequence ranges it contains, and in
 * which version each landed) and the records' updatable content hash: the LtHash sum of its segments
 * minus its superseded rows, so equal record sets give equal hashes however they are laid out.
 */
import { ErrorCodes, StrataError } from './errors.js';
import type { PromotedRange } from './manifest.js';
import type { Metric, SeqRange } from './types.js';

export const VERSION_FORMAT = 'strata.version';

/** [seqStart, seqEnd, the version it had landed in, the rollback version that undid it]. */
export type RolledBackRange = [seqStart: number, seqEnd: number, landed: number, by: number];
export const VERSION_FORMAT_VERSION = 1;

/** How a version came to be. */
export type VersionCause = 'publish' | 'merge' | 'rollback';

export interface VersionSegment {
  /** Store key prefix of the segment's files (ends with '/'). */
  prefix: string;
  /** SHA-256 of the segment's manifest.json bytes: its content address. */
  manifestSha256: string;
  /** Rows (puts) the segment holds, superseded ones included. */
  rows: number;
  /** The segment's largest row key: the key space of its deletion vector. */
  maxKey: number;
  /** Whether the segment has an ANN index (otherwise it is searched exactly). */
  indexed: boolean;
  /** Bytes of the segment's files. */
  bytes: number;
  seqRange: SeqRange | null;
  /** The segment's own LtHash state (base64). */
  lthash: string;
  /** Rows superseded as of this version. */
  deleted: number;
  /** The deletion vector (null when nothing is deleted): its key and SHA-256. */
  dv: { key: string; sha256: string } | null;
}

export interface VersionManifest {
  format: typeof VERSION_FORMAT;
  formatVersion: number;
  collection: string;
  version: number;
  parentVersion: number | null;
  cause: VersionCause;
  run: string;
  dimension: number;
  metric: Metric;
  /** Oldest first: a row of a later segment supersedes the same id's row of an earlier one. */
  segments: VersionSegment[];
  /** Live records. */
  count: number;
  /** LtHash state of the live records (base64) and its digest, the version's content hash. */
  lthash: string;
  contentHash: string;
  /** Delta sequence ranges this version contains, and the version each landed in (the derived ledger). */
  promoted: PromotedRange[];
  promotedDeltas: number;
  /** Delta ranges a rollback undid: where each had landed and which rollback version undid it. */
  rolledBack: RolledBackRange[];
  /** merge: the segments it replaced; rollback: the version whose records it restores. */
  merged?: { inputs: string[]; output: string };
  restores?: number;
  /** Sharding is planned for: shard i of n by id hash. Always {0,1} today. */
  shard: { index: number; count: number };
  createdAt: string;
  producer: string;
}

export function parseVersionManifest(text: string, context: Record<string, unknown> = {}): VersionManifest {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new StrataError(ErrorCodes.VERSION_INVALID, 'version manifest is not valid JSON', context, {
      cause: e,
    });
  }
  const o = m as Partial<VersionManifest>;
  const bad = (msg: string) =>
    new StrataError(ErrorCodes.VERSION_INVALID, `version manifest ${msg}`, context);
  if (o?.format !== VERSION_FORMAT) throw bad('is not a Strata version manifest');
  if (o.formatVersion !== VERSION_FORMAT_VERSION) {
    throw bad(
      `format version ${o.formatVersion} is not supported (this build reads ${VERSION_FORMAT_VERSION})`,
    );
  }
  if (
    !Number.isInteger(o.version) ||
    !Array.isArray(o.segments) ||
    typeof o.lthash !== 'string' ||
    !Array.isArray(o.promoted) ||
    !Number.isInteger(o.count)
  ) {
    throw bad('is missing required fields');
  }
  const seen = new Set<string>();
  for (const s of o.segments) {
    if (
      typeof s?.prefix !== 'string' ||
      !/^[0-9a-f]{64}$/.test(String(s.manifestSha256)) ||
      !Number.isInteger(s.rows) ||
      !Number.isInteger(s.maxKey) ||
      !Number.isInteger(s.deleted) ||
      s.deleted < 0 ||
      s.deleted > s.rows ||
      (s.dv !== null && (typeof s.dv?.key !== 'string' || !/^[0-9a-f]{64}$/.test(String(s.dv.sha256)))) ||
      (s.dv === null && s.deleted !== 0)
    ) {
      throw bad(`lists a malformed segment entry (${JSON.stringify(s?.prefix ?? null)})`);
    }
    if (seen.has(s.manifestSha256)) throw bad(`lists segment ${s.manifestSha256} twice`);
    seen.add(s.manifestSha256);
  }
  o.rolledBack ??= [];
  return o as VersionManifest;
}

export function serializeVersionManifest(m: VersionManifest): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

/** Live records of a segment entry. */
export const liveRows = (s: VersionSegment): number => s.rows - s.deleted;
