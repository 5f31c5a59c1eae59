/**
 * Rows held in memory rather than in a segment: the query server's tail of acknowledged writes. Append-only
 * with a dead mask (a row superseded by a later write, or published in a version, is killed, never moved),
 * so a read can take the rows as they are at one instant (size, live mask) while later writes append.
 * Vectors are held by reference, not copied: the tail's memory is its vectors once, plus the index. Past
 * `indexMinRows` live rows it keeps an in-memory ANN index (int8: a quarter of the f32 vectors' memory;
 * its candidates are re-ranked exactly by the query layer), so a large tail costs a graph walk, not a scan
 * of all its vectors.
 */
import type { Metadata, Metric } from '../core/types.js';
import { indexMinRows, VectorIndex } from '../engine/index.js';
import type { RowSource } from './row-source.js';
import { type Column, setCell, Tag } from './segment-view.js';

const EMPTY = new Float32Array(0);

export interface TailRecord {
  id: string;
  embedding: Float32Array;
  document: string | null;
  metadata: Metadata | null;
}

export class TailRows implements RowSource {
  readonly dimension: number;
  readonly metric: Metric;
  readonly ids: string[] = [];
  readonly metadata: Array<Metadata | null> = [];
  readonly #documents: Array<string | null> = [];
  /** Each row's vector, by reference (the tail's operations hold the same arrays: stored once). */
  readonly #vecs: Float32Array[] = [];
  #dead: Uint8Array;
  #deadCount = 0;
  readonly #rowOfId = new Map<string, number>();
  readonly #columns = new Map<string, Column>();
  #index: VectorIndex | null = null;
  readonly #indexFrom: number;
  /** Bytes of documents and metadata (JSON), for the tail's bound. */
  #extraBytes = 0;

  constructor(dimension: number, metric: Metric, opts: { indexMinRows?: number } = {}) {
    this.dimension = dimension;
    this.metric = metric;
    this.#dead = new Uint8Array(64);
    this.#indexFrom = opts.indexMinRows ?? indexMinRows(dimension);
  }

  /** Rows appended so far (live and dead). */
  get size(): number {
    return this.ids.length;
  }

  get live(): number {
    return this.ids.length - this.#deadCount;
  }

  get dead(): number {
    return this.#deadCount;
  }

  /** Bytes of the live rows' vectors, documents and metadata (an estimate, for bounds and metrics). */
  get bytes(): number {
    return this.live * this.dimension * 4 + this.#extraBytes;
  }

  get hasIndex(): boolean {
    return this.#index !== null;
  }

  /** Not one matrix: rows are gathered (an exact scan of a small tail, or a re-rank of candidates). */
  get vectors(): null {
    return null;
  }

  isLive(row: number): boolean {
    return row >= 0 && row < this.size && this.#dead[row] === 0;
  }

  /** A snapshot of which rows are live now (1 = live). */
  liveMask(): Uint8Array {
    const n = this.size;
    const m = new Uint8Array(n);
    for (let i = 0; i < n; i++) m[i] = this.#dead[i]! ^ 1;
    return m;
  }

  append(r: TailRecord): number {
    const row = this.ids.length;
    if (row + 1 > this.#dead.length) {
      const dead = new Uint8Array(this.#dead.length * 2);
      dead.set(this.#dead);
      this.#dead = dead;
    }
    this.#vecs.push(r.embedding);
    this.ids.push(r.id);
    this.metadata.push(r.metadata);
    this.#documents.push(r.document);
    this.#extraBytes += (r.document?.length ?? 0) * 2 + (r.metadata ? JSON.stringify(r.metadata).length : 0);
    const prev = this.#rowOfId.get(r.id);
    if (prev !== undefined) this.kill(prev);
    this.#rowOfId.set(r.id, row);
    for (const [name, c] of this.#columns) setColumn(c, row, r.metadata, name);
    if (this.#index) this.#index.add([row], r.embedding);
    else if (this.live >= this.#indexFrom) this.#buildIndex();
    return row;
  }

  kill(row: number): void {
    if (!this.isLive(row)) return;
    this.#dead[row] = 1;
    this.#deadCount++;
    this.#vecs[row] = EMPTY; // a dead row's vector is never read again: let it go
    const id = this.ids[row]!;
    if (this.#rowOfId.get(id) === row) this.#rowOfId.delete(id);
    this.#extraBytes -=
      (this.#documents[row]?.length ?? 0) * 2 +
      (this.metadata[row] ? JSON.stringify(this.metadata[row]).length : 0);
    this.#index?.remove(row);
  }

  #buildIndex(): void {
    const index = new VectorIndex({ dimension: this.dimension, metric: this.metric, quantization: 'i8' });
    const rows: number[] = [];
    for (let i = 0; i < this.size; i++) if (this.#dead[i] === 0) rows.push(i);
    index.add(rows, this.gather(rows));
    this.#index = index;
  }

  rowOfId(id: string): number {
    return this.#rowOfId.get(id) ?? -1;
  }

  documents(): ReadonlyArray<string | null> {
    return this.#documents;
  }

  column(name: string): Column {
    let c = this.#columns.get(name);
    const n = this.size;
    if (c && c.tag.length >= n) return c;
    const cap = Math.max(64, n * 2);
    const next: Column = {
      tag: new Uint8Array(cap),
      num: new Float64Array(cap),
      str: new Int32Array(cap).fill(-1),
      dict: c?.dict ?? new Map(),
      arrays: c?.arrays ?? new Map(),
    };
    const from = c ? c.tag.length : 0;
    if (c) {
      next.tag.set(c.tag);
      next.num.set(c.num);
      next.str.set(c.str);
    }
    for (let i = from; i < n; i++) setColumn(next, i, this.metadata[i] ?? null, name);
    c = next;
    this.#columns.set(name, c);
    return c;
  }

  gather(rows: ArrayLike<number>): Float32Array {
    const d = this.dimension;
    const out = new Float32Array(rows.length * d);
    for (let i = 0; i < rows.length; i++) out.set(this.#vecs[rows[i]!]!, i * d);
    return out;
  }

  searchRows(query: Float32Array, count: number): number[] {
    if (!this.#index) return [];
    // int8 ordering is coarse: walk wider, the caller re-ranks exactly
    return this.#index.search(query, Math.max(count, 50));
  }

  close(): void {
    this.#index?.close();
    this.#index = null;
  }
}

function setColumn(c: Column, i: number, m: Metadata | null, name: string): void {
  if (i >= c.tag.length) return;
  // a row rewritten in place: clear the old cell first
  c.tag[i] = Tag.missing;
  c.str[i] = -1;
  c.num[i] = 0;
  c.arrays.delete(i);
  setCell(c, i, m, name);
}
