/**
 * One version as the query server serves it: references on its segments (shared through the pool), their
 * deletion masks, the version view the query layer searches, and a reference count. The server holds one
 * reference while the version is current; every query holds one while it runs. retire() drops the
 * server's reference, so its segment references are released when the last in-flight query finishes —
 * never under a running query.
 */
import { ClosedError } from '../core/errors.js';
import type { VersionManifest } from '../core/version-manifest.js';
import type { Pointer } from '../pipeline/pointer.js';
import type { VersionView } from '../query/index.js';
import type { PooledSegment } from './segment-pool.js';

export class ServedSnapshot {
  readonly collection: string;
  readonly pointer: Pointer;
  readonly manifest: VersionManifest;
  readonly segments: readonly PooledSegment[];
  readonly view: VersionView;
  /** How long the swap took: version manifest, new segments opened and verified, masks built. */
  readonly openMs: number;
  #refs = 1;
  #isClosed = false;
  readonly #closed: Promise<void>;
  #onClosed: () => void = () => {};

  constructor(
    collection: string,
    pointer: Pointer,
    manifest: VersionManifest,
    segments: PooledSegment[],
    view: VersionView,
    openMs: number,
  ) {
    this.collection = collection;
    this.pointer = pointer;
    this.manifest = manifest;
    this.segments = segments;
    this.view = view;
    this.openMs = openMs;
    this.#closed = new Promise<void>((resolve) => {
      this.#onClosed = resolve;
    });
  }

  get version(): number {
    return this.pointer.version;
  }

  /** True once the last reference was released. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** A reference for one query; pair with release(). */
  acquire(): this {
    if (this.#refs <= 0)
      throw new ClosedError('served version', { collection: this.collection, snapshot: this.version });
    this.#refs++;
    return this;
  }

  release(): void {
    if (this.#refs <= 0) return;
    this.#refs--;
    if (this.#refs > 0) return;
    this.#isClosed = true;
    try {
      for (const s of this.segments) s.release();
    } finally {
      this.#onClosed();
    }
  }

  /** Drops the server's reference: the segments are released when the last in-flight query releases it. */
  retire(): void {
    this.release();
  }

  /** Resolves once the last reference was released. */
  closed(): Promise<void> {
    return this.#closed;
  }
}
