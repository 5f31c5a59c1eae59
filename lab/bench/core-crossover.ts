/**
 * Core (f): the crossover constants of src/engine/crossover.ts, re-measured through the query layer's own
 * plans (src/query/knn.ts) over a row source that holds the f32 vectors in memory and an index with the
 * collection defaults (usearch f16, M 16, ef_add 128, ef 64), one thread, k = 10:
 *  - indexMinRows(d): from how many rows the index (candidates re-ranked by exact f32 distance) answers an
 *    unfiltered query faster than an exact scan of every row. One index per dimension grows through the
 *    checkpoints; both plans are timed at each, interleaved.
 *  - exactCrossover(d): up to how many eligible rows of a filtered query an exact scan of just those rows
 *    beats over-fetching from the index, on the full-size source, for random eligible subsets.
 * The crossover is where the two medians meet (log-linear interpolation between the bracketing points).
 */
import { availableParallelism } from 'node:os';
import { rng } from '../../src/core/random.js';
import { DEFAULT_INDEX } from '../../src/core/types.js';
import { AnnIndex } from '../../src/engine/ann-index.js';
import { exactCrossover, indexMinRows } from '../../src/engine/index.js';
import { type Column, knn, type Mask, type RowSource } from '../../src/query/index.js';
import { type BenchRow, type BenchSection, median, round } from './stats.js';
import { fmtN, queryVectors, upserts } from './workload.js';

export interface CrossoverBenchOptions {
  /** Dimensions and the largest source measured for each (default 1536: 28,454; 384: 100,000; 100: 100,000). */
  dimensions?: Array<{ dimension: number; rows: number }>;
  queries?: number;
  log?: (m: string) => void;
}

const K = 10;

/** Rows 0..size-1 of a matrix, with the first `size` vectors of an index (keys = rows). */
class MatrixSource implements RowSource {
  readonly ids: string[];
  readonly metadata = [];
  readonly hasIndex = true;
  constructor(
    readonly vectors: Float32Array,
    readonly dimension: number,
    readonly size: number,
    readonly ann: AnnIndex,
  ) {
    this.ids = Array.from({ length: size }, (_, i) => String(i));
  }
  rowOfId(id: string): number {
    return Number(id);
  }
  column(): Column {
    throw new Error('no metadata');
  }
  documents(): Array<string | null> {
    return [];
  }
  gather(rows: ArrayLike<number>): Float32Array {
    const d = this.dimension;
    const out = new Float32Array(rows.length * d);
    for (let i = 0; i < rows.length; i++)
      out.set(this.vectors.subarray(rows[i]! * d, (rows[i]! + 1) * d), i * d);
    return out;
  }
  searchRows(query: Float32Array, count: number): number[] {
    return this.ann.search(query, count).keys;
  }
}

/** Median latency of each plan, the plans interleaved query by query. */
function timePlans(plans: Array<(q: Float32Array) => void>, queries: Float32Array[]): number[] {
  for (const p of plans) for (const q of queries.slice(0, 10)) p(q);
  const ms = plans.map(() => [] as number[]);
  for (let i = 0; i < queries.length; i++) {
    for (let j = 0; j < plans.length; j++) {
      const s = (i + j) % plans.length;
      const t = performance.now();
      plans[s]!(queries[i]!);
      ms[s]!.push(performance.now() - t);
    }
  }
  return ms.map(median);
}

/** Where `a` (cheaper below) and `b` (cheaper above) cross, interpolated on a log scale; null if they do not. */
function crossing(points: Array<{ n: number; a: number; b: number }>): number | null {
  for (let i = 0; i < points.length; i++) {
    const p = points[i]!;
    if (p.b < p.a) {
      if (i === 0) return p.n;
      const q = points[i - 1]!;
      const dq = q.a - q.b;
      const dp = p.a - p.b;
      const f = dq / (dq - dp);
      return Math.round(Math.exp(Math.log(q.n) + f * (Math.log(p.n) - Math.log(q.n))));
    }
  }
  return null;
}

/** A random mask of `m` rows out of `n` (seeded). */
function randomMask(n: number, m: number, seed: number): Mask {
  const mask = new Uint8Array(n);
  const r = rng(seed);
  let set = 0;
  while (set < m) {
    const i = r.int(n);
    if (!mask[i]) {
      mask[i] = 1;
      set++;
    }
  }
  return mask;
}

