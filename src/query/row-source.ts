import type { Metadata } from '../core/types.js';
import type { Column } from './segment-view.js';

/**
 * What the query layer searches and filters: rows with ids, metadata, documents and f32 vectors, and
 * optionally an ANN index. A segment's view is one; the query server's tail of acknowledged writes is
 * another. Rows are numbered 0..size-1.
 */
export interface RowSource {
  readonly dimension: number;
  readonly size: number;
  readonly ids: readonly string[];
  readonly metadata: ReadonlyArray<Metadata | null>;
  /** Whether searchRows() walks an index (otherwise the source is searched exactly). */
  readonly hasIndex: boolean;
  rowOfId(id: string): number;
  column(name: string): Column;
  documents(): ReadonlyArray<string | null>;
  /** The f32 vectors of these rows, row-major. */
  gather(rows: ArrayLike<number>): Float32Array;
  /** Every row's vectors, row-major, when they are in memory (null otherwise). */
  readonly vectors: Float32Array | null;
  /** Approximate nearest rows, closest first (an index walk of breadth `count`); [] without an index. */
  searchRows(query: Float32Array, count: number): number[];
  /**
   * searchRows() with the index's distance of each row (same order): the radius a walk covered, so a
   * filtered over-fetch can verify its answer. Optional: a source without it is not verified.
   */
  searchScored?(query: Float32Array, count: number): { rows: number[]; distances: number[] };
}
