import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { devNull } from 'node:os';
import { Index, Matches, MetricKind, ScalarKind, exactSearch as usearchExactSearch } from 'usearch';
import { ClosedError, ErrorCodes, StrataError } from '../core/errors.js';
import type { Metric, Quantization } from '../core/types.js';

/**
 * The ANN index of a segment: a usearch HNSW index in index.usearch. This wrapper is the only code that
 * touches usearch. It owns exactly one native index and gives it an explicit close():
 *
 * usearch's JS binding has no close/reset, and a viewed (memory-mapped) index holds an open descriptor
 * and a mapping until the native object is garbage collected. But every native load() starts with
 * reset(), which unmaps a viewed file, closes its descriptor and frees the graph, and then reads the new
 * file. close() loads the null device: reset() runs, the read fails at once on EOF, the null device's
 * FILE* is closed by usearch. Deterministic, no GC, no temp file; a test checks /proc/self/fd and maps.
 *
 * Do NOT release with a failing view() (e.g. view('')): usearch 2.25's memory_mapped_file_t closes
 * descriptor 0 in its destructor when its open() failed, i.e. it closes whatever file holds fd 0 at that
 * moment (stdin, or another component's file). For the same reason view() is only called after checking
 * that the file exists and is readable.
 */

/** Scalar kinds an index may store: a segment's (f32, f16) or, for in-memory indexes only, i8. */
export type IndexScalar = Quantization | 'i8';

export interface AnnParams {
  dimension: number;
  metric: Metric;
  quantization: IndexScalar;
  connectivity: number;
  expansionAdd: number;
  expansionSearch: number;
}

const METRIC_KIND: Readonly<Record<Metric, MetricKind>> = {
  cos: MetricKind.Cos,
  l2sq: MetricKind.L2sq,
  ip: MetricKind.IP,
};
const SCALAR_KIND: Readonly<Record<IndexScalar, ScalarKind>> = {
  f32: ScalarKind.F32,
  f16: ScalarKind.F16,
  i8: ScalarKind.I8,
};

/** Header codes in an index file (usearch index_dense_head_t). */
const METRIC_CODE: Readonly<Record<Metric, number>> = { ip: 0x69, cos: 0x63, l2sq: 0x65 };
const SCALAR_CODE: Readonly<Record<Quantization, number>> = { f32: 11, f16: 12 };

export type AnnMode = 'memory' | 'view';

export interface AnnResult {
  keys: number[];
  distances: number[];
}

export class AnnIndex {
  readonly params: AnnParams;
  /** 'memory': built or loaded into RAM (mutable); 'view': memory-mapped from a file (read-only). */
  readonly mode: AnnMode;
  readonly path: string | null;
  #index: Index | null;

  private constructor(index: Index, params: AnnParams, mode: AnnMode, path: string | null) {
    this.#index = index;
    this.params = params;
    this.mode = mode;
    this.path = path;
  }

  static #make(p: AnnParams): Index {
    return new Index({
      dimensions: p.dimension,
      metric: METRIC_KIND[p.metric],
      quantization: SCALAR_KIND[p.quantization],
      connectivity: p.connectivity,
      expansion_add: p.expansionAdd,
      expansion_search: p.expansionSearch,
      multi: false,
    });
  }

  /** A new, empty in-memory index. */
  static create(params: AnnParams): AnnIndex {
    return new AnnIndex(AnnIndex.#make(params), params, 'memory', null);
  }

  /** Reads an index file into RAM; the file is closed when this returns. */
  static load(path: string, params: AnnParams): AnnIndex {
    return AnnIndex.#open(path, params, 'memory');
  }

  /** Memory-maps an index file; the mapping and its descriptor are held until close(). */
  static view(path: string, params: AnnParams): AnnIndex {
    return AnnIndex.#open(path, params, 'view');
  }

  static #open(path: string, params: AnnParams, mode: AnnMode): AnnIndex {
    try {
      // See the module comment: a view() whose open() fails would close fd 0.
      if (!statSync(path).isFile()) throw new Error('not a regular file');
      accessSync(path, fsConstants.R_OK);
    } catch (e) {
      throw new StrataError(
        ErrorCodes.VERIFY_FAILED,
        `index file cannot be opened: ${(e as Error).message}`,
        {
          file: path,
        },
      );
    }
    const index = AnnIndex.#make(params);
    try {
      if (mode === 'view') index.view(path);
      else index.load(path);
    } catch (e) {
      release(index);
      throw new StrataError(
        ErrorCodes.VERIFY_FAILED,
        `cannot ${mode === 'view' ? 'map' : 'load'} the index: ${(e as Error).message}`,
        { file: path },
        { cause: e },
      );
    }
    const ann = new AnnIndex(index, params, mode, path);
    if (index.dimensions() !== params.dimension) {
      ann.close();
      throw new StrataError(
        ErrorCodes.VERIFY_FAILED,
        `index has dimension ${index.dimensions()}, expected ${params.dimension}`,
        { file: path },
      );
    }
    return ann;
  }

  get isOpen(): boolean {
    return this.#index !== null;
  }

  #live(): Index {
    if (this.#index === null) throw new ClosedError('ANN index', { file: this.path ?? undefined });
    return this.#index;
  }

  get size(): number {
    return this.#live().size();
  }

  /** Adds rows of a row-major matrix under the given keys, on `threads` native threads. */
  add(keys: BigUint64Array, matrix: Float32Array, threads: number): void {
    if (keys.length === 0) return;
    this.#live().add(keys, matrix, threads);
  }

  /** Removes a key; false if it was not present. */
  remove(key: number): boolean {
    return (this.#live().remove(BigInt(key)) as number) > 0;
  }

  /** Keys of `keys` that the index does not hold. */
  missing(keys: ArrayLike<number>): number[] {
    if (keys.length === 0) return [];
    const big = new BigUint64Array(keys.length);
    for (let i = 0; i < keys.length; i++) big[i] = BigInt(keys[i]!);
    const found = this.#live().contains(big) as boolean[];
    const out: number[] = [];
    for (let i = 0; i < found.length; i++) if (!found[i]) out.push(keys[i]!);
    return out;
  }

  /**
   * Approximate nearest neighbours, closest first. usearch explores max(expansion_search, count)
   * candidates, so a larger `count` is also a larger ef.
   */
  search(query: Float32Array, count: number): AnnResult {
    const index = this.#live();
    if (index.size() === 0 || count <= 0) return { keys: [], distances: [] };
    const m = index.search(query, count, 1);
    const keys = new Array<number>(m.keys.length);
    const distances = new Array<number>(m.keys.length);
    for (let i = 0; i < m.keys.length; i++) {
      keys[i] = Number(m.keys[i]);
      distances[i] = m.distances[i]!;
    }
    return { keys, distances };
  }

  /** Writes the whole index to `path` (synchronously; the file is closed on return, not fsynced). */
  save(path: string): void {
    this.#live().save(path);
  }

  /** Releases the native index: unmaps the file, closes its descriptor, frees the graph. Idempotent. */
  close(): void {
    const index = this.#index;
    if (index === null) return;
    this.#index = null;
    release(index);
  }
}