export async function benchCrossover(o: CrossoverBenchOptions = {}): Promise<BenchSection> {
  const log = o.log ?? (() => {});
  const dims = o.dimensions ?? [
    { dimension: 1536, rows: 28_454 },
    { dimension: 384, rows: 100_000 },
    { dimension: 100, rows: 100_000 },
  ];
  const nq = o.queries ?? 200;
  const threads = availableParallelism();
  const rows: BenchRow[] = [];
  const data: Record<string, unknown> = {};
  for (const { dimension: d, rows: max } of dims) {
    const { matrix } = upserts(3, max, d);
    const queries = queryVectors(3, nq, d);
    const ann = AnnIndex.create({
      dimension: d,
      metric: 'cos',
      quantization: 'f16',
      connectivity: DEFAULT_INDEX.connectivity,
      expansionAdd: DEFAULT_INDEX.expansionAdd,
      expansionSearch: DEFAULT_INDEX.expansionSearch,
    });
    try {
      // --- unfiltered: exact scan of every row vs the index, as the source grows -------------------------
      const unfiltered: Array<{ n: number; a: number; b: number }> = [];
      let added = 0;
      for (let n = 128; n <= max; n *= 2) {
        const keys = BigUint64Array.from({ length: n - added }, (_, i) => BigInt(added + i));
        ann.add(keys, matrix.subarray(added * d, n * d), threads);
        added = n;
        const src = new MatrixSource(matrix.subarray(0, n * d), d, n, ann);
        const [exact, index] = timePlans(
          [
            (q) => knn(src, 'cos', q, K, null, n, { exactBelow: Number.MAX_SAFE_INTEGER }),
            (q) => knn(src, 'cos', q, K, null, n, { exactBelow: 0 }),
          ],
          queries,
        ) as [number, number];
        unfiltered.push({ n, a: exact, b: index });
        log(`crossover: d ${d}, ${fmtN(n)} rows: exact ${round(exact, 3)} ms, index ${round(index, 3)} ms`);
        // well past the crossing: stop timing (keep adding for the filtered measure)
        if (unfiltered.length >= 3 && unfiltered.slice(-3).every((p) => p.b < p.a / 2)) break;
      }
      if (added < max) {
        const keys = BigUint64Array.from({ length: max - added }, (_, i) => BigInt(added + i));
        ann.add(keys, matrix.subarray(added * d, max * d), threads);
      }
      const measuredMin = crossing(unfiltered);

      // --- filtered: exact scan of the eligible rows vs over-fetching from the index ----------------------
      const src = new MatrixSource(matrix, d, max, ann);
      const filtered: Array<{ n: number; a: number; b: number; recallOverfetch: number }> = [];
      for (let m = 250; m <= max / 2; m *= 2) {
        const mask = randomMask(max, m, m);
        const [exact, over] = timePlans(
          [
            (q) => knn(src, 'cos', q, K, mask, m, { exactBelow: Number.MAX_SAFE_INTEGER }),
            (q) => knn(src, 'cos', q, K, mask, m, { exactBelow: 0 }),
          ],
          queries,
        ) as [number, number];
        let hit = 0;
        for (const q of queries) {
          const t = new Set(knn(src, 'cos', q, K, mask, m, { exactBelow: Number.MAX_SAFE_INTEGER }).rows);
          for (const r of knn(src, 'cos', q, K, mask, m, { exactBelow: 0 }).rows) if (t.has(r)) hit++;
        }
        const recallOverfetch = hit / (queries.length * K);
        filtered.push({ n: m, a: exact, b: over, recallOverfetch });
        log(
          `crossover: d ${d}, ${fmtN(m)} of ${fmtN(max)} eligible: exact ${round(exact, 3)} ms, over-fetch ${round(over, 3)} ms (recall ${round(recallOverfetch, 4)})`,
        );
        if (filtered.length >= 3 && filtered.slice(-3).every((p) => p.b < p.a / 2)) break;
      }
      const measuredExact = crossing(filtered);
      const fmtPoints = (ps: Array<{ n: number; a: number; b: number }>) =>
        ps.map((p) => `${fmtN(p.n)}: ${round(p.a, 3)}/${round(p.b, 3)}`).join(', ');
      rows.push(
        {
          bench: `crossover d=${d}: indexMinRows (unfiltered k=10; exact scan of the segment vs index + re-rank, ms at n rows: ${fmtPoints(unfiltered)})`,
          metric: 'rows from which the index is faster',
          strata:
            measuredMin === null ? `> ${fmtN(unfiltered[unfiltered.length - 1]!.n)}` : fmtN(measuredMin),
          baseline: `${fmtN(indexMinRows(d))} (crossover.ts)`,
          ratio: measuredMin === null ? '-' : fmtRatio(measuredMin / indexMinRows(d)),
          goal: 'report',
          met: null,
        },
        {
          bench: `crossover d=${d}: exactCrossover (filtered k=10 over ${fmtN(max)} rows; exact scan of the eligible rows vs over-fetch, ms at m eligible: ${fmtPoints(filtered)})`,
          metric: 'eligible rows up to which the exact scan is faster',
          strata:
            measuredExact === null ? `> ${fmtN(filtered[filtered.length - 1]!.n)}` : fmtN(measuredExact),
          baseline: `${fmtN(exactCrossover(d))} (crossover.ts)`,
          ratio: measuredExact === null ? '-' : fmtRatio(measuredExact / exactCrossover(d)),
          goal: 'report',
          met: null,
        },
      );
      data[`d${d}`] = {
        rows: max,
        unfiltered,
        filtered,
        indexMinRows: measuredMin,
        exactCrossover: measuredExact,
      };
    } finally {
      ann.close();
    }
  }
  return { name: 'core:crossover', rows, data };
}

const fmtRatio = (x: number) => `${round(x, 2)}× the constant`;
