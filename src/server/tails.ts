/**
 * The query server's tails, one per served collection (see tail.ts): created on first use from the store's
 * pending deltas, fed each delta the server acknowledges before its answer goes out, caught up with other
 * producers' deltas on every refresh, and rebased whenever a new version is swapped in. Also the bound:
 * past `limits` writes are refused with E_BACKPRESSURE (HTTP 429 with Retry-After) until compaction catches
 * up.
 */
import { ErrorCodes, StrataError } from '../core/errors.js';
import { sha256Hex } from '../core/hash.js';
import type { PromotedRange } from '../core/manifest.js';
import type { Operation } from '../core/types.js';
import { decodeDelta } from '../ingest/index.js';
import { findCollection } from '../pipeline/collections.js';
import type { DeltaDescriptor } from '../pipeline/deltas.js';
import { listQuarantine, readLedger } from '../pipeline/ledger.js';
import { promotableDeltas } from '../pipeline/promotable.js';
import { readCounter } from '../pipeline/sequence.js';
import { VersionView } from '../query/index.js';
import type { ObjectStore } from '../store/index.js';
import type { ServedSnapshot } from './served-snapshot.js';
import { CollectionTail, DEFAULT_TAIL_LIMITS, type TailLimits } from './tail.js';

/** The base of a tail whose collection has no published version yet. */
const NO_VERSION = Symbol('no version');

export interface TailsOptions {
  limits?: Partial<TailLimits>;
  /** Pick up deltas other producers (another server, `strata ingest`) wrote, on each refresh (default true). */
  followStore?: boolean;
  /** A delta the tail held was quarantined by compaction. */
  onQuarantined?: (collection: string, seqStart: number, code: string | undefined) => void;
}

interface Entry {
  tail: CollectionTail;
  /** Promoted (or rolled back) ranges of the version the tail is on. */
  landed: PromotedRange[];
  dimension: number;
  metric: VersionView['metric'];
}

export class Tails {
  readonly #store: ObjectStore;
  readonly #limits: TailLimits;
  readonly #opts: TailsOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #loading = new Map<string, Promise<Entry | undefined>>();

  constructor(store: ObjectStore, opts: TailsOptions = {}) {
    this.#store = store;
    this.#limits = { ...DEFAULT_TAIL_LIMITS, ...opts.limits };
    this.#opts = opts;
  }

  get limits(): TailLimits {
    return this.#limits;
  }

  get(collection: string): CollectionTail | undefined {
    return this.#entries.get(collection)?.tail;
  }

