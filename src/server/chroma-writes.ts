/**
 * Chroma's write semantics, as a pure translation of a parsed request into Strata operations. Chroma's
 * writes depend on the records as they are when the request arrives; Strata's operations do not (an
 * `upsert` replaces a whole record, an `update` patches document and metadata, `null` metadata values
 * removing keys, and is a no-op for a missing id). Checked against the real server (chromadb 3.0.14's
 * server 1.0.0):
 *
 *   add      an id that exists is left as it is; a new one is inserted.
 *   upsert   an id that exists gets the new vector; its document is replaced only by a non-null one; its
 *            metadata is updated key by key (a null value removes the key; {} or null change nothing).
 *            A new id is inserted (null metadata values dropped).
 *   update   an id that does not exist is ignored; one that exists is changed as by upsert (the vector
 *            only when one is given).
 *   delete   by ids: those records; by where / where_document (within ids, if given): the records that
 *            match them now; with neither: nothing.
 *
 * In a cosine collection Chroma keeps each vector as its unit vector and norm and answers their product;
 * the vector written is that product (chromaView), so that reads return Chroma's bits exactly.
 *
 * The state comes in as a RecordState; chroma-state.ts says which records it sees.
 */
import type { Metadata, MetadataPatch, Metric, Operation } from '../core/types.js';
import { validateStorableOperation } from '../ingest/index.js';
import { chromaView } from '../interop/chroma/index.js';
import type { RowFilter } from '../query/index.js';

/** A record as it is now. */
export interface StoredRecord {
  embedding: Float32Array;
  document: string | null;
  metadata: Metadata | null;
}

/** The records under these ids as they are now (an id that does not exist is not in the map). */
export type Lookup = (ids: readonly string[]) => Map<string, StoredRecord>;

export interface RecordState {
  lookup: Lookup;
  /** Ids of the records that pass a filter now. */
  select(filter: RowFilter): string[];
}

/** One record of an add/upsert/update, validated; `undefined`/`null` fields were not given. */
export interface WriteRecord {
  id: string;
  embedding?: Float32Array | null;
  document?: string | null;
  /** add: no null values (refused earlier); upsert/update: a null value removes the key. */
  metadata?: MetadataPatch | null;
}

export type ChromaWrite =
  | { kind: 'add' | 'upsert' | 'update'; records: WriteRecord[] }
  | { kind: 'delete'; ids?: string[]; filter?: RowFilter; limit?: number };

export interface Translation {
  ops: Operation[];
  /** How many records the request changes as far as the state tells (delete's answer). */
  affected: number;
}

export interface TranslateOptions {
  metric: Metric;
  dimension: number;
}

/** The metadata after a Chroma update of it: key by key, null removes; nothing left is null. */
export function mergeMetadata(
  base: Metadata | null,
  patch: MetadataPatch | null | undefined,
): Metadata | null {
  if (!patch) return base;
  const out: Record<string, unknown> = { ...(base ?? {}) };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return Object.keys(out).length > 0 ? (out as Metadata) : null;
}

export function translateWrite(w: ChromaWrite, state: RecordState, o: TranslateOptions): Translation {
  const vector = (e: Float32Array) => (o.metric === 'cos' ? chromaView(e) : e);
  const op = (raw: Record<string, unknown>, row: number): Operation =>
    validateStorableOperation(raw, o.dimension, { row });
  if (w.kind === 'delete') {
    if (w.filter && (w.filter.where || w.filter.whereDocument)) {
      let ids = state.select(w.filter);
      if (w.limit !== undefined) ids = ids.slice(0, w.limit);
      return { ops: ids.map((id, i) => op({ op: 'delete', id }, i)), affected: ids.length };
    }
    const ids = w.ids ?? [];
    // every id is deleted (a missing one costs a tombstone): right even if the state is behind
    const present = state.lookup(ids);
    return {
      ops: ids.map((id, i) => op({ op: 'delete', id }, i)),
      affected: ids.filter((id) => present.has(id)).length,
    };
  }
  const ops: Operation[] = [];
  const needsState = w.kind !== 'update' || w.records.some((r) => r.embedding);
  const now = needsState ? state.lookup(w.records.map((r) => r.id)) : new Map<string, StoredRecord>();
  w.records.forEach((r, i) => {
    const old = now.get(r.id);
    // add keeps an existing record as it is
    if (w.kind === 'add' && old) return;
    // a new record: add, or an upsert of a missing id
    if (w.kind === 'add' || (w.kind === 'upsert' && !old)) {
      ops.push(
        op(
          {
            op: 'upsert',
            id: r.id,
            embedding: vector(r.embedding!),
            document: r.document ?? null,
            metadata: mergeMetadata(null, r.metadata),
          },
          i,
        ),
      );
      return;
    }
    if (r.embedding) {
      // update of a missing id: nothing (the state said it is missing)
      if (!old) return;
      ops.push(
        op(
          {
            op: 'upsert',
            id: r.id,
            embedding: vector(r.embedding),
            document: r.document ?? old.document,
            metadata: mergeMetadata(old.metadata, r.metadata),
          },
          i,
        ),
      );
      return;
    }
    // no new vector: a patch, which is a no-op for a missing id whatever the state says
    const patch: Record<string, unknown> = { op: 'update', id: r.id };
    if (r.document !== undefined && r.document !== null) patch.document = r.document;
    if (r.metadata && Object.keys(r.metadata).length > 0) patch.metadata = r.metadata;
    if (patch.document !== undefined || patch.metadata !== undefined) ops.push(op(patch, i));
  });
  return { ops, affected: ops.length };
}
