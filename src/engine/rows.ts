import type { Metadata, MetadataPatch, RowKind } from '../core/types.js';

/**
 * One row of a segment: the folded state of one id after a sequence of operations.
 * - put: a full record (embedding, document, metadata)
 * - tombstone: the id was deleted
 * - patch: only document/metadata changes, to be applied onto whatever the base holds (intermediate segments)
 * Snapshots hold only puts.
 */
export interface SegmentRow {
  id: string;
  kind: RowKind;
  /** Sequence number of the last operation folded into this row. */
  seq: number;
  /** put only. */
  embedding: Float32Array | null;
  /** `undefined` only on a patch that leaves the document unchanged. */
  document: string | null | undefined;
  /** put: full metadata (or null). patch: keys to set, `null` values remove keys; `undefined` = unchanged. */
  metadata: Metadata | MetadataPatch | null | undefined;
}

export type { RowKind };
