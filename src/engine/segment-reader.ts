import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { closeEach } from '../core/close.js';
import { ClosedError, ErrorCodes, NotFoundError, StrataError, VerificationError } from '../core/errors.js';
import type { LtHash } from '../core/lthash.js';
import { parseManifest, type SegmentManifest } from '../core/manifest.js';
import type { Metadata, SeqRange } from '../core/types.js';
import { AnnIndex, exactNearest } from './ann-index.js';
import { blobToF32, decodeRow, type KindCounts, RecordStore } from './record-store.js';
import type { SegmentRow } from './rows.js';
import { SEGMENT_FILES } from './segment-files.js';
import { computeSegmentContent, verifySegment } from './verify.js';

/** One put as scanPuts yields it. */
export interface PutRow {
  key: number;
  id: string;
  metadata: Metadata | null;
  document: string | null;
  embedding: Float32Array | null;
}

export interface Hit {
  id: string;
  key: number;
  distance: number;
}

export interface OpenOptions {
  /**
   * Before opening: 'checksums' (default) checks size and SHA-256 of every file against the manifest;
   * 'full' also runs the whole content verification; 'none' trusts the files.
   */
  verify?: 'none' | 'checksums' | 'full';
  /** HNSW search breadth; default the manifest's index.expansionSearch. */
  expansionSearch?: number;
}

export interface SearchOptions {
  /** Search breadth for this query (at least the index's expansionSearch). */
  ef?: number;
  /**
   * f16 indexes only: over-fetch max(2k, k+16) candidates and re-rank them by exact f32 distance from the
   * stored vectors (default false: the index's own answer, as raw usearch gives it; the query layer
   * (src/query/knn.ts) always re-ranks).
   */
  rerank?: boolean;
}

const DEFAULT_SCAN_BATCH = 512;

/**
 * Read access to a sealed segment. Owns one read-only SQLite handle and, if the segment has an index,
 * one memory-mapped usearch index; close() releases both (idempotent).
 */
export class SegmentReader implements AsyncDisposable {
  readonly dir: string;
  readonly manifest: SegmentManifest;
  readonly hasIndex: boolean;
  #store: RecordStore | null;
  #ann: AnnIndex | null;
  readonly #count: number;
  #maxKey: number | undefined;
  /** Optional in-memory copy of every put vector (cacheVectors()): exact search without SQLite reads. */
  #cache: { matrix: Float32Array; keys: number[]; pos: Map<number, number> } | null = null;

  private constructor(dir: string, manifest: SegmentManifest, store: RecordStore, ann: AnnIndex | null) {
    this.dir = dir;
    this.manifest = manifest;
    this.#store = store;
    this.#ann = ann;
    this.hasIndex = ann !== null;
    // From the manifest (hash-checked on the way here; recomputed under verify: "full"): counting would scan
    // every page of the record store and make a cold open cost a full read.
    this.#count = manifest.counts.records;
  }

  static async open(dir: string, opts: OpenOptions = {}): Promise<SegmentReader> {
    const manifestPath = join(dir, SEGMENT_FILES.manifest);
    let text: string;
    try {
      text = await readFile(manifestPath, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new NotFoundError('segment has no manifest (not sealed?)', {
          segment: dir,
          file: manifestPath,
        });
      }
      throw e;
    }
    const manifest = parseManifest(text, { segment: dir, file: manifestPath });
    const verify = opts.verify ?? 'checksums';
    if (verify !== 'none') {
      const report = await verifySegment(dir, manifest, { full: verify === 'full' });
      if (!report.ok) {
        const first = report.problems[0] ?? 'unknown problem';
        throw new VerificationError(`segment failed verification: ${first}`, {
          segment: dir,
          file: first.slice(0, first.indexOf(':')),
          problems: report.problems,
        });
      }
    }
    const store = RecordStore.openReadOnly(join(dir, SEGMENT_FILES.records));
    let ann: AnnIndex | null = null;
    try {
      if (manifest.index !== null) {
        ann = AnnIndex.view(join(dir, SEGMENT_FILES.index), {
          dimension: manifest.dimension,
          metric: manifest.metric,
          quantization: manifest.quantization,
          connectivity: manifest.index.connectivity,
          expansionAdd: manifest.index.expansionAdd,
          expansionSearch: opts.expansionSearch ?? manifest.index.expansionSearch,
        });
      }
      return new SegmentReader(dir, manifest, store, ann);
    } catch (e) {
      ann?.close();
      store.close();
      throw e;
    }
  }

  #live(): RecordStore {
    if (this.#store === null) throw new ClosedError('segment reader', { segment: this.dir });
    return this.#store;
  }

  /** Number of put rows. */
  get count(): number {
    return this.#count;
  }

  /** The largest row key: the key space of a deletion vector over this segment. */
  get maxKey(): number {
    this.#maxKey ??= this.manifest.maxKey ?? this.#live().maxKey();
    return this.#maxKey;
  }

