/**
 * The snapshots the server serves, one per collection, and the hot swap: when a collection's pointer
 * moves, the new snapshot is opened and verified (pointer → manifest hash → file checksums) and its view
 * built while the old one keeps serving; then the current reference is replaced in one synchronous step
 * and the old snapshot retired (closed once its in-flight queries release it). A snapshot that fails to
 * open is never swapped in: the old one stays current and the failure is reported.
 */
import { performance } from 'node:perf_hooks';
import { type StrataError, toStrataError } from '../core/errors.js';
import type { OpenOptions } from '../engine/index.js';
import { readPointer } from '../pipeline/pointer.js';
import { openStoredSegment } from '../pipeline/segments.js';
import type { ViewOptions } from '../query/snapshot-view.js';
import type { ObjectStore } from '../store/object-store.js';
import { ServedSnapshot } from './served-snapshot.js';

export interface SwapEvent {
  collection: string;
  from: number | null;
  to: number | null;
  /** Open + verify + view build of the new snapshot (0 when a collection lost its snapshot). */
  openMs: number;
}

export interface SnapshotSetOptions {
  verify?: OpenOptions['verify'];
  view?: ViewOptions;
  onSwap?: (e: SwapEvent) => void;
  onError?: (collection: string, e: StrataError) => void;
}

export class SnapshotSet {
  readonly #store: ObjectStore;
  readonly #opts: SnapshotSetOptions;
  readonly #current = new Map<string, ServedSnapshot>();
  /** Collections being served (also those without a snapshot yet), so the watcher refreshes them. */
  readonly #tracked = new Set<string>();
  readonly #inflight = new Map<string, Promise<ServedSnapshot | undefined>>();
  readonly #retired = new Set<ServedSnapshot>();
  #closed = false;
  swaps = 0;

  constructor(store: ObjectStore, opts: SnapshotSetOptions = {}) {
    this.#store = store;
    this.#opts = opts;
  }

  /** The snapshot now current for a collection, if it has been loaded. */
  current(collection: string): ServedSnapshot | undefined {
    return this.#current.get(collection);
  }

  collections(): string[] {
    return [...this.#tracked].sort();
  }

  /** The current snapshot, loading it on first use. */
  async get(collection: string): Promise<ServedSnapshot | undefined> {
    const cur = this.#current.get(collection);
    if (cur !== undefined) return cur;
    return this.refresh(collection);
  }

  /** Re-reads the pointer and swaps in a new snapshot if it moved. Concurrent calls share one refresh. */
  refresh(collection: string): Promise<ServedSnapshot | undefined> {
    const running = this.#inflight.get(collection);
    if (running) return running;
    this.#tracked.add(collection);
    const p = this.#refresh(collection).finally(() => this.#inflight.delete(collection));
    this.#inflight.set(collection, p);
    return p;
  }

  async refreshAll(): Promise<void> {
    await Promise.all(
      [...this.#tracked].map((c) =>
        this.refresh(c).catch((e: unknown) => this.#opts.onError?.(c, toStrataError(e, { collection: c }))),
      ),
    );
  }

  async #refresh(collection: string): Promise<ServedSnapshot | undefined> {
    const cur = this.#current.get(collection);
    const p = await readPointer(this.#store, collection);
    if (!p) {
      if (cur) this.#swap(collection, undefined, 0);
      return undefined;
    }
    if (
      cur &&
      cur.pointer.manifestSha256 === p.value.manifestSha256 &&
      cur.pointer.snapshot === p.value.snapshot
    ) {
      return cur;
    }
    const t0 = performance.now();
    const segment = await openStoredSegment(this.#store, p.value.snapshot, p.value.manifestSha256, {
      verify: this.#opts.verify ?? 'checksums',
    });
    const next = await ServedSnapshot.create(collection, p.value, segment, t0, this.#opts.view);
    if (this.#closed) {
      next.retire();
      await next.closed();
      return undefined;
    }
    // A refresh that raced with a newer one must not go backwards.
    const now = this.#current.get(collection);
    if (now && now.version > next.version) {
      next.retire();
      return now;
    }
    this.#swap(collection, next, next.openMs);
    return next;
  }

  #swap(collection: string, next: ServedSnapshot | undefined, openMs: number): void {
    const old = this.#current.get(collection);
    if (next) this.#current.set(collection, next);
    else this.#current.delete(collection);
    this.swaps++;
    this.#opts.onSwap?.({ collection, from: old?.version ?? null, to: next?.version ?? null, openMs });
    if (old) this.#retire(old);
  }

  #retire(s: ServedSnapshot): void {
    this.#retired.add(s);
    s.retire();
    void s.closed().finally(() => this.#retired.delete(s));
  }

  /** Stops serving a collection (deleted): its snapshot closes once in-flight queries finish. */
  drop(collection: string): void {
    this.#tracked.delete(collection);
    const cur = this.#current.get(collection);
    this.#current.delete(collection);
    if (cur) this.#retire(cur);
  }

  /** Retired snapshots still held by in-flight queries. */
  get draining(): number {
    return this.#retired.size;
  }

  /** Retires every snapshot and waits until all are closed (in-flight queries finish first). */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled(this.#inflight.values());
    for (const c of [...this.#current.keys()]) this.drop(c);
    await Promise.all([...this.#retired].map((s) => s.closed()));
  }
}
