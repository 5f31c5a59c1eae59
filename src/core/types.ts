/** Records, operations and the small vocabulary every layer shares (docs/architecture.md, "Words"). */

export type Metric = 'cos' | 'l2sq' | 'ip';
export type Quantization = 'f32' | 'f16';
export const METRICS: readonly Metric[] = ['cos', 'l2sq', 'ip'];
export const QUANTIZATIONS: readonly Quantization[] = ['f32', 'f16'];

export type MetadataScalar = string | number | boolean;
export type MetadataValue = MetadataScalar | MetadataScalar[];
export type Metadata = Record<string, MetadataValue>;
/** In an update, a `null` value removes the key. */
export type MetadataPatch = Record<string, MetadataValue | null>;

/** One vector and what describes it. */
export interface VectorRecord {
  id: string;
  embedding: Float32Array;
  document?: string | null;
  metadata?: Metadata | null;
}

export type OpKind = 'upsert' | 'delete' | 'update';

export interface UpsertOp {
  op: 'upsert';
  id: string;
  embedding: Float32Array;
  document?: string | null;
  metadata?: Metadata | null;
}
export interface DeleteOp {
  op: 'delete';
  id: string;
}
/** Changes a record's document and/or metadata, never its vector. `undefined` = unchanged. */
export interface UpdateOp {
  op: 'update';
  id: string;
  document?: string | null;
  metadata?: MetadataPatch | null;
}
export type Operation = UpsertOp | DeleteOp | UpdateOp;

/** An operation with its position in the collection's total order. */
export type SequencedOperation = Operation & { seq: number };

/** A closed interval of sequence numbers: a delta's, or the operations a segment covers. */
export type SeqRange = [seqStart: number, seqEnd: number];

/**
 * The folded state of one id in a segment row: a full record (put), a deletion (tombstone), or document
 * and metadata changes still to be applied onto whatever an earlier segment holds (patch).
 */
export type RowKind = 'put' | 'tombstone' | 'patch';

/** How a collection is configured: fixed at creation, recorded in every delta and manifest. */
export interface CollectionConfig {
  name: string;
  dimension: number;
  metric: Metric;
  quantization: Quantization;
  /** HNSW graph degree (M). */
  connectivity: number;
  expansionAdd: number;
  expansionSearch: number;
  createdAt: string;
  /** Free-form, e.g. Chroma's tenant/database/metadata when created over the Chroma API. */
  extra?: Record<string, unknown>;
}

export const DEFAULT_INDEX = { connectivity: 16, expansionAdd: 128, expansionSearch: 64 } as const;
