/**
 * What the query server keeps for one opened (and verified) snapshot, next to its SegmentReader: the put
 * rows in key order (ids, keys, parsed metadata, documents), lazily built metadata columns for the
 * filters, within a memory budget the f32 vectors in the same row order (exact search over a filtered
 * subset is a memcpy of its rows and one SIMD scan, never SQLite reads), and a key-only mapping of the
 * snapshot's index file. The reader's own search resolves every hit's id in SQLite (about 3 µs each, 1 ms
 * for a 374-candidate over-fetch); here ids come from memory, so over-fetching stays cheap.
 */
import { join } from 'node:path';
import type { Metadata, MetadataScalar } from '../core/types.js';
import { AnnIndex } from '../engine/ann-index.js';
import { SEGMENT_FILES, type SegmentReader } from '../engine/index.js';
import { blobToF32 } from '../engine/record-store.js';

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

export interface ViewOptions {
  /** Keep the f32 vectors in memory when they take at most this many bytes (default 1 GiB). */
  vectorBudgetBytes?: number;
}

const DEFAULT_VECTOR_BUDGET = 1 << 30;

export class SnapshotView {
  readonly dimension: number;
  /** Rows in ascending key order. */
  readonly size: number;
  readonly ids: string[];
  readonly keys: Float64Array;
  readonly metadata: Array<Metadata | null>;
  /** Row-major f32 vectors of every row, or null when over the budget (then read from SQLite). */
  readonly vectors: Float32Array | null;
  /** The snapshot's index, memory-mapped again for key-only searches (null: the segment has none). */
  readonly ann: AnnIndex | null;
  readonly #rowOfKey: Int32Array | Map<number, number>;
  readonly #rowOfId: Map<string, number>;
  readonly #columns = new Map<string, Column>();
  readonly #reader: SegmentReader;
  readonly #documents: Array<string | null>;

  private constructor(reader: SegmentReader, opts: ViewOptions) {
    this.#reader = reader;
    this.dimension = reader.manifest.dimension;
    const n = reader.count;
    const d = this.dimension;
    const keepVectors = n * d * 4 <= (opts.vectorBudgetBytes ?? DEFAULT_VECTOR_BUDGET);
    this.size = n;
    this.vectors = keepVectors ? new Float32Array(n * d) : null;
    this.ids = new Array<string>(n);
    this.keys = new Float64Array(n);
    this.metadata = new Array<Metadata | null>(n);
    this.#rowOfId = new Map();
    this.#documents = new Array<string | null>(n);
    const sql = `SELECT key, id, metadata, document, ${keepVectors ? 'embedding' : 'NULL'} FROM records WHERE kind = 0 ORDER BY key`;
    let row = 0;
    let maxKey = 0;
    for (const r of reader.database.prepare(sql).raw(true).iterate() as Iterable<
      [number, string, string | null, string | null, Buffer | null]
    >) {
      if (row >= n) break;
      this.keys[row] = r[0];
      this.ids[row] = r[1];
      this.#rowOfId.set(r[1], row);
      this.metadata[row] = r[2] === null ? null : (JSON.parse(r[2]) as Metadata);
      this.#documents[row] = r[3];
      if (this.vectors !== null && r[4] !== null) this.vectors.set(blobToF32(r[4]), row * d);
      if (r[0] > maxKey) maxKey = r[0];
      row++;
    }
    this.#rowOfKey = maxKey <= 4 * n + 1024 ? new Int32Array(maxKey + 1).fill(-1) : new Map();
    for (let i = 0; i < n; i++) {
      if (this.#rowOfKey instanceof Int32Array) this.#rowOfKey[this.keys[i]!] = i;
      else this.#rowOfKey.set(this.keys[i]!, i);
    }
    const m = reader.manifest;
    // Mapped only after SegmentReader.open verified the file against the manifest.
    this.ann =
      m.index === null
        ? null
        : AnnIndex.view(join(reader.dir, SEGMENT_FILES.index), {
            dimension: m.dimension,
            metric: m.metric,
            quantization: m.quantization,
            connectivity: m.index.connectivity,
            expansionAdd: m.index.expansionAdd,
            expansionSearch: m.index.expansionSearch,
          });
  }

  /** Builds the view of an open reader (a full scan of its puts: ~0.3 s for 28k × 1536). Pair with close(). */
  static build(reader: SegmentReader, opts: ViewOptions = {}): SnapshotView {
    return new SnapshotView(reader, opts);
  }

  rowOfKey(key: number): number {
    const r = this.#rowOfKey instanceof Int32Array ? this.#rowOfKey[key] : this.#rowOfKey.get(key);
    return r === undefined ? -1 : r;
  }

  rowOfId(id: string): number {
    return this.#rowOfId.get(id) ?? -1;
  }

  /** The column of one metadata key, built on first use and kept for the snapshot's lifetime. */
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
    for (let i = 0; i < n; i++) {
      const m = this.metadata[i];
      if (!m || !Object.hasOwn(m, name)) continue;
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
        c.arrays.set(i, v);
      }
    }
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
    if (this.vectors === null) {
      const keys = new Array<number>(rows.length);
      for (let i = 0; i < rows.length; i++) keys[i] = this.keys[rows[i]!]!;
      return this.#reader.vectors(keys);
    }
    const out = new Float32Array(rows.length * d);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      out.set(this.vectors.subarray(r * d, r * d + d), i * d);
    }
    return out;
  }

  /** Releases the index mapping (the reader owns, and closes, everything else). Idempotent. */
  close(): void {
    this.ann?.close();
  }
}
