/**
 * The versions the server serves, one per collection, and the hot swap: when a collection's pointer
 * moves, the new version is resolved (pointer → version manifest hash → every listed segment's address),
 * the segments it adds are opened and verified (file checksums) and their views built, the deletion
 * vectors read and checked, all while the old version keeps serving; then the current reference is
 * replaced in one synchronous step and the old version retired (its segment references released once its
 * in-flight queries finish). Segments both versions list are shared, never reopened: a swap costs what the
 * publish changed. A version that fails to open is never swapped in: the old one stays current and the
 * failure is reported.
 */
import { performance } from 'node:perf_hooks';
import type { DeletionVector } from '../core/deletion-vector.js';
import { type StrataError, toStrataError } from '../core/errors.js';
import type { OpenOptions } from '../engine/index.js';
import { baseRefOf, readPointer } from '../pipeline/pointer.js';
import { readDeletionVector, readVersion } from '../pipeline/versions.js';
import { segmentPart, VectorBudget, VersionView } from '../query/index.js';
import type { ObjectStore } from '../store/index.js';
import { type PooledSegment, SegmentPool } from './segment-pool.js';
import { ServedSnapshot } from './served-snapshot.js';
import type { Tails } from './tails.js';

export interface SwapEvent {
  collection: string;
  from: number | null;
  to: number | null;
  /** Resolve + open and verify what is new + views and masks (0 when a collection lost its version). */
  openMs: number;
  /** Segments the new version lists, and how many of them had to be opened. */
  segments?: number;
  opened?: number;
}

export interface SnapshotSetOptions {
  verify?: OpenOptions['verify'];
  /** Bytes of f32 vectors kept in memory across every served segment (default 1 GiB). */
  vectorBudgetBytes?: number;
  onSwap?: (e: SwapEvent) => void;
  /** Read-your-writes: the tails of acknowledged writes, rebased in the same step as each swap. */
  tails?: Tails;
  onError?: (collection: string, e: StrataError) => void;
}

export class SnapshotSet {
  readonly #store: ObjectStore;
  readonly #opts: SnapshotSetOptions;
  readonly #current = new Map<string, ServedSnapshot>();
  /** Collections being served (also those without a snapshot yet), so the watcher refreshes them. */
  readonly #tracked = new Set<string>();
  /** Collections loaded once (with or without a version): later reads do not refresh them. */
  readonly #loaded = new Set<string>();
  readonly #inflight = new Map<string, Promise<ServedSnapshot | undefined>>();
  readonly #retired = new Set<ServedSnapshot>();
  readonly #pool: SegmentPool;
  /** Deletion vectors by content address (immutable), kept while a served version lists them. */
  readonly #dvs = new Map<string, DeletionVector>();
  #closed = false;
  swaps = 0;

