/**
 * What queries keep in memory for one opened segment, next to its SegmentReader: the put rows in key order
 * (ids, keys, parsed metadata, documents), lazily built metadata columns for the filters and, within a
 * memory budget, the f32 vectors in the same row order (exact search over a filtered subset is a memcpy of
 * its rows and one SIMD scan, never SQLite reads). Index searches go through the reader by key only (ids
 * come from here), so a large over-fetch costs only the graph walk. Immutable once built, so versions that
 * list the same segment share one view.
 */
import type { Metadata, MetadataScalar } from '../core/types.js';
import type { SegmentReader } from '../engine/index.js';
import type { RowSource } from './row-source.js';

/** Value tags of a metadata column. */
export const Tag = { missing: 0, string: 1, number: 2, boolean: 3, array: 4 } as const;

/** One metadata key across every row: typed arrays, so a filter is a tight loop, not an object walk. */
export interface Column {
  tag: Uint8Array;
  /** number value, or 1/0 for booleans */
  num: Float64Array;
  /** dictionary code of a string value (-1 when not a string) */
  str: Int32Array;
  dict: Map<string, number>;
  /** array values by row */
  arrays: Map<number, MetadataScalar[]>;
}

/** Bytes of f32 vectors the views of one process may hold; shared by every view built against it. */
export class VectorBudget {
  #left: number;
  constructor(bytes: number) {
    this.#left = bytes;
  }
  get left(): number {
    return this.#left;
  }
  take(bytes: number): boolean {
    if (bytes > this.#left) return false;
    this.#left -= bytes;
    return true;
  }
  give(bytes: number): void {
    this.#left += bytes;
  }
}

export interface ViewOptions {
  /** Keep the f32 vectors in memory within this budget (default: a private 1 GiB budget per view). */
  budget?: VectorBudget;
  /** Shorthand for a private budget of this many bytes. */
  vectorBudgetBytes?: number;
}

const DEFAULT_VECTOR_BUDGET = 1 << 30;

export class SegmentView implements RowSource {
  readonly reader: SegmentReader;
  readonly dimension: number;
  /** Rows in ascending key order. */
  readonly size: number;
  readonly ids: string[];
  readonly keys: Float64Array;
  readonly metadata: Array<Metadata | null>;
  readonly hasIndex: boolean;
  #vectors: Float32Array | null;
  readonly #rowOfKey: Int32Array | Map<number, number>;
  readonly #rowOfId: Map<string, number>;
  readonly #columns = new Map<string, Column>();
  readonly #documents: Array<string | null>;
  readonly #budget: VectorBudget | null;

