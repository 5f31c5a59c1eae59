/**
 * Up to how many rows an exact scan is the better plan than the HNSW index: exact costs one distance per
 * row, the index a graph walk whose cost grows slowly with the segment. Measured on 1536-d f16 (`npm run
 * bench -- --only serve`, filtered queries over a 28,454-row segment): equal near 2,000 rows; scaled by
 * dimension for other shapes (a distance costs in proportion to the dimension, the walk barely changes).
 * A data segment below it is written without an index, and a filtered query matching fewer rows than it
 * is answered exactly.
 */
export function exactCrossover(dimension: number): number {
  return Math.max(256, Math.round((2_000 * 1536) / Math.max(64, dimension)));
}
