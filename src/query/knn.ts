/**
 * Filtered k-NN over one row source (a segment, or the server's tail). usearch's JS binding cannot filter,
 * and the mask (filter ∧ not superseded) tells the exact number of eligible rows, so each source picks its
 * own plan by that count:
 *  - nothing masked: the index, its candidates re-ranked by exact f32 distance (or, for a source too small
 *    for an index to pay — engine/crossover.ts — an exact scan: as fast, and never missing what the graph
 *    did not reach);
 *  - eligible rows that an exact scan reads faster than the index walk an over-fetch needs (a cost model in
 *    row-equivalents, both sides in proportion to the dimension): exact search over just those vectors,
 *    streamed through a cache-sized scratch block (no per-query allocation of the whole subset);
 *  - more: over-fetch from the index (about k / selectivity candidates), every eligible candidate re-ranked
 *    by exact f32 distance, and the answer *verified*: the k-th exact distance must lie within the radius
 *    the walk covered (its farthest candidate), so that no eligible row outside the walk can be closer;
 *    else the walk widens — or, once widening would cost more than the exact scan, the exact scan runs.
 *    Post-filtering a graph walk is where recall went on real data: a query far from every eligible row
 *    (a sneaker asked for dresses) gets a walk that ends near the query, among ineligible rows.
 * Every plan ends in exact f32 distances, so answers of different sources merge by plain comparison.
 */
import { DEFAULT_INDEX, type Metric } from '../core/types.js';
import { exactCrossover, exactNearest, indexMinRows, walkRowCost } from '../engine/index.js';
import type { Mask } from './filter.js';
import type { RowSource } from './row-source.js';

export type KnnStrategy = 'ann' | 'exact' | 'exact-subset' | 'ann-overfetch';

export interface KnnResult {
  rows: number[];
  distances: number[];
  strategy: KnnStrategy;
}

export interface KnnOptions {
  /**
   * Exact search when at most this many rows are eligible, over-fetch otherwise (default: the cost model —
   * exactCrossover(dimension), or more when the walk an over-fetch needs costs more).
   */
  exactBelow?: number;
  ef?: number;
  /** Called with each plan step (for profiling): 'walk' with its breadth, 'exact' with the rows scanned. */
  trace?: (step: 'walk' | 'exact', size: number) => void;
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
  given: Mask | null,
  eligible: number,
  opts: KnnOptions = {},
): KnnResult {
  // a mask that excludes nothing (a tail or segment with no dead row, a filter every row passes) is no
  // filter: search as unfiltered, in place, rather than copying every row out for an exact subset
  const mask = given !== null && eligible === given.length && given.length === src.size ? null : given;
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
  if (!src.hasIndex) return exactSubset(src, metric, query, want, mask, opts.trace);
  const fetch = firstFetch(want, src.size, eligible, opts.ef ?? DEFAULT_INDEX.expansionSearch);
  const exact =
    opts.exactBelow !== undefined
      ? eligible <= opts.exactBelow
      : eligible <= limit || eligible <= walkCost(Math.max(fetch, opts.ef ?? 0));
  if (exact) return exactSubset(src, metric, query, want, mask, opts.trace);
  return overfetch(src, metric, query, want, mask, eligible, fetch, opts);
}

/**
 * Candidates a first over-fetch walks: as many per eligible row as an unfiltered query explores (the
 * index's search breadth, or 1.5× the re-rank count if more), so the eligible candidates are about as good
 * as an unfiltered query's.
 */
function firstFetch(k: number, n: number, eligible: number, ef: number): number {
  const per = Math.max(1.5 * rerankCount(k), ef);
  return Math.min(n, Math.ceil((per * n) / eligible) + 16);
}

/** What an index walk of breadth `count` costs, in rows an exact scan reads in the same time. */
function walkCost(count: number): number {
  return walkRowCost * count;
}

/** Rows per block of the exact scan: about 1 MiB of f32, so the block stays in cache while it is scanned. */
const blockRows = (dimension: number) => Math.max(16, Math.floor((1 << 20) / (4 * dimension)));

let scratch = new Float32Array(0);

