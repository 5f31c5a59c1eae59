/**
 * Filtered k-NN for the query server. usearch's JS binding cannot filter, and the filter mask tells the
 * exact number of matching rows, so each query picks its plan by that selectivity:
 *  - no filter: the index (f16 candidates re-ranked by exact f32 distance inside SegmentReader.search);
 *  - few matches: exact search over just the matching vectors (gathered from memory);
 *  - many matches: over-fetch from the index (about k / selectivity candidates, widened if too few
 *    match), keep the matching ones and re-rank them by exact f32 distance.
 * Both filtered plans return the true top-k among matching rows up to the index's recall on the
 * over-fetched set; the exact plan is exact.
 */
import { exactNearest } from '../engine/ann-index.js';
import type { SegmentReader } from '../engine/index.js';
import type { Mask } from './filter.js';
import type { SnapshotView } from './snapshot-view.js';

export type KnnStrategy = 'ann' | 'exact' | 'exact-subset' | 'ann-overfetch';

export interface KnnResult {
  rows: number[];
  distances: number[];
  strategy: KnnStrategy;
}

export interface KnnOptions {
  /** Exact search when at most this many rows match (default: chosen by cost, see exactLimit()). */
  exactBelow?: number;
  ef?: number;
}

/**
 * Up to how many matching rows an exact search is cheaper than over-fetching: the exact plan costs about
 * one distance per matching row, the over-fetch plan an HNSW walk of about k·n/m candidates. Measured on
 * 28k × 1536 f16 (bench: serve): equal near m ≈ 2,000; scaled by dimension for other shapes.
 */
export function exactLimit(dimension: number): number {
  return Math.max(256, Math.round((2_000 * 1536) / Math.max(64, dimension)));
}

export function knn(
  reader: SegmentReader,
  view: SnapshotView,
  query: Float32Array,
  k: number,
  mask: Mask | null,
  matching: number,
  opts: KnnOptions = {},
): KnnResult {
  const want = Math.min(k, matching);
  if (want <= 0) return { rows: [], distances: [], strategy: mask ? 'exact-subset' : 'ann' };
  if (mask === null) {
    if (!reader.hasIndex) return exactOver(view, reader, query, want, null, 'exact');
    const hits = reader.search(query, want, opts.ef ? { ef: opts.ef } : {});
    return {
      rows: hits.map((h) => view.rowOfKey(h.key)),
      distances: hits.map((h) => h.distance),
      strategy: 'ann',
    };
  }
  const limit = opts.exactBelow ?? exactLimit(view.dimension);
  if (matching <= limit || !reader.hasIndex)
    return exactOver(view, reader, query, want, mask, 'exact-subset');
  return overfetch(reader, view, query, want, mask, matching, opts);
}

function exactOver(
  view: SnapshotView,
  reader: SegmentReader,
  query: Float32Array,
  k: number,
  mask: Mask | null,
  strategy: KnnStrategy,
): KnnResult {
  let rows: number[];
  if (mask === null) rows = Array.from({ length: view.size }, (_, i) => i);
  else {
    rows = [];
    for (let i = 0; i < mask.length; i++) if (mask[i]) rows.push(i);
  }
  return rankRows(view, reader, query, k, rows, strategy);
}

/** Exact distances of the given rows; the k closest, closest first. */
function rankRows(
  view: SnapshotView,
  reader: SegmentReader,
  query: Float32Array,
  k: number,
  rows: number[],
  strategy: KnnStrategy,
): KnnResult {
  const matrix = view.gather(rows);
  const r = exactNearest(reader.manifest.metric, matrix, view.dimension, query, k);
  return { rows: r.rows.map((i) => rows[i]!), distances: r.distances, strategy };
}

function overfetch(
  reader: SegmentReader,
  view: SnapshotView,
  query: Float32Array,
  k: number,
  mask: Mask,
  matching: number,
  opts: KnnOptions,
): KnnResult {
  const n = view.size;
  // Candidates kept for the exact re-rank: enough to absorb the f16 index's ordering error.
  const rerank = Math.max(2 * k, k + 16);
  let fetch = Math.min(n, Math.ceil((rerank * n) / matching) + 16);
  for (;;) {
    const hits = reader.search(query, fetch, { ef: Math.max(opts.ef ?? 0, fetch), rerank: false });
    const rows: number[] = [];
    for (const h of hits) {
      const r = view.rowOfKey(h.key);
      if (r >= 0 && mask[r]) {
        rows.push(r);
        if (rows.length >= rerank) break;
      }
    }
    if (rows.length >= rerank || rows.length >= matching || fetch >= n) {
      return rankRows(view, reader, query, k, rows, 'ann-overfetch');
    }
    if (fetch * 4 > n / 2) return exactOver(view, reader, query, k, mask, 'exact-subset');
    fetch *= 4;
  }
}
