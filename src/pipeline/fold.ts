/**
 * The merge algebra. A row is the folded state of one id; folding is associative, so any grouping of
 * deltas (chunk and group sizes) gives the same result as applying the operations one by one — provided
 * inputs are folded in sequence order, which the planner guarantees (chunks and groups are contiguous,
 * ordered runs of deltas).
 *
 *   later put        → replaces everything
 *   later tombstone  → deletes
 *   later patch      → onto a put: merged field by field; onto a tombstone: nothing (update of a missing
 *                      id is a no-op); onto a patch: composed
 */
import type { Metadata, MetadataPatch, SequencedOperation } from '../core/types.js';
import type { SegmentRow } from '../engine/index.js';

export function rowFromOp(op: SequencedOperation): SegmentRow {
  switch (op.op) {
    case 'upsert':
      return {
        id: op.id,
        kind: 'put',
        seq: op.seq,
        embedding: op.embedding,
        document: op.document ?? null,
        metadata: op.metadata ?? null,
      };
    case 'delete':
      return { id: op.id, kind: 'tombstone', seq: op.seq, embedding: null, document: null, metadata: null };
    case 'update':
      return {
        id: op.id,
        kind: 'patch',
        seq: op.seq,
        embedding: null,
        document: op.document === undefined ? undefined : op.document,
        metadata: op.metadata === undefined || op.metadata === null ? undefined : op.metadata,
      };
  }
}

function applyMetadataPatch(base: Metadata | null, patch: MetadataPatch): Metadata | null {
  const out: Record<string, unknown> = { ...(base ?? {}) };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return Object.keys(out).length ? (out as Metadata) : null;
}

function composePatches(a: MetadataPatch, b: MetadataPatch): MetadataPatch {
  return { ...a, ...b };
}

/** Folds `later` onto `earlier` (both for the same id; later.seq > earlier.seq). */
export function foldRows(earlier: SegmentRow | undefined, later: SegmentRow): SegmentRow {
  if (!earlier || later.kind !== 'patch') return later;
  switch (earlier.kind) {
    case 'tombstone':
      return { ...earlier, seq: later.seq };
    case 'put':
      return {
        ...earlier,
        seq: later.seq,
        document: later.document === undefined ? earlier.document : later.document,
        metadata:
          later.metadata === undefined || later.metadata === null
            ? earlier.metadata
            : applyMetadataPatch(
                (earlier.metadata as Metadata | null) ?? null,
                later.metadata as MetadataPatch,
              ),
      };
    case 'patch':
      return {
        ...earlier,
        seq: later.seq,
        document: later.document === undefined ? earlier.document : later.document,
        metadata:
          later.metadata === undefined || later.metadata === null
            ? earlier.metadata
            : earlier.metadata === undefined || earlier.metadata === null
              ? later.metadata
              : composePatches(earlier.metadata as MetadataPatch, later.metadata as MetadataPatch),
      };
  }
}

/**
 * Applies a folded change row onto a snapshot row (base: only puts). Returns the resulting put, or
 * undefined if the id is absent afterwards.
 */
export function applyToBase(base: SegmentRow | undefined, change: SegmentRow): SegmentRow | undefined {
  switch (change.kind) {
    case 'put':
      return change;
    case 'tombstone':
      return undefined;
    case 'patch':
      return base ? foldRows(base, change) : undefined;
  }
}
