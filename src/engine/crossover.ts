/**
 * Where exact search and the HNSW index cross over. Both fall in inverse proportion to the dimension (an
 * exact distance costs in proportion to it, a graph walk grows slowly with the segment), and both constants
 * are measured by the benchmarks, not guessed:
 *
 * - exactCrossover: up to how many *eligible* rows of a filtered query an exact scan of just those rows
 *   beats over-fetching from the index (`npm run bench -- --only serve`, filtered queries).
 * - indexMinRows: from how many rows a segment's index answers an unfiltered query faster than an exact
 *   scan of the whole segment (usearch f16, M=16, ef=64, k=10 re-ranked, one thread; `npm run bench --
 *   --only core`). A data segment below it is written without an index and searched exactly.
 */
export function exactCrossover(dimension: number): number {
  return Math.max(256, Math.round((2_000 * 1536) / Math.max(64, dimension)));
}

export function indexMinRows(dimension: number): number {
  return Math.min(50_000, Math.max(256, Math.round(768_000 / Math.max(1, dimension))));
}