/**
 * Exact k nearest of the given rows (ascending), closest first: the rows are copied block by block into one
 * reused scratch array (from the source's in-memory vectors, else its gather()) and each block is scanned
 * with SIMD; the best k of all blocks win (ties to the lower row, as one scan would).
 */
function exactRows(
  src: RowSource,
  metric: Metric,
  query: Float32Array,
  k: number,
  rows: ArrayLike<number>,
  strategy: KnnStrategy,
): KnnResult {
  const d = src.dimension;
  const block = blockRows(d);
  if (scratch.length < block * d) scratch = new Float32Array(block * d);
  const vectors = src.vectors;
  const bestRows: number[] = [];
  const bestDist: number[] = [];
  for (let start = 0; start < rows.length; start += block) {
    const m = Math.min(block, rows.length - start);
    let data: Float32Array;
    if (vectors !== null) {
      data = scratch.subarray(0, m * d); // byteOffset 0: exactNearest scans it in place
      for (let i = 0; i < m; i++) {
        const r = rows[start + i]!;
        data.set(vectors.subarray(r * d, r * d + d), i * d);
      }
    } else {
      const chunk = new Array<number>(m);
      for (let i = 0; i < m; i++) chunk[i] = rows[start + i]!;
      data = src.gather(chunk);
    }
    const r = exactNearest(metric, data, d, query, Math.min(k, m));
    for (let i = 0; i < r.rows.length; i++) {
      bestRows.push(rows[start + r.rows[i]!]!);
      bestDist.push(r.distances[i]!);
    }
  }
  const order = bestRows.map((_, i) => i);
  order.sort((a, b) => bestDist[a]! - bestDist[b]! || bestRows[a]! - bestRows[b]!);
  const top = order.slice(0, k);
  return { rows: top.map((i) => bestRows[i]!), distances: top.map((i) => bestDist[i]!), strategy };
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
    return exactRows(
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

function exactSubset(
  src: RowSource,
  metric: Metric,
  query: Float32Array,
  k: number,
  mask: Mask,
  trace?: KnnOptions['trace'],
): KnnResult {
  const rows: number[] = [];
  for (let i = 0; i < mask.length; i++) if (mask[i]) rows.push(i);
  trace?.('exact', rows.length);
  return exactRows(src, metric, query, k, rows, 'exact-subset');
}

/** Relative slack of the radius check: the walk's distances are the index's (f16), the answer's exact f32. */
const RADIUS_SLACK = 0.02;

function overfetch(
  src: RowSource,
  metric: Metric,
  query: Float32Array,
  k: number,
  mask: Mask,
  eligible: number,
  first: number,
  opts: KnnOptions,
): KnnResult {
  const n = src.size;
  const ef = opts.ef ?? 0;
  const cap = opts.exactBelow === undefined ? eligible : Number.POSITIVE_INFINITY;
  let fetch = first;
  for (;;) {
    const breadth = Math.max(fetch, ef);
    opts.trace?.('walk', breadth);
    const walked = src.searchScored
      ? src.searchScored(query, breadth)
      : { rows: src.searchRows(query, breadth), distances: null };
    const rows: number[] = [];
    for (const r of walked.rows) if (mask[r]) rows.push(r);
    const exhausted = walked.rows.length < breadth || breadth >= n;
    if (rows.length >= k || rows.length >= eligible || exhausted) {
      const r = rank(src, metric, query, k, rows, 'ann-overfetch');
      const radius = walked.distances?.[walked.distances.length - 1];
      const kth = r.distances[r.distances.length - 1];
      // verified: the k-th answer lies inside the radius the walk covered, so no eligible row outside it is
      // closer (a source without walk distances cannot tell: its answer is taken as it is)
      const covered =
        radius === undefined || kth === undefined || kth <= radius - RADIUS_SLACK * Math.abs(radius);
      if (exhausted || rows.length >= eligible || (r.rows.length >= k && covered)) return r;
    }
    const next = Math.min(n, fetch * 4);
    if (walkCost(next) >= cap || next === fetch) return exactSubset(src, metric, query, k, mask, opts.trace);
    fetch = next;
  }
}