  private constructor(reader: SegmentReader, opts: ViewOptions) {
    this.reader = reader;
    this.dimension = reader.manifest.dimension;
    this.hasIndex = reader.hasIndex;
    const n = reader.count;
    const d = this.dimension;
    const budget = opts.budget ?? new VectorBudget(opts.vectorBudgetBytes ?? DEFAULT_VECTOR_BUDGET);
    const keepVectors = budget.take(n * d * 4);
    this.#budget = keepVectors ? budget : null;
    this.size = n;
    this.#vectors = keepVectors ? new Float32Array(n * d) : null;
    this.ids = new Array<string>(n);
    this.keys = new Float64Array(n);
    this.metadata = new Array<Metadata | null>(n);
    this.#rowOfId = new Map();
    this.#documents = new Array<string | null>(n);
    let row = 0;
    let maxKey = 0;
    for (const r of reader.scanPuts({ vectors: keepVectors })) {
      if (row >= n) break;
      this.keys[row] = r.key;
      this.ids[row] = r.id;
      this.#rowOfId.set(r.id, row);
      this.metadata[row] = r.metadata;
      this.#documents[row] = r.document;
      if (this.#vectors !== null && r.embedding !== null) this.#vectors.set(r.embedding, row * d);
      if (r.key > maxKey) maxKey = r.key;
      row++;
    }
    this.#rowOfKey = maxKey <= 4 * n + 1024 ? new Int32Array(maxKey + 1).fill(-1) : new Map();
    for (let i = 0; i < n; i++) {
      if (this.#rowOfKey instanceof Int32Array) this.#rowOfKey[this.keys[i]!] = i;
      else this.#rowOfKey.set(this.keys[i]!, i);
    }
  }

  /** Builds the view of an open reader (a full scan of its puts). */
  static build(reader: SegmentReader, opts: ViewOptions = {}): SegmentView {
    return new SegmentView(reader, opts);
  }

  /** Row-major f32 vectors of every row, or null when over the budget (then read from the record store). */
  get vectors(): Float32Array | null {
    return this.#vectors;
  }

  rowOfKey(key: number): number {
    const r = this.#rowOfKey instanceof Int32Array ? this.#rowOfKey[key] : this.#rowOfKey.get(key);
    return r === undefined ? -1 : r;
  }

  rowOfId(id: string): number {
    return this.#rowOfId.get(id) ?? -1;
  }

  /** The column of one metadata key, built on first use and kept for the view's lifetime. */
  column(name: string): Column {
    let c = this.#columns.get(name);
    if (c !== undefined) return c;
    const n = this.size;
    c = {
      tag: new Uint8Array(n),
      num: new Float64Array(n),
      str: new Int32Array(n).fill(-1),
      dict: new Map(),
      arrays: new Map(),
    };
    for (let i = 0; i < n; i++) setCell(c, i, this.metadata[i] ?? null, name);
    this.#columns.set(name, c);
    return c;
  }

  /** Every row's document (null when none), in row order. */
  documents(): ReadonlyArray<string | null> {
    return this.#documents;
  }

  /** The f32 vectors of these rows, row-major (from memory, else from the record store). */
  gather(rows: ArrayLike<number>): Float32Array {
    const d = this.dimension;
    const vectors = this.#vectors;
    if (vectors === null) {
      const keys = new Array<number>(rows.length);
      for (let i = 0; i < rows.length; i++) keys[i] = this.keys[rows[i]!]!;
      return this.reader.vectors(keys);
    }
    const out = new Float32Array(rows.length * d);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      out.set(vectors.subarray(r * d, r * d + d), i * d);
    }
    return out;
  }

  /** Index candidates as rows of this view (keys the view does not hold are skipped), closest first. */
  searchRows(query: Float32Array, count: number): number[] {
    return this.searchScored(query, count).rows;
  }

  /** searchRows() with the index's distance of each row. */
  searchScored(query: Float32Array, count: number): { rows: number[]; distances: number[] } {
    const res = this.reader.searchKeys(query, count);
    const rows: number[] = [];
    const distances: number[] = [];
    for (let i = 0; i < res.keys.length; i++) {
      const r = this.rowOfKey(res.keys[i]!);
      if (r < 0) continue;
      rows.push(r);
      distances.push(res.distances[i]!);
    }
    return { rows, distances };
  }

  /** Returns the vectors' bytes to the budget. The reader is its owner's to close. Idempotent. */
  release(): void {
    if (this.#budget && this.#vectors) this.#budget.give(this.#vectors.byteLength);
    this.#vectors = null;
  }
}

/**
 * Row i of a column from its metadata's value of the key: a string (dictionary-coded), a number, a boolean,
 * an array, or missing (anything else). The row must hold the empty cell (Tag.missing; a new column's are).
 */
export function setCell(c: Column, i: number, m: Metadata | null, name: string): void {
  if (!m || !Object.hasOwn(m, name)) return;
  const v = m[name];
  if (typeof v === 'string') {
    c.tag[i] = Tag.string;
    let code = c.dict.get(v);
    if (code === undefined) {
      code = c.dict.size;
      c.dict.set(v, code);
    }
    c.str[i] = code;
  } else if (typeof v === 'number') {
    c.tag[i] = Tag.number;
    c.num[i] = v;
  } else if (typeof v === 'boolean') {
    c.tag[i] = Tag.boolean;
    c.num[i] = v ? 1 : 0;
  } else if (Array.isArray(v)) {
    c.tag[i] = Tag.array;
    c.arrays.set(i, v as MetadataScalar[]);
  }
}
