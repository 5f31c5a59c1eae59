/**
 * The segments the query server has open, each once, shared by every served version that lists it: a
 * swap to a version that adds one small segment opens (and verifies) only that one. Reference counted:
 * each served version holds one reference per segment it lists; the last release closes the segment and
 * returns its vectors' memory to the budget. Concurrent opens of one segment share one open.
 */
import type { VersionSegment } from '../core/version-manifest.js';
import type { OpenOptions } from '../engine/index.js';
import { type OpenedSegment, openStoredSegment } from '../pipeline/segments.js';
import { SegmentView, type VectorBudget } from '../query/index.js';
import type { ObjectStore } from '../store/index.js';

export class PooledSegment {
  #refs = 1;
  constructor(
    readonly id: string,
    readonly segment: OpenedSegment,
    readonly view: SegmentView,
    readonly openMs: number,
    private readonly onClose: (s: PooledSegment) => void,
  ) {}

  get refs(): number {
    return this.#refs;
  }

  retain(): this {
    this.#refs++;
    return this;
  }

  release(): void {
    if (this.#refs <= 0) return;
    if (--this.#refs > 0) return;
    this.view.release();
    this.onClose(this);
  }
}

export class SegmentPool {
  readonly #store: ObjectStore;
  readonly #open = new Map<string, PooledSegment>();
  readonly #opening = new Map<string, Promise<PooledSegment>>();
  readonly #closing = new Set<Promise<void>>();
  readonly #verify: OpenOptions['verify'];
  readonly #budget: VectorBudget;

  constructor(store: ObjectStore, budget: VectorBudget, verify: OpenOptions['verify'] = 'checksums') {
    this.#store = store;
    this.#budget = budget;
    this.#verify = verify;
  }

  /** Segments open now. */
  get size(): number {
    return this.#open.size;
  }

  /** A reference on the segment of this version entry, opening it if no version holds it yet. */
  async acquire(entry: VersionSegment): Promise<PooledSegment> {
    const id = entry.manifestSha256;
    const open = this.#open.get(id);
    if (open) return open.retain();
    const pending = this.#opening.get(id);
    if (pending) return (await pending).retain();
    const p = (async () => {
      const t0 = performance.now();
      const segment = await openStoredSegment(this.#store, entry.prefix, id, { verify: this.#verify });
      try {
        const view = SegmentView.build(segment.reader, { budget: this.#budget });
        const pooled = new PooledSegment(id, segment, view, performance.now() - t0, (s) => this.#closed(s));
        this.#open.set(id, pooled);
        return pooled;
      } catch (e) {
        await segment.close();
        throw e;
      }
    })();
    this.#opening.set(id, p);
    try {
      return await p;
    } finally {
      this.#opening.delete(id);
    }
  }

  #closed(s: PooledSegment): void {
    if (this.#open.get(s.id) === s) this.#open.delete(s.id);
    const c = s.segment.close().catch(() => undefined);
    this.#closing.add(c);
    void c.finally(() => this.#closing.delete(c));
  }

  /** Waits for segments being opened or closed (the server's close, after every version released). */
  async drain(): Promise<void> {
    await Promise.allSettled(this.#opening.values());
    await Promise.all(this.#closing);
  }
}
