import type { Metric } from '../core/types.js';
import { AnnIndex, type IndexScalar } from './ann-index.js';

/**
 * A mutable, in-memory ANN index over integer keys, for rows that live in memory rather than in a segment
 * (the query server's tail of acknowledged writes). Owns one native index; close() frees it.
 */
export class VectorIndex {
  readonly #ann: AnnIndex;
  readonly dimension: number;

  constructor(o: {
    dimension: number;
    metric: Metric;
    quantization: IndexScalar;
    connectivity?: number;
    expansionAdd?: number;
    expansionSearch?: number;
  }) {
    this.dimension = o.dimension;
    this.#ann = AnnIndex.create({
      dimension: o.dimension,
      metric: o.metric,
      quantization: o.quantization,
      connectivity: o.connectivity ?? 16,
      expansionAdd: o.expansionAdd ?? 128,
      expansionSearch: o.expansionSearch ?? 64,
    });
  }

  get size(): number {
    return this.#ann.size;
  }

  /** Adds rows (a row-major matrix) under the given keys. */
  add(keys: readonly number[], matrix: Float32Array, threads = 1): void {
    if (keys.length === 0) return;
    const big = new BigUint64Array(keys.length);
    for (let i = 0; i < keys.length; i++) big[i] = BigInt(keys[i]!);
    this.#ann.add(big, matrix, threads);
  }

  remove(key: number): boolean {
    return this.#ann.remove(key);
  }

  /** Nearest keys, closest first (a walk of breadth max(count, expansionSearch)). */
  search(query: Float32Array, count: number): number[] {
    return this.#ann.search(query, count).keys;
  }

  close(): void {
    this.#ann.close();
  }
}
