/**
 * Filtered k-NN over one row source (a segment, or the server's tail). usearch's JS binding cannot filter,
 * and the mask (filter ∧ not superseded) tells the exact number of eligible rows, so each source picks its
 * own plan by that count:
 *  - nothing masked: the index, its candidates re-ranked by exact f32 distance (or, for a source too small
 *    for an index to pay — engine/crossover.ts — an exact scan: as fast, and never missing what the graph
 *    did not reach);
 *  - few eligible rows: exact search over just those vectors (a memcpy of their rows, one SIMD scan);
 *  - many: over-fetch from the index (about k / selectivity candidates, widened if too few are eligible),
 *    keep the eligible ones and re-rank them by exact f32 distance.
 * Every plan ends in exact f32 distances, so answers of different sources merge by plain comparison.
 */
import type { Metric } from '../core/types.js';
import { exactCrossover, exactNearest, indexMinRows } from '../engine/index.js';
import type { Mask } from './filter.js';
import type { RowSource } from './row-source.js';

export type KnnStrategy = 'ann' | 'exact' | 'exact-subset' | 'ann-overfetch';

export interface KnnResult {
  rows: number[];
  distances: number[];
  strategy: KnnStrategy;
}

export interface KnnOptions {
  /** Exact search when at most this many rows are eligible (default: exactCrossover(dimension)). */
  exactBelow?: number;
  ef?: number;
}

/** Candidates kept for the exact re-rank: enough to absorb an f16 index's ordering error. */
const rerankCount = (k: number) => Math.max(2 * k, k + 16);

/** Up to how many eligible rows exact search beats the index (see engine/crossover.ts). */
export const exactLimit = exactCrossover;

/**
 * The k nearest eligible rows of one source. `mask` null means every row is eligible; `eligible` is how
 * many are (the mask's popcount).
 */
export function knn(
  src: RowSource,
  metric: Metric,
  query: Float32Array,
  k: number,
  mask: Mask | null,
  eligible: number,
  opts: KnnOptions = {},
): KnnResult {
  const want = Math.min(k, eligible);
  if (want <= 0) return { rows: [], distances: [], strategy: mask ? 'exact-subset' : 'ann' };
  const limit = opts.exactBelow ?? exactLimit(src.dimension);
  if (mask === null) {
    if (!src.hasIndex || src.size <= (opts.exactBelow ?? indexMinRows(src.dimension))) {
      return exactAll(src, metric, query, want);
    }
    const fetch = Math.max(rerankCount(want), opts.ef ?? 0);
    return rank(src, metric, query, want, src.searchRows(query, fetch).slice(0, rerankCount(want)), 'ann');
  }
  if (eligible <= limit || !src.hasIndex) return exactSubset(src, metric, query, want, mask);
  return overfetch(src, metric, query, want, mask, eligible, opts.ef);
}

/** Exact distances of the given rows; the k closest, closest first. */
function rank(
  src: RowSource,
  metric: Metric,
  query: Float32Array,
  k: number,
  rows: number[],
  strategy: KnnStrategy,
): KnnResult {
  const r = exactNearest(metric, src.gather(rows), src.dimension, query, k);
  return { rows: r.rows.map((i) => rows[i]!), distances: r.distances, strategy };
}

function exactAll(src: RowSource, metric: Metric, query: Float32Array, k: number): KnnResult {
  const vectors = src.vectors;
  if (vectors === null) {
    return rank(
      src,
      metric,
      query,
      k,
      Array.from({ length: src.size }, (_, i) => i),
      'exact',
    );
  }
  const r = exactNearest(metric, vectors, src.dimension, query, k);
  return { rows: r.rows, distances: r.distances, strategy: 'exact' };
}

function exactSubset(src: RowSource, metric: Metric, query: Float32Array, k: number, mask: Mask): KnnResult {
  const rows: number[] = [];
  for (let i = 0; i < mask.length; i++) if (mask[i]) rows.push(i);
  return rank(src, metric, query, k, rows, 'exact-subset');
}

function overfetch(
  src: RowSource,
  metric: Metric,
  query: Float32Array,
  k: number,
  mask: Mask,
  eligible: number,
  ef: number | undefined,
): KnnResult {
  const n = src.size;
  const keep = rerankCount(k);
  // 1.5× the expected need, so that one walk usually finds enough matches (a widening walks again).
  let fetch = Math.min(n, Math.ceil((1.5 * keep * n) / eligible) + 16);
  for (;;) {
    const rows: number[] = [];
    for (const r of src.searchRows(query, Math.max(fetch, ef ?? 0))) {
      if (!mask[r]) continue;
      rows.push(r);
      if (rows.length >= keep) break;
    }
    if (rows.length >= keep || rows.length >= eligible || fetch >= n) {
      return rank(src, metric, query, k, rows, 'ann-overfetch');
    }
    if (fetch * 4 > n / 2) return exactSubset(src, metric, query, k, mask);
    fetch *= 4;
  }
}