  /**
   * Every put in key order, streamed: key, id, parsed metadata, document, and the f32 embedding when
   * `vectors` is set (a copy the caller may keep). For views that hold a segment's rows in memory.
   */
  *scanPuts(opts: { vectors?: boolean } = {}): Generator<PutRow> {
    const d = this.manifest.dimension;
    for (const [key, id, metadata, document, blob] of this.#live().iteratePuts(opts.vectors === true)) {
      let embedding: Float32Array | null = null;
      if (blob !== null) {
        if (blob.byteLength !== d * 4) {
          throw new StrataError(ErrorCodes.INTERNAL, `put ${key} has no ${d}-d embedding`, {
            segment: this.dir,
          });
        }
        embedding = new Float32Array(d);
        new Uint8Array(embedding.buffer).set(blob);
      }
      yield {
        key,
        id,
        metadata: metadata === null ? null : (JSON.parse(metadata) as Metadata),
        document,
        embedding,
      };
    }
  }

  /** Keys of all puts, ascending. */
  putKeys(): number[] {
    return this.#live().putKeys();
  }

  /** Keys of these ids' puts (ids that are not puts here are absent from the map). */
  keysOf(ids: readonly string[]): Map<string, number> {
    if (ids.length === 0) return new Map();
    return this.#live().keysOfIds(ids);
  }

  /** The rows of these keys (absent keys are absent from the map). */
  rowsByKey(keys: readonly number[]): Map<number, SegmentRow> {
    const store = this.#live();
    const out = new Map<number, SegmentRow>();
    for (const k of keys) {
      const r = store.rowByKey(k);
      if (r) out.set(k, r);
    }
    return out;
  }

  /**
   * Approximate nearest puts by key, closest first, straight from the index (no id resolution: views
   * that hold ids in memory resolve them). Empty when the segment has no index.
   */
  searchKeys(query: Float32Array, count: number): { keys: number[]; distances: number[] } {
    this.#live();
    this.#checkQuery(query, count);
    return this.#ann ? this.#ann.search(query, count) : { keys: [], distances: [] };
  }

