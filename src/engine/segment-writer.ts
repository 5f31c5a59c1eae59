import { constants as fsConstants } from 'node:fs';
import { copyFile, mkdir, rm, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { closeEach } from '../core/close.js';
import { fsyncDir, fsyncFile, writeFileDurable } from '../core/durable.js';
import { ClosedError, ErrorCodes, StrataError, VerificationError } from '../core/errors.js';
import { failpoint } from '../core/failpoints.js';
import { ContentHasher, sha256File } from '../core/hash.js';
import {
  MANIFEST_FORMAT,
  MANIFEST_FORMAT_VERSION,
  type ManifestFile,
  type SegmentKind,
  type SegmentManifest,
  serializeManifest,
} from '../core/manifest.js';
import type { CollectionConfig } from '../core/types.js';
import { AnnIndex, type AnnParams } from './ann-index.js';
import { compareIds } from './ids.js';
import { blobToF32, KIND_CODE, type KindCounts, pageSizeFor, RecordStore } from './record-store.js';
import type { SegmentRow } from './rows.js';
import { SEGMENT_FILES } from './segment-files.js';
import { checkSegmentContent, hashSegmentRow, type SegmentExpectation } from './verify.js';

export { SEGMENT_FILES };

export interface SegmentWriterOptions {
  /** Must not exist; created (with missing parents). Deleted again by close() unless sealed. */
  dir: string;
  kind: SegmentKind;
  config: CollectionConfig;
  /** Build the ANN index (and the metadata index): snapshots. */
  buildIndex: boolean;
  /** Native threads for index construction; default os.availableParallelism(). */
  threads?: number;
  /** Incremental build on a copy of this sealed segment (upsert/remove instead of append). */
  base?: { dir: string; manifest: SegmentManifest };
  producer?: string;
}

export interface SealInfo {
  seqRange: [number, number] | null;
  inputs: string[];
  snapshot?: SegmentManifest['snapshot'];
}

type State = 'open' | 'sealing' | 'sealed' | 'failed' | 'closed';

const SURROGATE = /[\uD800-\uDFFF]/u;
/** Vectors buffered before a (multi-threaded) index add: ~32 MB, at least 1024 rows. */
const batchRowsFor = (dimension: number) => Math.max(1024, Math.floor((32 << 20) / (dimension * 4)));

/**
 * Writes one segment into a private directory; seal() closes, fsyncs, reopens read-only, verifies and
 * only then writes manifest.json (DESIGN.md invariants 1 and 2). Owns exactly one record store and at
 * most one ANN index; close() releases both (idempotent) and deletes the directory unless sealed.
 *
 * Full build: append() rows in strictly ascending id order; keys are 1..N.
 * Incremental build (`base`): the base's records.sqlite is copied, its index loaded into RAM, then
 * upsert()/remove() in any order; replaced and new puts get key max+1.
 */
export class SegmentWriter implements AsyncDisposable {
  readonly dir: string;
  readonly kind: SegmentKind;
  readonly config: CollectionConfig;
  readonly buildIndex: boolean;
  readonly incremental: boolean;
  readonly #threads: number;
  readonly #producer: string;
  readonly #dimension: number;

  #state: State = 'open';
  #sealing: Promise<SegmentManifest> | null = null;
  #closing: Promise<void> | null = null;
  #store: RecordStore | null = null;
  #ann: AnnIndex | null = null;
  /** Incremental build whose base had no usable index: index every put at seal. */
  #indexAtSeal = false;
  /** Full builds: the hash of what was appended, compared with the hash recomputed from disk. */
  #hasher: ContentHasher | null = null;
  #lastId: string | null = null;
  #maxKey = 0;
  /** Incremental builds: the base's largest key (every key above it is new) and the keys removed. */
  #baseMaxKey = 0;
  #removedKeys: number[] = [];
  #counts: KindCounts = { records: 0, tombstones: 0, patches: 0 };

  // Vectors waiting for a batched index add.
  readonly #batchRows: number;
  #batch: Float32Array | null = null;
  #batchKeys: number[] = [];
  #batchSlot = new Map<number, number>();
  #batchDropped = new Set<number>();

  private constructor(opts: SegmentWriterOptions) {
    this.dir = opts.dir;
    this.kind = opts.kind;
    this.config = opts.config;
    this.buildIndex = opts.buildIndex;
    this.incremental = opts.base !== undefined;
    this.#threads = Math.max(1, opts.threads ?? availableParallelism());
    this.#producer = opts.producer ?? 'strata';
    this.#dimension = opts.config.dimension;
    this.#batchRows = batchRowsFor(this.#dimension);
  }

  static async create(opts: SegmentWriterOptions): Promise<SegmentWriter> {
    const { config, base } = opts;
    if (!Number.isInteger(config.dimension) || config.dimension <= 0) {
      throw new StrataError(ErrorCodes.INTERNAL, `invalid dimension ${config.dimension}`, {
        segment: opts.dir,
      });
    }
    if (base) {
      const m = base.manifest;
      if (m.dimension !== config.dimension || m.metric !== config.metric) {
        throw new StrataError(
          ErrorCodes.INTERNAL,
          `base segment is ${m.dimension}-d ${m.metric}, the collection ${config.dimension}-d ${config.metric}`,
          { segment: opts.dir, base: base.dir },
        );
      }
    }
    await mkdir(dirname(opts.dir), { recursive: true });
    try {
      await mkdir(opts.dir);
    } catch (e) {
      throw new StrataError(
        ErrorCodes.INTERNAL,
        `segment directory cannot be created: ${(e as Error).message}`,
        {
          segment: opts.dir,
        },
      );
    }
    const w = new SegmentWriter(opts);
    try {
      if (base) await w.#openIncremental(base);
      else w.#openFull();
    } catch (e) {
      await w.close();
      throw e;
    }
    return w;
  }

  #annParams(): AnnParams {
    const c = this.config;
    return {
      dimension: c.dimension,
      metric: c.metric,
      quantization: c.quantization,
      connectivity: c.connectivity,
      expansionAdd: c.expansionAdd,
      expansionSearch: c.expansionSearch,
    };
  }

  #openFull(): void {
    this.#store = RecordStore.create(join(this.dir, SEGMENT_FILES.records), pageSizeFor(this.#dimension));
    this.#store.begin();
    this.#hasher = new ContentHasher();
    if (this.buildIndex) this.#ann = AnnIndex.create(this.#annParams());
  }

  async #openIncremental(base: { dir: string; manifest: SegmentManifest }): Promise<void> {
    const m = base.manifest;
    const ctx = { segment: this.dir, base: base.dir };
    const recordsFile = m.files.find((f) => f.role === 'records');
    const src = join(base.dir, SEGMENT_FILES.records);
    const srcSize = (await stat(src)).size;
    if (!recordsFile || recordsFile.size !== srcSize) {
      throw new VerificationError(
        `base ${SEGMENT_FILES.records} is ${srcSize} bytes, its manifest disagrees`,
        {
          ...ctx,
          file: src,
        },
      );
    }
    const dst = join(this.dir, SEGMENT_FILES.records);
    // a reflink where the filesystem has them (btrfs, XFS): the copy is then free; a byte copy elsewhere
    await copyFile(src, dst, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
    this.#store = RecordStore.openForUpdate(dst);
    const counts = this.#store.countsByKind();
    for (const k of ['records', 'tombstones', 'patches'] as const) {
      if (counts[k] !== m.counts[k]) {
        throw new VerificationError(`base holds ${counts[k]} ${k}, its manifest says ${m.counts[k]}`, {
          ...ctx,
          file: src,
        });
      }
    }
    this.#counts = counts;
    this.#maxKey = this.#store.maxKey();
    this.#baseMaxKey = this.#maxKey;
    this.#store.begin();
    if (!this.buildIndex) return;

    const c = this.config;
    const reusable =
      m.index !== null &&
      m.files.some((f) => f.role === 'index') &&
      m.quantization === c.quantization &&
      m.index.connectivity === c.connectivity &&
      m.index.expansionAdd === c.expansionAdd;
    if (!reusable) {
      this.#ann = AnnIndex.create(this.#annParams());
      this.#indexAtSeal = true;
      return;
    }
    // Loaded into RAM straight from the base (the file is closed on return); saved into this
    // directory at seal, so a copy of the base's index file would only be overwritten.
    this.#ann = AnnIndex.load(join(base.dir, SEGMENT_FILES.index), this.#annParams());
    if (this.#ann.size !== counts.records) {
      throw new VerificationError(
        `base index holds ${this.#ann.size} vectors, its store ${counts.records} puts`,
        {
          ...ctx,
          file: join(base.dir, SEGMENT_FILES.index),
        },
      );
    }
  }

  #writable(op: string): RecordStore {
    if (this.#state !== 'open' || this.#store === null) {
      if (this.#state === 'closed') throw new ClosedError('segment writer', { segment: this.dir });
      throw new StrataError(ErrorCodes.INTERNAL, `${op} after seal`, { segment: this.dir });
    }
    return this.#store;
  }

  #check(row: SegmentRow): void {
    const fail = (msg: string) =>
      new StrataError(ErrorCodes.INTERNAL, msg, { segment: this.dir, id: row.id });
    if (typeof row.id !== 'string' || row.id.length === 0) throw fail('row without an id');
    if (SURROGATE.test(row.id)) throw fail('row id holds a lone surrogate (not representable in UTF-8)');
    if (!Number.isSafeInteger(row.seq)) throw fail(`row seq ${row.seq} is not an integer`);
    if (!(row.kind in KIND_CODE)) throw fail(`unknown row kind ${String(row.kind)}`);
    if (this.kind === 'snapshot' && row.kind !== 'put') throw fail(`a snapshot cannot hold a ${row.kind}`);
    if (row.kind === 'put') {
      const e = row.embedding;
      if (!(e instanceof Float32Array)) throw fail('put without a Float32Array embedding');
      if (e.length !== this.#dimension)
        throw fail(`embedding has ${e.length} dimensions, expected ${this.#dimension}`);
      for (let i = 0; i < e.length; i++) {
        const x = e[i]!;
        if (x - x !== 0) throw fail(`embedding[${i}] is ${x}`);
      }
    } else if (row.embedding !== null && row.embedding !== undefined) {
      throw fail(`a ${row.kind} cannot carry an embedding`);
    }
  }

  #count(kindCode: number, delta: number): void {
    if (kindCode === 0) this.#counts.records += delta;
    else if (kindCode === 1) this.#counts.tombstones += delta;
    else this.#counts.patches += delta;
  }

  /** Full builds: the next row, in strictly ascending compareIds order. */
  append(row: SegmentRow): void {
    const store = this.#writable('append');
    if (this.incremental) {
      throw new StrataError(ErrorCodes.INTERNAL, 'append is for full builds; use upsert/remove', {
        segment: this.dir,
      });
    }
    this.#check(row);
    if (this.#lastId !== null && compareIds(this.#lastId, row.id) >= 0) {
      throw new StrataError(
        ErrorCodes.INTERNAL,
        `rows out of order: ${JSON.stringify(row.id)} after ${JSON.stringify(this.#lastId)}`,
        { segment: this.dir, id: row.id },
      );
    }
    const key = this.#maxKey + 1;
    store.insert(key, row);
    this.#maxKey = key;
    this.#lastId = row.id;
    hashSegmentRow(this.#hasher!, row);
    this.#count(KIND_CODE[row.kind], 1);
    if (this.#ann && row.kind === 'put') this.#queue(key, row.embedding!);
  }

  /** Incremental builds: insert, or replace the row of the same id (under a new key). */
  upsert(row: SegmentRow): void {
    const store = this.#writable('upsert');
    this.#requireIncremental('upsert');
    this.#check(row);
    const old = store.lookup(row.id);
    if (old) this.#removeKey(store, old.key, old.kind);
    const key = this.#maxKey + 1;
    store.insert(key, row);
    this.#maxKey = key;
    this.#count(KIND_CODE[row.kind], 1);
    if (this.#ann && !this.#indexAtSeal && row.kind === 'put') this.#queue(key, row.embedding!);
  }

  /** Incremental builds: delete the row of an id and its index entry; false if absent. */
  remove(id: string): boolean {
    const store = this.#writable('remove');
    this.#requireIncremental('remove');
    const old = store.lookup(id);
    if (!old) return false;
    this.#removeKey(store, old.key, old.kind);
    return true;
  }

  #requireIncremental(op: string): void {
    if (!this.incremental) {
      throw new StrataError(ErrorCodes.INTERNAL, `${op} needs a base segment; full builds append`, {
        segment: this.dir,
      });
    }
  }

  #removeKey(store: RecordStore, key: number, kindCode: number): void {
    store.deleteKey(key);
    this.#removedKeys.push(key);
    this.#count(kindCode, -1);
    if (!this.#ann || this.#indexAtSeal || kindCode !== 0) return;
    const slot = this.#batchSlot.get(key);
    if (slot !== undefined) {
      this.#batchDropped.add(slot);
      this.#batchSlot.delete(key);
    } else if (!this.#ann.remove(key)) {
      throw new StrataError(ErrorCodes.INTERNAL, `index lacks key ${key} of a put`, { segment: this.dir });
    }
  }

  #queue(key: number, v: Float32Array): void {
    const d = this.#dimension;
    if (this.#batch === null) this.#batch = new Float32Array(this.#batchRows * d);
    const slot = this.#batchKeys.length;
    this.#batch.set(v, slot * d);
    this.#batchKeys.push(key);
    if (this.incremental) this.#batchSlot.set(key, slot);
    if (this.#batchKeys.length === this.#batchRows) this.#flush();
  }

  #flush(): void {
    const n = this.#batchKeys.length;
    if (n === 0 || this.#batch === null || this.#ann === null) return;
    const d = this.#dimension;
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
    this.#ann.add(keys, matrix, this.#threads);
    this.#batchKeys = [];
    this.#batchSlot.clear();
    this.#batchDropped.clear();
  }

  /** Indexes every put of the store (incremental build without a reusable base index). */
  #indexAllPuts(store: RecordStore): void {
    for (const [key, blob] of store.iteratePutVectors()) {
      if (blob) this.#queue(key, blobToF32(blob));
    }
    this.#flush();
  }

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
    const store = this.#store!;
    const recordsPath = join(this.dir, SEGMENT_FILES.records);
    const indexPath = join(this.dir, SEGMENT_FILES.index);

    // 1. finish writing
    if (this.#indexAtSeal) this.#indexAllPuts(store);
    else this.#flush();
    this.#batch = null;
    if (this.buildIndex) {
      // an incremental build keeps the base's metadata index and updates the changed keys only
      if (this.incremental && store.hasMetadataIndex())
        store.updateMetadataIndex(this.#removedKeys, this.#baseMaxKey);
      else store.rebuildMetadataIndex();
    } else if (this.incremental) store.dropMetadataIndex();
    store.commit();
    failpoint('segment.after-write');

    // 2. close every handle, then make the files durable
    try {
      store.close();
    } finally {
      this.#store = null;
    }
    const ann = this.#ann;
    if (ann) {
      ann.save(indexPath);
      this.#ann = null;
      ann.close();
    }
    await fsyncFile(recordsPath);
    if (ann) await fsyncFile(indexPath);
    await fsyncDir(this.dir);
    failpoint('segment.after-close');

    // 3. reopen read-only and verify
    const c = this.config;
    const index: SegmentManifest['index'] = this.buildIndex
      ? {
          library: 'usearch',
          connectivity: c.connectivity,
          expansionAdd: c.expansionAdd,
          expansionSearch: c.expansionSearch,
        }
      : null;
    const expected: SegmentExpectation = {
      kind: this.kind,
      dimension: c.dimension,
      metric: c.metric,
      quantization: c.quantization,
      index,
      counts: { ...this.#counts },
    };
    if (this.#hasher) expected.contentHash = this.#hasher.digest();
    const { report } = await checkSegmentContent(this.dir, expected);
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
      files,
      ...(info.snapshot !== undefined ? { snapshot: info.snapshot } : {}),
      shard: { index: 0, count: 1 },
      createdAt: new Date().toISOString(),
      producer: this.#producer,
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
    const ann = this.#ann;
    const store = this.#store;
    this.#ann = null;
    this.#store = null;
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