  constructor(store: ObjectStore, opts: SnapshotSetOptions = {}) {
    this.#store = store;
    this.#opts = opts;
    this.#pool = new SegmentPool(
      store,
      new VectorBudget(opts.vectorBudgetBytes ?? 1 << 30),
      opts.verify ?? 'checksums',
    );
  }

  /** Segments open now (shared between the versions served and still draining). */
  get openSegments(): number {
    return this.#pool.size;
  }

  /**
   * What a read of the collection sees right now: the current version with the tail of acknowledged writes
   * on top, and a reference on the version for the read's duration (release it). Version and tail are taken
   * in one synchronous step, so a read never straddles a swap.
   */
  async acquireView(collection: string): Promise<{
    view: VersionView | undefined;
    version: number | null;
    release: () => void;
    /** Another reference on the same version (for work that outlives the read), and its release. */
    retain: () => () => void;
  }> {
    await this.get(collection);
    const snap = this.#current.get(collection)?.acquire();
    const view = this.#opts.tails ? this.#opts.tails.view(collection, snap) : snap?.view;
    return {
      view,
      version: snap?.version ?? null,
      release: () => snap?.release(),
      retain: () => {
        const again = snap?.acquire();
        return () => again?.release();
      },
    };
  }

  /** The snapshot now current for a collection, if it has been loaded. */
  current(collection: string): ServedSnapshot | undefined {
    return this.#current.get(collection);
  }

  collections(): string[] {
    return [...this.#tracked].sort();
  }

  /** The current snapshot, loading it (and the collection's tail) on first use. */
  async get(collection: string): Promise<ServedSnapshot | undefined> {
    const cur = this.#current.get(collection);
    if (cur !== undefined || this.#loaded.has(collection)) return cur;
    const r = await this.refresh(collection);
    this.#loaded.add(collection);
    return r;
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
    const tails = this.#opts.tails;
    // the tail first (from the store's pending deltas), then the pointer: a version read after it can only
    // contain more of what the tail holds, never less
    await tails?.ensure(collection);
    const cur = this.#current.get(collection);
    const p = await readPointer(this.#store, collection);
    if (!p) {
      if (cur) this.#swap(collection, undefined, 0, (await tails?.quarantinedFor(collection)) ?? new Map());
      await tails?.catchUp(collection);
      return undefined;
    }
    if (
      cur &&
      cur.pointer.manifestSha256 === p.value.manifestSha256 &&
      cur.pointer.version === p.value.version
    ) {
      await tails?.catchUp(collection);
      return cur;
    }
    const next = await this.#open(collection, p.value);
    const quarantined = (await tails?.quarantinedFor(collection)) ?? new Map<number, string | undefined>();
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
    this.#swap(collection, next, next.openMs, quarantined);
    return next;
  }

  async #open(collection: string, pointer: ServedSnapshot['pointer']): Promise<ServedSnapshot> {
    const t0 = performance.now();
    const { manifest } = await readVersion(this.#store, baseRefOf({ value: pointer, etag: '' })!, collection);
    const held: PooledSegment[] = [];
    let opened = 0;
    try {
      const dvs: DeletionVector[] = [];
      for (const entry of manifest.segments) {
        const before = this.#pool.size;
        const seg = await this.#pool.acquire(entry);
        held.push(seg);
        if (this.#pool.size > before) opened++;
        let dv = entry.dv ? this.#dvs.get(entry.dv.sha256) : undefined;
        if (!dv) {
          const e = entry.maxKey > 0 ? entry : { ...entry, maxKey: seg.segment.reader.maxKey }; // format 1: unrecorded
          dv = await readDeletionVector(this.#store, collection, e);
          if (entry.dv) this.#dvs.set(entry.dv.sha256, dv);
        }
        dvs.push(dv);
      }
      const view = new VersionView(
        held.map((s, i) => segmentPart(s.view, dvs[i]!.keys)),
        manifest.metric,
        manifest.dimension,
      );
      const served = new ServedSnapshot(collection, pointer, manifest, held, view, performance.now() - t0);
      this.#lastOpened = { segments: held.length, opened };
      return served;
    } catch (e) {
      for (const s of held) s.release();
      throw e;
    }
  }

  #lastOpened = { segments: 0, opened: 0 };

  #swap(
    collection: string,
    next: ServedSnapshot | undefined,
    openMs: number,
    quarantined: Map<number, string | undefined> = new Map(),
  ): void {
    const old = this.#current.get(collection);
    if (next) this.#current.set(collection, next);
    else this.#current.delete(collection);
    // in the same synchronous step: what the new version contains leaves the tail
    this.#opts.tails?.rebase(collection, next, quarantined);
    this.swaps++;
    this.#opts.onSwap?.({
      collection,
      from: old?.version ?? null,
      to: next?.version ?? null,
      openMs,
      ...(next ? this.#lastOpened : {}),
    });
    if (old) this.#retire(old);
    this.#pruneDvs();
  }

  #retire(s: ServedSnapshot): void {
    this.#retired.add(s);
    s.retire();
    void s.closed().finally(() => this.#retired.delete(s));
  }

  /** Stops serving a collection (deleted): its snapshot closes once in-flight queries finish. */
  drop(collection: string): void {
    this.#tracked.delete(collection);
    this.#loaded.delete(collection);
    this.#opts.tails?.drop(collection);
    const cur = this.#current.get(collection);
    this.#current.delete(collection);
    if (cur) this.#retire(cur);
  }

  /** Forgets deletion vectors no served or draining version lists. */
  #pruneDvs(): void {
    const listed = new Set<string>();
    for (const v of [...this.#current.values(), ...this.#retired]) {
      for (const s of v.manifest.segments) if (s.dv) listed.add(s.dv.sha256);
    }
    for (const k of this.#dvs.keys()) if (!listed.has(k)) this.#dvs.delete(k);
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
    await this.#pool.drain();
    this.#opts.tails?.close();
  }
}
