import { join } from 'node:path';
import { ErrorCodes, StrataError } from '../core/errors.js';
import { ContentHasher } from '../core/hash.js';
import { LtHash } from '../core/lthash.js';
import type { SegmentKind } from '../core/manifest.js';
import type { CollectionConfig, Metadata } from '../core/types.js';
import { compareIds } from './ids.js';
import { KIND_CODE, pageSizeFor, RecordStore } from './record-store.js';
import type { SegmentRow } from './rows.js';
import { type IndexPolicy, type SealInfo, SegmentBuild } from './segment-build.js';
import { createSegmentDir, SEGMENT_FILES } from './segment-files.js';
import { hashSegmentRow } from './verify.js';

export type { IndexPolicy, SealInfo };
export { SEGMENT_FILES };

export interface SegmentWriterOptions {
  /** Must not exist; created (with missing parents). Deleted again by close() unless sealed. */
  dir: string;
  kind: SegmentKind;
  config: CollectionConfig;
  /** ANN index over the puts: always, never, or from `minRows` puts on (data segments). */
  buildIndex: IndexPolicy;
  /** Native threads for index construction; default os.availableParallelism(). */
  threads?: number;
  producer?: string;
}

/**
 * Writes one fresh segment into a private directory from rows in strictly ascending id order (keys
 * 1..N); seal() closes, fsyncs, reopens read-only, verifies and only then writes manifest.json. Owns
 * exactly one record store and at most one ANN index; close() releases both (idempotent) and deletes
 * the directory unless sealed.
 */
export class SegmentWriter extends SegmentBuild {
  /** Intermediate segments: the hash of what was appended, compared with the hash recomputed from disk. */
  readonly #hasher: ContentHasher | null;
  /** Data segments: the LtHash of what was appended. */
  readonly #lthash: LtHash | null;
  #lastId: string | null = null;

  private constructor(opts: SegmentWriterOptions) {
    super({ ...opts, index: opts.buildIndex });
    const data = opts.kind === 'data';
    this.#hasher = data ? null : new ContentHasher();
    this.#lthash = data ? new LtHash() : null;
  }

  static async create(opts: SegmentWriterOptions): Promise<SegmentWriter> {
    const { config } = opts;
    if (!Number.isInteger(config.dimension) || config.dimension <= 0) {
      throw new StrataError(ErrorCodes.INTERNAL, `invalid dimension ${config.dimension}`, {
        segment: opts.dir,
      });
    }
    if (opts.kind === 'snapshot') {
      throw new StrataError(
        ErrorCodes.INTERNAL,
        'format 1 snapshots are read, never written; write a data segment',
        {
          segment: opts.dir,
        },
      );
    }
    await createSegmentDir(opts.dir);
    const w = new SegmentWriter(opts);
    try {
      w.store = RecordStore.create(join(opts.dir, SEGMENT_FILES.records), pageSizeFor(config.dimension));
      w.store.begin();
    } catch (e) {
      await w.close();
      throw e;
    }
    return w;
  }

  /** The next row, in strictly ascending compareIds order. */
  append(row: SegmentRow): void {
    const store = this.writable('append');
    this.check(row);
    if (this.#lastId !== null && compareIds(this.#lastId, row.id) >= 0) {
      throw new StrataError(
        ErrorCodes.INTERNAL,
        `rows out of order: ${JSON.stringify(row.id)} after ${JSON.stringify(this.#lastId)}`,
        { segment: this.dir, id: row.id },
      );
    }
    const key = this.maxKey + 1;
    store.insert(key, row);
    this.maxKey = key;
    this.#lastId = row.id;
    if (this.#hasher) hashSegmentRow(this.#hasher, row);
    this.#lthash?.add({
      id: row.id,
      embedding: row.embedding,
      document: row.document ?? null,
      metadata: (row.metadata as Metadata | null | undefined) ?? null,
    });
    this.count(KIND_CODE[row.kind], 1);
    if (row.kind === 'put') this.queue(key, row.embedding!);
  }

  protected finishWrites(): void {}

  protected expectation() {
    return this.#hasher ? { contentHash: this.#hasher.digest() } : { lthash: this.#lthash! };
  }
}
