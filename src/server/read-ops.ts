/**
 * Chroma's reads (get, query, count) and the row selection of a filtered delete, answered from one
 * served snapshot: the caller holds a reference on it for the whole call, so every row of an answer
 * comes from the same snapshot.
 */

import { evaluateFilter, type RowFilter } from '../query/filter.js';
import { type KnnStrategy, knn } from '../query/knn.js';
import type { Include } from './chroma-codec.js';
import type { ServedSnapshot } from './served-snapshot.js';

export interface RowsPayload {
  ids: string[];
  documents: Array<string | null> | null;
  metadatas: Array<Record<string, unknown> | null> | null;
  embeddings: number[][] | null;
  uris: null[] | null;
}

/** The requested fields of these rows, from memory (documents load once per snapshot; vectors if cached). */
export function rowsPayload(snap: ServedSnapshot, rows: number[], include: readonly Include[]): RowsPayload {
  const view = snap.view;
  const ids = rows.map((r) => view.ids[r]!);
  let embeddings: number[][] | null = null;
  if (include.includes('embeddings')) {
    const d = view.dimension;
    const vectors = view.vectors;
    if (vectors) embeddings = rows.map((r) => Array.from(vectors.subarray(r * d, r * d + d)));
    else {
      const got = snap.segment.reader.getRows(ids);
      embeddings = ids.map((id) => Array.from(got.get(id)?.embedding ?? []));
    }
  }
  const docs = include.includes('documents') ? view.documents() : null;
  return {
    ids,
    documents: docs ? rows.map((r) => docs[r] ?? null) : null,
    metadatas: include.includes('metadatas') ? rows.map((r) => view.metadata[r] ?? null) : null,
    embeddings,
    uris: include.includes('uris') ? rows.map(() => null) : null,
  };
}

/** Rows that pass the filter: in the order of `ids` when given, else in snapshot (key) order. */
export function selectRows(snap: ServedSnapshot, filter: RowFilter): number[] {
  const view = snap.view;
  const { mask } = evaluateFilter(view, filter);
  if (filter.ids) {
    const out: number[] = [];
    for (const id of filter.ids) {
      const r = view.rowOfId(id);
      if (r >= 0 && (mask === null || mask[r])) out.push(r);
    }
    return out;
  }
  if (mask === null) return Array.from({ length: view.size }, (_, i) => i);
  const out: number[] = [];
  for (let i = 0; i < mask.length; i++) if (mask[i]) out.push(i);
  return out;
}

export interface QueryAnswer {
  rows: number[][];
  distances: number[][];
  strategies: KnnStrategy[];
}

/** k nearest matching rows of each query vector. The filter is evaluated once for all of them. */
export function queryRows(
  snap: ServedSnapshot,
  queries: Float32Array[],
  k: number,
  filter: RowFilter,
  ef?: number,
): QueryAnswer {
  const { mask, count } = evaluateFilter(snap.view, filter);
  const out: QueryAnswer = { rows: [], distances: [], strategies: [] };
  for (const q of queries) {
    const r = knn(snap.segment.reader, snap.view, q, k, mask, count, ef ? { ef } : {});
    out.rows.push(r.rows);
    out.distances.push(r.distances);
    out.strategies.push(r.strategy);
  }
  return out;
}