function release(index: Index): void {
  try {
    index.load(devNull);
  } catch {
    // expected: reset() has run, then reading the null device failed on EOF
  }
  if (index.size() !== 0) {
    throw new StrataError(ErrorCodes.INTERNAL, 'usearch index was not released by reset');
  }
}

/**
 * Exact k nearest rows of a row-major matrix (usearch's SIMD brute force, not a JS loop).
 * Returns row numbers (0-based) and distances, closest first.
 */
export function exactNearest(
  metric: Metric,
  matrix: Float32Array,
  dimension: number,
  query: Float32Array,
  k: number,
): { rows: number[]; distances: number[] } {
  const n = matrix.length / dimension;
  const count = Math.min(k, n);
  if (count <= 0) return { rows: [], distances: [] };
  // usearch's exactSearch ignores a typed array's byteOffset (it reads from the start of the buffer):
  // pass only arrays that start at offset 0.
  const data = matrix.byteOffset === 0 ? matrix : matrix.slice();
  const q = query.byteOffset === 0 ? query : query.slice();
  const m = usearchExactSearch(data, q, dimension, count, METRIC_KIND[metric], 1);
  if (!(m instanceof Matches)) throw new StrataError(ErrorCodes.INTERNAL, 'usearch returned batch matches');
  const rows = new Array<number>(m.keys.length);
  const distances = new Array<number>(m.keys.length);
  for (let i = 0; i < m.keys.length; i++) {
    rows[i] = Number(m.keys[i]);
    distances[i] = m.distances[i]!;
  }
  return { rows, distances };
}

export interface IndexFileHeader {
  versionMajor: number;
  metric: Metric | null;
  quantization: Quantization | null;
  metricCode: number;
  scalarCode: number;
  /** Live vectors. */
  present: number;
  /** Removed slots still in the file (incremental builds accumulate them). */
  deleted: number;
  dimension: number;
  multi: boolean;
  /** Vectors stored in the file, live or removed. */
  rows: number;
}

/** Reads the fixed header of an index file without mapping it (handle closed on return). */
export async function readIndexHeader(path: string): Promise<IndexFileHeader> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const bad = (what: string) =>
      new StrataError(ErrorCodes.VERIFY_FAILED, `index file ${what}`, { file: path });
    if (size < 8) throw bad('is truncated (no matrix header)');
    const dims = Buffer.alloc(8);
    await fh.read(dims, 0, 8, 0);
    const rows = dims.readUInt32LE(0);
    const cols = dims.readUInt32LE(4);
    const offset = 8 + rows * cols;
    const head = Buffer.alloc(64);
    if (offset + head.length > size) throw bad('is truncated (no index header)');
    await fh.read(head, 0, head.length, offset);
    if (head.toString('latin1', 0, 7) !== 'usearch') throw bad('has no usearch header');
    const metricCode = head.readUInt8(13);
    const scalarCode = head.readUInt8(14);
    const metric = (Object.keys(METRIC_CODE) as Metric[]).find((m) => METRIC_CODE[m] === metricCode) ?? null;
    const quantization =
      (Object.keys(SCALAR_CODE) as Quantization[]).find((q) => SCALAR_CODE[q] === scalarCode) ?? null;
    return {
      versionMajor: head.readUInt16LE(7),
      metric,
      quantization,
      metricCode,
      scalarCode,
      present: Number(head.readBigUInt64LE(17)),
      deleted: Number(head.readBigUInt64LE(25)),
      dimension: Number(head.readBigUInt64LE(33)),
      multi: head.readUInt8(41) !== 0,
      rows,
    };
  } finally {
    await fh.close();
  }
}
