/**
 * Filtered k-NN for the query server. usearch's JS binding cannot filter, and the filter mask tells the
 * exact number of matching rows, so each query picks its plan by that selectivity:
 *  - no filter: the index, its candidates re-ranked by exact f32 distance;
 *  - few matches: exact search over just the matching vectors (a memcpy of their rows, one SIMD scan);
 *  - many matches: over-fetch from the index (about k / selectivity candidates, widened if too few
 *    match), keep the matching ones and re-rank them by exact f32 distance.
 * The index is searched by key only (ids come from the view), so a large over-fetch costs only the walk.
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
  /** Exact search when at most this many rows match (default: exactLimit()). */
  exactBelow?: number;
  ef?: number;
}

/**
 * Up to how many matching rows an exact search is cheaper than over-fetching: exact costs a copy and a
 * distance per matching row, the over-fetch an HNSW walk of about 54·n/m candidates. Measured on
 * 28,454 × 1536 f16 (bench: serve): equal near m ≈ 2,000; scaled by dimension for other shapes.
 */
export function exactLimit(dimension: number): number {
  return Math.max(256, Math.round((2_000 * 1536) / Math.max(64, dimension)));
}

/** Candidates kept for the exact re-rank: enough to absorb an f16 index's ordering error. */
const rerankCount = (k: number) => Math.max(2 * k, k + 16);

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
  const limit = opts.exactBelow ?? exactLimit(view.dimension);
  if (mask === null) {
    // a collection no larger than the exact-search crossover is answered exactly: as fast, and never
    // missing a neighbour the approximate index failed to reach
    if (view.ann === null || view.size <= limit) return exactAll(view, reader, query, want);
    const rows = candidates(view, query, rerankCount(want), opts.ef, null, rerankCount(want));
    return rank(view, reader, query, want, rows, 'ann');
  }
  if (matching <= limit || view.ann === null) return exactSubset(view, reader, query, want, mask);
  return overfetch(view, reader, query, want, mask, matching, opts.ef);
}

/** Rows of the first `keep` index candidates (of `fetch`) that pass the mask, closest first. */
function candidates(
  view: SnapshotView,
  query: Float32Array,
  fetch: number,
  ef: number | undefined,
  mask: Mask | null,
  keep: number,
): number[] {
  const res = view.ann!.search(query, Math.max(fetch, ef ?? 0));
  const rows: number[] = [];
  for (const key of res.keys) {
    const r = view.rowOfKey(key);
    if (r < 0 || (mask !== null && !mask[r])) continue;
    rows.push(r);
    if (rows.length >= keep) break;
  }
  return rows;
}

/** Exact distances of the given rows; the k closest, closest first. */
function rank(
  view: SnapshotView,
  reader: SegmentReader,
  query: Float32Array,
  k: number,
  rows: number[],
  strategy: KnnStrategy,
): KnnResult {
  const r = exactNearest(reader.manifest.metric, view.gather(rows), view.dimension, query, k);
  return { rows: r.rows.map((i) => rows[i]!), distances: r.distances, strategy };
}

function exactAll(view: SnapshotView, reader: SegmentReader, query: Float32Array, k: number): KnnResult {
  if (view.vectors === null) {
    const hits = reader.exactSearch(query, k);
    return {
      rows: hits.map((h) => view.rowOfKey(h.key)),
      distances: hits.map((h) => h.distance),
      strategy: 'exact',
    };
  }
  const r = exactNearest(reader.manifest.metric, view.vectors, view.dimension, query, k);
  return { rows: r.rows, distances: r.distances, strategy: 'exact' };
}

function exactSubset(
  view: SnapshotView,
  reader: SegmentReader,
  query: Float32Array,
  k: number,
  mask: Mask,
): KnnResult {
  const rows: number[] = [];
  for (let i = 0; i < mask.length; i++) if (mask[i]) rows.push(i);
  return rank(view, reader, query, k, rows, 'exact-subset');
}

function overfetch(
  view: SnapshotView,
  reader: SegmentReader,
  query: Float32Array,
  k: number,
  mask: Mask,
  matching: number,
  ef: number | undefined,
): KnnResult {
  const n = view.size;
  const keep = rerankCount(k);
  // 1.5× the expected need, so that one walk usually finds enough matches (a widening walks again).
  let fetch = Math.min(n, Math.ceil((1.5 * keep * n) / matching) + 16);
  for (;;) {
    const rows = candidates(view, query, fetch, ef, mask, keep);
    if (rows.length >= keep || rows.length >= matching || fetch >= n) {
      return rank(view, reader, query, k, rows, 'ann-overfetch');
    }
    if (fetch * 4 > n / 2) return exactSubset(view, reader, query, k, mask);
    fetch *= 4;
  }
}
