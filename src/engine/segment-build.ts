/**
 * What every way of building a segment shares: one private directory, one record store, at most one ANN
 * index, vectors batched for multi-threaded index adds, and the seal — write, close, fsync, reopen
 * read-only, verify, hash every file, and only then write manifest.json (docs/architecture.md, "Closed
 * means closed" and "Sealed before shipped"). The two builders are SegmentWriter (a fresh segment from
 * rows in id order) and SegmentMerger (a data segment derived from a base segment's files: the largest
 * input of a merge, whose graph it keeps).
 */
import { rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { closeEach } from '../core/close.js';
import { fsyncDir, fsyncFile, writeFileDurable } from '../core/durable.js';
import { ClosedError, ErrorCodes, StrataError, VerificationError } from '../core/errors.js';
import { failpoint } from '../core/failpoints.js';
import { sha256File } from '../core/hash.js';
import type { LtHash } from '../core/lthash.js';
import {
  MANIFEST_FORMAT,
  MANIFEST_FORMAT_VERSION,
  type ManifestFile,
  type SegmentKind,
  type SegmentManifest,
  serializeManifest,
} from '../core/manifest.js';
import type { CollectionConfig, SeqRange } from '../core/types.js';
import { AnnIndex, type AnnParams } from './ann-index.js';
import { KIND_CODE, type KindCounts, type RecordStore } from './record-store.js';
import type { SegmentRow } from './rows.js';
import { SEGMENT_FILES } from './segment-files.js';
import { checkSegmentContent, type SegmentExpectation } from './verify.js';

/** When a segment gets an ANN index: always, never, or once it holds at least `minRows` puts. */
export type IndexPolicy = boolean | { minRows: number };

export interface SealInfo {
  seqRange: SeqRange | null;
  inputs: string[];
}

type State = 'open' | 'sealing' | 'sealed' | 'failed' | 'closed';

const SURROGATE = /[\uD800-\uDFFF]/u;
/** Vectors buffered before a (multi-threaded) index add: ~32 MB, at least 1024 rows. */
const batchRowsFor = (dimension: number) => Math.max(1024, Math.floor((32 << 20) / (dimension * 4)));

export function annParamsOf(c: CollectionConfig): AnnParams {
  return {
    dimension: c.dimension,
    metric: c.metric,
    quantization: c.quantization,
    connectivity: c.connectivity,
    expansionAdd: c.expansionAdd,
    expansionSearch: c.expansionSearch,
  };
}

export abstract class SegmentBuild implements AsyncDisposable {
  readonly dir: string;
  readonly kind: SegmentKind;
  readonly config: CollectionConfig;
  protected readonly threads: number;
  protected readonly producer: string;
  protected readonly dimension: number;
  readonly #indexPolicy: IndexPolicy;

  #state: State = 'open';
  #sealing: Promise<SegmentManifest> | null = null;
  #closing: Promise<void> | null = null;
  protected store: RecordStore | null = null;
  protected ann: AnnIndex | null = null;
  protected counts: KindCounts = { records: 0, tombstones: 0, patches: 0 };
  protected maxKey = 0;

  // Vectors waiting for a batched index add (also while the index does not exist yet: minRows).
  readonly #batchRows: number;
  #batch: Float32Array | null = null;
  #batchKeys: number[] = [];
  #batchSlot = new Map<number, number>();
  #batchDropped = new Set<number>();

  protected constructor(o: {
    dir: string;
    kind: SegmentKind;
    config: CollectionConfig;
    index: IndexPolicy;
    threads?: number;
    producer?: string;
  }) {
    this.dir = o.dir;
    this.kind = o.kind;
    this.config = o.config;
    this.#indexPolicy = o.index;
    this.threads = Math.max(1, o.threads ?? availableParallelism());
    this.producer = o.producer ?? 'strata';
    this.dimension = o.config.dimension;
    this.#batchRows = batchRowsFor(this.dimension);
  }

  /** Whether this build may end with an index (it will, for `true`; for `minRows`, if it gets that many). */
  protected get mayIndex(): boolean {
    return this.#indexPolicy !== false;
  }

  protected writable(op: string): RecordStore {
    if (this.#state !== 'open' || this.store === null) {
      if (this.#state === 'closed') throw new ClosedError('segment writer', { segment: this.dir });
      throw new StrataError(ErrorCodes.INTERNAL, `${op} after seal`, { segment: this.dir });
    }
    return this.store;
  }

  protected check(row: SegmentRow): void {
    const fail = (msg: string) =>
      new StrataError(ErrorCodes.INTERNAL, msg, { segment: this.dir, id: row.id });
    if (typeof row.id !== 'string' || row.id.length === 0) throw fail('row without an id');
    if (SURROGATE.test(row.id)) throw fail('row id holds a lone surrogate (not representable in UTF-8)');
    if (!Number.isSafeInteger(row.seq)) throw fail(`row seq ${row.seq} is not an integer`);
    if (!(row.kind in KIND_CODE)) throw fail(`unknown row kind ${String(row.kind)}`);
    if ((this.kind === 'data' || this.kind === 'snapshot') && row.kind !== 'put') {
      throw fail(`a ${this.kind} segment cannot hold a ${row.kind}`);
    }
    if (this.kind === 'changes' && row.kind === 'put') throw fail('a changes segment cannot hold a put');
    if (row.kind === 'put') {
      const e = row.embedding;
      if (!(e instanceof Float32Array)) throw fail('put without a Float32Array embedding');
      if (e.length !== this.dimension)
        throw fail(`embedding has ${e.length} dimensions, expected ${this.dimension}`);
      for (let i = 0; i < e.length; i++) {
        const x = e[i]!;
        if (x - x !== 0) throw fail(`embedding[${i}] is ${x}`);
      }
    } else if (row.embedding !== null && row.embedding !== undefined) {
      throw fail(`a ${row.kind} cannot carry an embedding`);
    }
  }

  protected count(kindCode: number, delta: number): void {
    if (kindCode === 0) this.counts.records += delta;
    else if (kindCode === 1) this.counts.tombstones += delta;
    else this.counts.patches += delta;
  }

  /** Queues a put's vector for the index (created when the policy says so). */
  protected queue(key: number, v: Float32Array): void {
    if (!this.mayIndex) return;
    const d = this.dimension;
    if (this.#batch === null) this.#batch = new Float32Array(this.#batchRows * d);
    let slot = this.#batchKeys.length;
    if (slot * d === this.#batch.length) {
      // full: add to the index if it is due, otherwise keep buffering (a minRows policy not reached yet)
      if (this.#wantsIndex(this.counts.records)) this.flush();
      else {
        const grown = new Float32Array(this.#batch.length * 2);
        grown.set(this.#batch);
        this.#batch = grown;
      }
      slot = this.#batchKeys.length;
    }
    this.#batch.set(v, slot * d);
    this.#batchKeys.push(key);
    this.#batchSlot.set(key, slot);
  }

  /** Drops a key from the index, or from the batch if it has not been added yet; false if neither held it. */
  protected unindex(key: number): boolean {
    const slot = this.#batchSlot.get(key);
    if (slot !== undefined) {
      this.#batchDropped.add(slot);
      this.#batchSlot.delete(key);
      return true;
    }
    return this.ann?.remove(key) ?? false;
  }

  #wantsIndex(puts: number): boolean {
    const p = this.#indexPolicy;
    if (p === false) return false;
    if (p === true) return true;
    return puts >= p.minRows || this.ann !== null;
  }

  /** Adds the batched vectors to the index (creating it first if needed). */
  protected flush(): void {
    const n = this.#batchKeys.length;
    if (n === 0 || this.#batch === null) return;
    this.ann ??= AnnIndex.create(annParamsOf(this.config));
    const d = this.dimension;
    const keys = new BigUint64Array(n - this.#batchDropped.size);
    let matrix = this.#batch.subarray(0, n * d);
    if (this.#batchDropped.size > 0) {
      matrix = new Float32Array(keys.length * d);
      let j = 0;
      for (let i = 0; i < n; i++) {
        if (this.#batchDropped.has(i)) continue;
        matrix.set(this.#batch.subarray(i * d, (i + 1) * d), j * d);
        keys[j++] = BigInt(this.#batchKeys[i]!);
      }
    } else {
      for (let i = 0; i < n; i++) keys[i] = BigInt(this.#batchKeys[i]!);
    }
    this.ann.add(keys, matrix, this.threads);
    this.#batchKeys = [];
    this.#batchSlot.clear();
    this.#batchDropped.clear();
  }

  /** The builder's last writes before close (e.g. indexing what a base could not give). */
  protected abstract finishWrites(store: RecordStore): void;
  /** What the files must agree with; `lthash` for data segments, `contentHash` where the builder knows it. */
  protected abstract expectation(): { contentHash?: string; lthash?: LtHash };

  /**
   * Finish: write, close, fsync, reopen read-only and verify, hash every file, write manifest.json
   * (temp + fsync + rename + fsync dir). On failure the writer is left unsealed: close() deletes it.
   */
  async seal(info: SealInfo): Promise<SegmentManifest> {
    if (this.#state !== 'open') {
      if (this.#state === 'closed') throw new ClosedError('segment writer', { segment: this.dir });
      throw new StrataError(ErrorCodes.INTERNAL, `seal called on a ${this.#state} writer`, {
        segment: this.dir,
      });
    }
    this.#state = 'sealing';
    this.#sealing = this.#seal(info);
    try {
      const manifest = await this.#sealing;
      this.#state = 'sealed';
      return manifest;
    } catch (e) {
      this.#state = 'failed';
      throw e;
    }
  }

  async #seal(info: SealInfo): Promise<SegmentManifest> {
    const store = this.store!;
    const recordsPath = join(this.dir, SEGMENT_FILES.records);
    const indexPath = join(this.dir, SEGMENT_FILES.index);

    // 1. finish writing
    this.finishWrites(store);
    if (this.#wantsIndex(this.counts.records)) this.flush();
    this.#batch = null;
    store.dropMetadataIndex(); // segments of format 1 carried one; nothing reads it
    store.commit();
    failpoint('segment.after-write');

    // 2. close every handle, then make the files durable
    try {
      store.close();
    } finally {
      this.store = null;
    }
    const ann = this.ann;
    if (ann) {
      ann.save(indexPath);
      this.ann = null;
      ann.close();
    }
    await fsyncFile(recordsPath);
    if (ann) await fsyncFile(indexPath);
    await fsyncDir(this.dir);
    failpoint('segment.after-close');

    // 3. reopen read-only and verify
    const c = this.config;
    const index: SegmentManifest['index'] = ann
      ? {
          library: 'usearch',
          connectivity: c.connectivity,
          expansionAdd: c.expansionAdd,
          expansionSearch: c.expansionSearch,
        }
      : null;
    const want = this.expectation();
    const expected: SegmentExpectation = {
      kind: this.kind,
      formatVersion: MANIFEST_FORMAT_VERSION,
      dimension: c.dimension,
      metric: c.metric,
      quantization: c.quantization,
      index,
      counts: { ...this.counts },
      ...(want.contentHash !== undefined ? { contentHash: want.contentHash } : {}),
      ...(want.lthash !== undefined ? { lthash: want.lthash.encode() } : {}),
      ...(this.kind === 'data' ? { maxKey: this.maxKey } : {}),
    };
    const { report, lthash } = await checkSegmentContent(this.dir, expected);
    if (!report.ok) {
      const first = report.problems[0] ?? 'unknown problem';
      throw new VerificationError(`segment failed verification after write: ${first}`, {
        segment: this.dir,
        file: first.slice(0, first.indexOf(':')),
        problems: report.problems,
      });
    }
    failpoint('segment.after-verify');

    // 4. describe: every file is closed now
    const files: ManifestFile[] = [];
    const r = await sha256File(recordsPath);
    files.push({ name: SEGMENT_FILES.records, size: r.size, sha256: r.sha256, role: 'records' });
    if (ann) {
      const x = await sha256File(indexPath);
      files.push({ name: SEGMENT_FILES.index, size: x.size, sha256: x.sha256, role: 'index' });
    }
    const manifest: SegmentManifest = {
      format: MANIFEST_FORMAT,
      formatVersion: MANIFEST_FORMAT_VERSION,
      kind: this.kind,
      collection: c.name,
      dimension: c.dimension,
      metric: c.metric,
      quantization: c.quantization,
      index,
      counts: {
        records: report.counts.records,
        tombstones: report.counts.tombstones,
        patches: report.counts.patches,
      },
      seqRange: info.seqRange,
      inputs: [...info.inputs],
      contentHash: report.contentHash,
      ...(this.kind === 'data' ? { lthash: lthash!.encode(), maxKey: this.maxKey } : {}),
      files,
      shard: { index: 0, count: 1 },
      createdAt: new Date().toISOString(),
      producer: this.producer,
    };
    await writeFileDurable(join(this.dir, SEGMENT_FILES.manifest), serializeManifest(manifest));
    return manifest;
  }

  /**
   * Releases every handle (record store, index) and, unless sealed, deletes the directory. Idempotent;
   * waits for a seal in progress. Resolves only when all of that is done.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#sealing) {
      try {
        await this.#sealing;
      } catch {
        // the failed seal is reported to its caller; here we only clean up
      }
    }
    const sealed = this.#state === 'sealed';
    this.#state = 'closed';
    this.#batch = null;
    const ann = this.ann;
    const store = this.store;
    this.ann = null;
    this.store = null;
    try {
      closeEach(
        () => ann?.close(),
        () => store?.close(),
      );
    } finally {
      if (!sealed) await rm(this.dir, { recursive: true, force: true });
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
