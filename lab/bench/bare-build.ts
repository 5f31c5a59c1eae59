/**
 * The baseline of every build-time ratio: a bare usearch build of the same vectors in the bench's own
 * process — one `Index.add` of the whole matrix on every core, with the collection's index parameters
 * (f16, M 16, ef_add 128) — nothing else: no records, no seal, no store.
 */
import { availableParallelism } from 'node:os';
import usearch from 'usearch';
import { DEFAULT_INDEX } from '../../src/core/types.js';

export function bareUsearchBuild(
  matrix: Float32Array,
  dimension: number,
  threads = availableParallelism(),
): number {
  const n = matrix.length / dimension;
  const index = new usearch.Index({
    dimensions: dimension,
    metric: 'cos' as never,
    quantization: 'f16' as never,
    connectivity: DEFAULT_INDEX.connectivity,
    expansion_add: DEFAULT_INDEX.expansionAdd,
    expansion_search: DEFAULT_INDEX.expansionSearch,
    multi: false,
  });
  const keys = BigUint64Array.from({ length: n }, (_, i) => BigInt(i + 1));
  const t = performance.now();
  index.add(keys, matrix, threads);
  const ms = performance.now() - t;
  // usearch has no close: a load of the null device resets the index and frees the graph now
  try {
    index.load('/dev/null');
  } catch {
    // expected: the reset has run, then reading the null device failed
  }
  return ms;
}