  collections(): string[] {
    return [...this.#entries.keys()];
  }

  /**
   * The collection's tail, created on first use: every accepted delta the current version does not contain
   * (and compaction did not refuse) is loaded, so acknowledged writes are visible before the first read.
   */
  ensure(collection: string): Promise<Entry | undefined> {
    const have = this.#entries.get(collection);
    if (have) return Promise.resolve(have);
    let p = this.#loading.get(collection);
    if (!p) {
      p = this.#load(collection).finally(() => this.#loading.delete(collection));
      this.#loading.set(collection, p);
    }
    return p;
  }

  async #load(collection: string): Promise<Entry | undefined> {
    const config = await findCollection(this.#store, collection);
    if (!config) return undefined;
    const tail = new CollectionTail(config);
    const entry: Entry = { tail, landed: [], dimension: config.dimension, metric: config.metric };
    tail.rebase(new VersionView([], config.metric, config.dimension), NO_VERSION, [], new Set());
    await this.#addPending(collection, entry);
    this.#entries.set(collection, entry);
    return entry;
  }

  /**
   * Loads the accepted deltas no version contains, in sequence order as compaction will apply them: up to a
   * reservation still being written (another producer's delta in flight), never past it — so what a read
   * shows of other producers' writes is always a prefix of the sequence, never a later delta without an
   * earlier one. (This server's own writes are added when acknowledged, whatever precedes them.)
   */
  async #addPending(collection: string, entry: Entry): Promise<void> {
    const ledger = await readLedger(this.#store, collection);
    const m = ledger.manifest;
    entry.landed = [
      ...(m?.promoted ?? []),
      ...(m?.rolledBack ?? []).map((r) => [r[0], r[1], r[3]] as PromotedRange),
    ];
    const { deltas } = await promotableDeltas(this.#store, ledger, {});
    for (const d of deltas) {
      if (entry.tail.has(d.seqStart)) continue;
      let ops: Operation[];
      try {
        const bytes = await this.#store.get(d.key);
        if (sha256Hex(bytes) !== d.sha256) continue; // compaction will quarantine it
        ops = decodeDelta(bytes, { collection, dimension: entry.dimension, metric: entry.metric }).ops;
      } catch {
        continue; // unreadable or invalid: compaction quarantines it with its code
      }
      entry.tail.addDelta(
        { ...d, acceptedAt: ledger.entries.find((e) => e.seqStart === d.seqStart)?.acceptedAt },
        ops,
      );
    }
  }

  /** Other producers' deltas: picked up when the sequence counter moved past what the tail has seen. */
  async catchUp(collection: string): Promise<void> {
    if (this.#opts.followStore === false) return;
    const entry = this.#entries.get(collection);
    if (!entry) return;
    const known = Math.max(entry.tail.highWater, ...entry.landed.map((r) => r[1]), 0);
    const counter = await readCounter(this.#store, collection);
    if (counter.next - 1 <= known) return;
    await this.#addPending(collection, entry);
  }

  /** Refuses operations the tail cannot take now (429 with Retry-After at the HTTP layer). */
  admit(collection: string, ops: readonly Operation[]): void {
    const tail = this.get(collection);
    if (!tail || tail.admits(ops, this.#limits)) return;
    throw new StrataError(
      ErrorCodes.BACKPRESSURE,
      `${collection} holds ${tail.records} unpublished records (${Math.round(tail.bytes / 2 ** 20)} MiB; limits ${this.#limits.maxRecords} records, ${Math.round(this.#limits.maxBytes / 2 ** 20)} MiB); retry once compaction has caught up`,
      { collection, retryAfterSeconds: 1 },
    );
  }

  /** A delta the server just accepted (durably): visible to the next read. */
  acknowledge(collection: string, d: DeltaDescriptor, ops: readonly Operation[]): void {
    this.get(collection)?.addDelta(d, ops);
  }

  /** Quarantine markers, read before a rebase (only when the tail holds something). */
  async quarantinedFor(collection: string): Promise<Map<number, string | undefined>> {
    const tail = this.get(collection);
    if (!tail || tail.deltas === 0) return new Map();
    const q = await listQuarantine(this.#store, collection);
    return new Map([...q].map(([seq, r]) => [seq, r.error.code]));
  }

  /** Synchronous, in the step that swaps the served version: what the version contains leaves the tail. */
  rebase(
    collection: string,
    served: ServedSnapshot | undefined,
    quarantined: Map<number, string | undefined>,
  ): void {
    const entry = this.#entries.get(collection);
    if (!entry) return;
    const m = served?.manifest;
    entry.landed = [
      ...(m?.promoted ?? []),
      ...(m?.rolledBack ?? []).map((r) => [r[0], r[1], r[3]] as PromotedRange),
    ];
    const left = entry.tail.rebase(
      served?.view ?? new VersionView([], entry.metric, entry.dimension),
      served ?? NO_VERSION,
      sortRanges(entry.landed),
      new Set(quarantined.keys()),
    );
    for (const seq of left) this.#opts.onQuarantined?.(collection, seq, quarantined.get(seq));
  }

  /** What a read sees: the served version with the tail on top (the version alone without a tail). */
  view(collection: string, served: ServedSnapshot | undefined): VersionView | undefined {
    const entry = this.#entries.get(collection);
    if (entry?.tail.isOn(served ?? NO_VERSION)) return entry.tail.view();
    return served?.view;
  }

  drop(collection: string): void {
    this.#entries.get(collection)?.tail.close();
    this.#entries.delete(collection);
  }

  close(): void {
    for (const c of [...this.#entries.keys()]) this.drop(c);
  }
}

function sortRanges(r: PromotedRange[]): PromotedRange[] {
  // landed ranges (promoted, rolled back) are disjoint; binary searches want them in order
  return [...r].sort((a, b) => a[0] - b[0]);
}
