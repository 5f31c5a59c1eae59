/**
 * One opened snapshot as the query server serves it: the verified segment (index memory-mapped), its
 * in-memory view, and a reference count. The server holds one reference while the snapshot is current;
 * every query holds one while it runs. retire() drops the server's reference, so the files are closed
 * when the last in-flight query releases — never under a running query.
 */
import { performance } from 'node:perf_hooks';
import { ClosedError } from '../core/errors.js';
import type { Pointer } from '../pipeline/pointer.js';
import type { OpenedSegment } from '../pipeline/segments.js';
import { SnapshotView, type ViewOptions } from '../query/snapshot-view.js';

export class ServedSnapshot {
  readonly collection: string;
  readonly pointer: Pointer;
  readonly segment: OpenedSegment;
  readonly view: SnapshotView;
  /** How long opening (verification included) and building the view took. */
  readonly openMs: number;
  #refs = 1;
  #isClosed = false;
  readonly #closed: Promise<void>;
  #onClosed: () => void = () => {};

  private constructor(
    collection: string,
    pointer: Pointer,
    segment: OpenedSegment,
    view: SnapshotView,
    openMs: number,
  ) {
    this.collection = collection;
    this.pointer = pointer;
    this.segment = segment;
    this.view = view;
    this.openMs = openMs;
    this.#closed = new Promise<void>((resolve) => {
      this.#onClosed = resolve;
    });
  }

  /** Takes ownership of an opened segment; closes it if the view cannot be built. */
  static async create(
    collection: string,
    pointer: Pointer,
    segment: OpenedSegment,
    startedAt: number,
    opts: ViewOptions = {},
  ): Promise<ServedSnapshot> {
    try {
      const view = SnapshotView.build(segment.reader, opts);
      return new ServedSnapshot(collection, pointer, segment, view, performance.now() - startedAt);
    } catch (e) {
      await segment.close();
      throw e;
    }
  }

  get version(): number {
    return this.pointer.version;
  }

  /** True once the last reference was released (the segment is closing or closed). */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** A reference for one query; pair with release(). */
  acquire(): this {
    if (this.#refs <= 0)
      throw new ClosedError('served snapshot', { collection: this.collection, snapshot: this.version });
    this.#refs++;
    return this;
  }

  release(): void {
    if (this.#refs <= 0) return;
    this.#refs--;
    if (this.#refs > 0) return;
    this.#isClosed = true;
    // A close error must not leave waiters hanging.
    try {
      this.view.close();
    } finally {
      void this.segment.close().then(this.#onClosed, this.#onClosed);
    }
  }

  /** Drops the server's reference: the segment closes when the last in-flight query releases it. */
  retire(): void {
    this.release();
  }

  /** Resolves once the segment has been closed (after the last reference was released). */
  closed(): Promise<void> {
    return this.#closed;
  }
}
