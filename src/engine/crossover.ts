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

/**
 * What one candidate of an index walk costs, in rows of an exact scan (both in proportion to the
 * dimension: a walk evaluates about M neighbours of every candidate it expands, in f16, at random places;
 * an exact scan streams f32 rows). The filtered plan scans exactly while the eligible rows cost less than
 * the walk an over-fetch would need. Measured through the query layer on fashion-mnist (784-d, 30,000-row
 * segments): 4–9 µs per walked candidate, 1–3.5 µs per scanned row; a walk that must widen costs more.
 */
export const walkRowCost = 8;
