/**
 * Chroma's reads (get, query, count) and the row selection of a filtered delete, answered from one served
 * version: the caller holds a reference on it for the whole call, so every row of an answer comes from the
 * same version.
 */
import { type KnnStrategy, type RowFilter, type RowRef, VersionView } from '../query/index.js';
import type { Include } from './chroma-codec.js';

export interface RowsPayload {
  ids: string[];
  documents: Array<string | null> | null;
  metadatas: Array<Record<string, unknown> | null> | null;
  embeddings: number[][] | null;
  uris: null[] | null;
}

/** The requested fields of these rows, from memory (vectors from the record store when not cached). */
export function rowsPayload(view: VersionView, refs: RowRef[], include: readonly Include[]): RowsPayload {
  const ids = refs.map((r) => view.id(r));
  let embeddings: number[][] | null = null;
  if (include.includes('embeddings')) {
    embeddings = refs.map(({ part, row }) => {
      const src = view.parts[part]!.source;
      const d = src.dimension;
      const v = src.vectors;
      return Array.from(v ? v.subarray(row * d, row * d + d) : src.gather([row]));
    });
  }
  return {
    ids,
    documents: include.includes('documents')
      ? refs.map(({ part, row }) => view.parts[part]!.source.documents()[row] ?? null)
      : null,
    metadatas: include.includes('metadatas')
      ? refs.map(({ part, row }) => view.parts[part]!.source.metadata[row] ?? null)
      : null,
    embeddings,
    uris: include.includes('uris') ? refs.map(() => null) : null,
  };
}

/** Rows that pass the filter: in the order of `ids` when given, else segment by segment. */
export function selectRows(view: VersionView, filter: RowFilter): RowRef[] {
  return view.select(filter);
}

export interface QueryAnswer {
  refs: RowRef[][];
  distances: number[][];
  /** Per query, the plan of each part (segment, tail) that had eligible rows. */
  strategies: KnnStrategy[][];
}

/** k nearest matching rows of each query vector. The filter is evaluated once for all of them. */
/** One query's plan as a metric label: the distinct strategies its parts used, sorted ("ann+exact"). */
export function planLabel(strategies: readonly string[]): string {
  return strategies.length === 0 ? 'empty' : [...new Set(strategies)].sort().join('+');
}

export function queryRows(
  view: VersionView,
  queries: Float32Array[],
  k: number,
  filter: RowFilter,
  ef?: number,
): QueryAnswer {
  const evaluated = view.evaluate(filter);
  const out: QueryAnswer = { refs: [], distances: [], strategies: [] };
  for (const q of queries) {
    const r = view.knn(q, k, evaluated, ef ? { ef } : {});
    out.refs.push(r.hits);
    out.distances.push(r.hits.map((h) => h.distance));
    out.strategies.push(r.strategies);
  }
  return out;
}

export { VersionView };
