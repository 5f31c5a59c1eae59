/**
 * Where exact search and the HNSW index cross over. Both depend on the dimension (an exact distance costs
 * in proportion to it, a graph walk grows slowly with the segment), and both are measured, not guessed:
 *
 * - exactCrossover: up to how many *eligible* rows of a filtered query an exact scan of just those rows
 *   beats over-fetching from the index (`npm run bench -- --only serve`, filtered queries over a 28,454-row
 *   segment: equal near 2,000 rows at 1536-d).
 * - indexMinRows: from how many rows a segment's index answers an unfiltered query faster than an exact
 *   scan of the whole segment (usearch f16, M=16, ef=64, k=10 re-ranked, one thread: the index wins from
 *   about 500 rows at 1536-d, 2,000 at 384-d, 8,000 at 100-d — i.e. ~770,000 / dimension). A data segment
 *   below it is written without an index and searched exactly.
 */
export function exactCrossover(dimension: number): number {
  return Math.max(256, Math.round((2_000 * 1536) / Math.max(64, dimension)));
}

export function indexMinRows(dimension: number): number {
  return Math.min(50_000, Math.max(256, Math.round(768_000 / Math.max(1, dimension))));
}