  /**
   * Recomputes the segment's logical content from its records: the content hash and, for data segments
   * and format 1 snapshots (`lthash`), the LtHash of its puts.
   */
  recomputeContent(lthash = false): {
    contentHash: string;
    lthash?: LtHash;
    counts: KindCounts;
    seqRange: SeqRange | null;
  } {
    const c = computeSegmentContent(this.#live().db, lthash);
    return {
      contentHash: c.contentHash,
      counts: c.counts,
      seqRange: c.seqRange,
      ...(c.lthash ? { lthash: c.lthash } : {}),
    };
  }

  getRows(ids: string[]): Map<string, SegmentRow> {
    const store = this.#live();
    const out = new Map<string, SegmentRow>();
    for (const id of ids) {
      if (out.has(id)) continue;
      const row = store.rowById(id);
      if (row) out.set(id, row);
    }
    return out;
  }

  /**
   * Every row in ascending id order (SQL ORDER BY id = compareIds order). Reads `batchSize` rows per
   * statement (keyset pagination), so no statement stays open while the consumer runs between yields.
   */
  *scan(batchSize = DEFAULT_SCAN_BATCH): Generator<SegmentRow> {
    const limit = Math.max(1, Math.floor(batchSize));
    let after = '';
    for (;;) {
      const batch = this.#live().batchAfter(after, limit);
      for (const r of batch) yield decodeRow(r);
      if (batch.length < limit) return;
      after = batch[batch.length - 1]![1];
    }
  }

  /** Every row with its key, in ascending id order (keyset pagination, like scan()). */
  *scanWithKeys(batchSize = DEFAULT_SCAN_BATCH): Generator<{ key: number; row: SegmentRow }> {
    const limit = Math.max(1, Math.floor(batchSize));
    let after = '';
    for (;;) {
      const batch = this.#live().batchAfter(after, limit);
      for (const r of batch) yield { key: r[0], row: decodeRow(r) };
      if (batch.length < limit) return;
      after = batch[batch.length - 1]![1];
    }
  }

  /** Every put's key and id, in key order. */
  *scanIds(): Generator<[key: number, id: string]> {
    for (const [key, id] of this.#live().iteratePuts(false)) yield [key, id];
  }

  /**
   * Loads every put vector into memory once (N × dimension × 4 bytes), so exact search and re-ranking
   * never read SQLite again. Query servers call it after open; one-shot readers need not.
   */
  cacheVectors(): void {
    const store = this.#live();
    if (this.#cache) return;
    const d = this.manifest.dimension;
    const matrix = new Float32Array(this.#count * d);
    const keys: number[] = [];
    const pos = new Map<number, number>();
    for (const [key, blob] of store.iteratePutVectors()) {
      if (!blob || blob.byteLength !== d * 4 || keys.length >= this.#count) {
        throw new StrataError(ErrorCodes.INTERNAL, `put ${key} has no ${d}-d embedding`, {
          segment: this.dir,
        });
      }
      matrix.set(blobToF32(blob), keys.length * d);
      pos.set(key, keys.length);
      keys.push(key);
    }
    this.#cache = { matrix: matrix.subarray(0, keys.length * d), keys, pos };
  }

  get vectorsCached(): boolean {
    return this.#cache !== null;
  }

  vectors(keys: ArrayLike<number>): Float32Array {
    const store = this.#live();
    const d = this.manifest.dimension;
    const out = new Float32Array(keys.length * d);
    const cache = this.#cache;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const p = cache?.pos.get(key);
      if (p !== undefined) {
        out.set(cache!.matrix.subarray(p * d, (p + 1) * d), i * d);
        continue;
      }
      const blob = store.embeddingBlob(key);
      if (!blob) {
        throw new NotFoundError(`key ${key} is not a put of this segment`, {
          segment: this.dir,
          key: String(key),
        });
      }
      if (blob.byteLength !== d * 4) {
        throw new StrataError(
          ErrorCodes.INTERNAL,
          `key ${key} has ${blob.byteLength / 4} dimensions, expected ${d}`,
          {
            segment: this.dir,
          },
        );
      }
      out.set(blobToF32(blob), i * d);
    }
    return out;
  }

  #checkQuery(query: Float32Array, k: number): void {
    if (query.length !== this.manifest.dimension) {
      throw new StrataError(
        ErrorCodes.DIMENSION_MISMATCH,
        `query has ${query.length} dimensions, the segment ${this.manifest.dimension}`,
        { segment: this.dir },
      );
    }
    if (!Number.isInteger(k) || k < 0) {
      throw new StrataError(ErrorCodes.USAGE, `k must be a non-negative integer, got ${k}`, {
        segment: this.dir,
      });
    }
  }

  /**
   * Approximate k nearest puts, closest first: the index's answer with ids resolved, or (rerank: true, f16)
   * candidates re-ranked by exact f32 distance. Without an index: exactSearch.
   */
  search(query: Float32Array, k: number, opts: SearchOptions = {}): Hit[] {
    const store = this.#live();
    this.#checkQuery(query, k);
    const ann = this.#ann;
    if (ann === null) return this.exactSearch(query, k);
    if (k === 0) return [];
    const rerank = this.manifest.quantization === 'f16' && opts.rerank === true;
    const want = rerank ? Math.max(2 * k, k + 16) : k;
    const res = ann.search(query, Math.max(want, opts.ef ?? 0));
    const n = Math.min(want, res.keys.length);
    if (!rerank) {
      const hits: Hit[] = [];
      const ids = store.idsOfKeys(res.keys.slice(0, n));
      for (let i = 0; i < n; i++) hits.push(this.#hitFrom(ids, res.keys[i]!, res.distances[i]!));
      return hits;
    }
    return this.#exact(store, query, k, res.keys.slice(0, n));
  }

  /** Exact k nearest puts (brute force over all puts, or over the given keys), closest first. */
  exactSearch(query: Float32Array, k: number, keys?: ArrayLike<number>): Hit[] {
    const store = this.#live();
    this.#checkQuery(query, k);
    if (k === 0) return [];
    if (keys !== undefined) return this.#exact(store, query, k, keys);
    if (this.#cache) return this.#nearest(store, query, k, this.#cache.keys, this.#cache.matrix);
    const d = this.manifest.dimension;
    const allKeys: number[] = [];
    const matrix = new Float32Array(this.#count * d);
    for (const [key, blob] of store.iteratePutVectors()) {
      if (!blob || blob.byteLength !== d * 4 || allKeys.length >= this.#count) {
        throw new StrataError(ErrorCodes.INTERNAL, `put ${key} has no ${d}-d embedding`, {
          segment: this.dir,
        });
      }
      matrix.set(blobToF32(blob), allKeys.length * d);
      allKeys.push(key);
    }
    return this.#nearest(store, query, k, allKeys, matrix.subarray(0, allKeys.length * d));
  }

  #exact(store: RecordStore, query: Float32Array, k: number, keys: ArrayLike<number>): Hit[] {
    return this.#nearest(store, query, k, keys, this.vectors(keys));
  }

  #nearest(
    store: RecordStore,
    query: Float32Array,
    k: number,
    keys: ArrayLike<number>,
    matrix: Float32Array,
  ): Hit[] {
    const { rows, distances } = exactNearest(this.manifest.metric, matrix, this.manifest.dimension, query, k);
    const ids = store.idsOfKeys(rows.map((r) => keys[r]!));
    return rows.map((r, i) => this.#hitFrom(ids, keys[r]!, distances[i]!));
  }

  #hitFrom(ids: Map<number, string>, key: number, distance: number): Hit {
    const id = ids.get(key);
    if (id === undefined) {
      throw new StrataError(ErrorCodes.INTERNAL, `index key ${key} has no record`, { segment: this.dir });
    }
    return { id, key, distance };
  }

  /** Releases the index mapping and the SQLite handle. Idempotent. */
  async close(): Promise<void> {
    this.#cache = null;
    const ann = this.#ann;
    const store = this.#store;
    this.#ann = null;
    this.#store = null;
    closeEach(
      () => ann?.close(),
      () => store?.close(),
    );
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
