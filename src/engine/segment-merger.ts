import { constants as fsConstants } from 'node:fs';
import { copyFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCodes, StrataError, VerificationError } from '../core/errors.js';
import { LtHash } from '../core/lthash.js';
import type { SegmentManifest } from '../core/manifest.js';
import type { CollectionConfig, Metadata } from '../core/types.js';
import { AnnIndex } from './ann-index.js';
import { blobToF32, KIND_CODE, RecordStore } from './record-store.js';
import type { SegmentRow } from './rows.js';
import { annParamsOf, type IndexPolicy, SegmentBuild } from './segment-build.js';
import { createSegmentDir, SEGMENT_FILES } from './segment-files.js';

export interface SegmentMergerOptions {
  /** Must not exist; created (with missing parents). Deleted again by close() unless sealed. */
  dir: string;
  config: CollectionConfig;
  /** A sealed data segment (format 2): its records are copied, its graph loaded and kept. */
  base: { dir: string; manifest: SegmentManifest };
  /** Index policy when the base has no reusable index (the merged rows are then indexed at seal). */
  buildIndex: IndexPolicy;
  threads?: number;
  producer?: string;
}

/**
 * Builds a data segment from a base data segment's files — the largest input of a merge — so the base's
 * HNSW graph is kept instead of rebuilt: the base's records.sqlite is copied (a reflink where the
 * filesystem has them), its index loaded into RAM, then superseded rows are removed by key and the other
 * inputs' rows added under new keys (max + 1 …). Kept rows keep their keys, so a deletion vector written
 * against the base still names the same rows here. The LtHash follows along: base − removed + added.
 */
export class SegmentMerger extends SegmentBuild {
  readonly #lthash: LtHash;
  /** The base had no usable index: index every put at seal (if the policy wants one). */
  #indexAtSeal = false;

  private constructor(opts: SegmentMergerOptions, lthash: LtHash) {
    super({
      dir: opts.dir,
      kind: 'data',
      config: opts.config,
      index: opts.buildIndex,
      threads: opts.threads,
      producer: opts.producer,
    });
    this.#lthash = lthash;
  }

  static async create(opts: SegmentMergerOptions): Promise<SegmentMerger> {
    const { config, base } = opts;
    const m = base.manifest;
    const ctx = { segment: opts.dir, base: base.dir };
    if (m.kind !== 'data' || m.lthash === undefined || m.maxKey === undefined) {
      throw new StrataError(
        ErrorCodes.INTERNAL,
        `a merge builds on a data segment, not a ${m.kind} segment`,
        ctx,
      );
    }
    if (m.dimension !== config.dimension || m.metric !== config.metric) {
      throw new StrataError(
        ErrorCodes.INTERNAL,
        `base segment is ${m.dimension}-d ${m.metric}, the collection ${config.dimension}-d ${config.metric}`,
        ctx,
      );
    }
    await createSegmentDir(opts.dir);
    const w = new SegmentMerger(opts, LtHash.decode(m.lthash, m.counts.records));
    try {
      await w.#open(base);
    } catch (e) {
      await w.close();
      throw e;
    }
    return w;
  }

  async #open(base: { dir: string; manifest: SegmentManifest }): Promise<void> {
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
    await copyFile(src, dst, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
    this.store = RecordStore.openForUpdate(dst);
    const counts = this.store.countsByKind();
    if (counts.records !== m.counts.records || counts.tombstones !== 0 || counts.patches !== 0) {
      throw new VerificationError(
        `base holds ${counts.records} puts, its manifest says ${m.counts.records}`,
        {
          ...ctx,
          file: src,
        },
      );
    }
    this.counts = counts;
    this.maxKey = Math.max(m.maxKey ?? 0, this.store.maxKey());
    this.store.begin();
    if (!this.mayIndex) return;

    const c = this.config;
    const reusable =
      m.index !== null &&
      m.files.some((f) => f.role === 'index') &&
      m.quantization === c.quantization &&
      m.index.connectivity === c.connectivity &&
      m.index.expansionAdd === c.expansionAdd;
    if (!reusable) {
      this.#indexAtSeal = true;
      return;
    }
    // Loaded into RAM straight from the base (the file is closed on return); saved into this directory
    // at seal.
    this.ann = AnnIndex.load(join(base.dir, SEGMENT_FILES.index), annParamsOf(c));
    if (this.ann.size !== counts.records) {
      throw new VerificationError(
        `base index holds ${this.ann.size} vectors, its store ${counts.records} puts`,
        {
          ...ctx,
          file: join(base.dir, SEGMENT_FILES.index),
        },
      );
    }
  }

  /** Removes a base row (superseded, or deleted) by key, with its index entry. */
  remove(key: number): void {
    const store = this.writable('remove');
    const row = store.rowByKey(key);
    if (row?.kind !== 'put') {
      throw new StrataError(ErrorCodes.INTERNAL, `key ${key} is not a put of the base`, {
        segment: this.dir,
      });
    }
    store.deleteKey(key);
    this.count(KIND_CODE.put, -1);
    this.#lthash.remove({
      id: row.id,
      embedding: row.embedding,
      document: row.document ?? null,
      metadata: (row.metadata as Metadata | null | undefined) ?? null,
    });
    if (!this.#indexAtSeal && !this.unindex(key)) {
      throw new StrataError(ErrorCodes.INTERNAL, `index lacks key ${key} of a put`, { segment: this.dir });
    }
  }

  /** Adds a put under the next key; returns that key. */
  add(row: SegmentRow): number {
    const store = this.writable('add');
    this.check(row);
    if (row.kind !== 'put')
      throw new StrataError(ErrorCodes.INTERNAL, 'a merge adds puts only', { segment: this.dir });
    const key = this.maxKey + 1;
    store.insert(key, row);
    this.maxKey = key;
    this.count(KIND_CODE.put, 1);
    this.#lthash.add({
      id: row.id,
      embedding: row.embedding,
      document: row.document ?? null,
      metadata: (row.metadata as Metadata | null | undefined) ?? null,
    });
    if (!this.#indexAtSeal) this.queue(key, row.embedding!);
    return key;
  }

  protected finishWrites(store: RecordStore): void {
    if (!this.#indexAtSeal) return;
    for (const [key, blob] of store.iteratePutVectors()) if (blob) this.queue(key, blobToF32(blob));
  }

  protected expectation() {
    return { lthash: this.#lthash };
  }
}
