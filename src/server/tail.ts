/**
 * Read-your-writes: the writes a query server acknowledged (durable deltas) that the served version does
 * not contain yet, held in memory and overlaid on every read. Per id, the tail keeps the operations of its
 * unpublished deltas in sequence order and the record they make of the version's row (a put replaces it, a
 * delete removes it, an update patches it — the same fold compaction applies); the version's row is masked
 * and the tail's record searched in its place (exact, or through the tail's own index when large).
 *
 * When a new version is swapped in, the deltas it contains leave the tail in the same synchronous step
 * (rebase): never a moment where a write is visible twice or not at all. Deltas that compaction quarantined
 * leave it too (counted and logged). The tail is rebuilt from the store's pending deltas when a collection
 * is first served (so a restarted server shows every acknowledged write before it answers a read), and
 * picks up other producers' deltas from the store on each refresh.
 */
import type { PromotedRange } from '../core/manifest.js';
import type { CollectionConfig, Metadata, Operation, SequencedOperation } from '../core/types.js';
import type { SegmentRow } from '../engine/index.js';
import { foldRows, rowFromOp } from '../pipeline/fold.js';
import { promotedVersion } from '../pipeline/ledger.js';
import { type Part, type RowRef, type RowSource, TailRows, VersionView } from '../query/index.js';

export interface TailLimits {
  /** Distinct ids with unpublished writes (default 100,000). */
  maxRecords: number;
  /** Bytes of unpublished writes: vectors, documents, metadata (default 1 GiB). */
  maxBytes: number;
}

export const DEFAULT_TAIL_LIMITS: TailLimits = { maxRecords: 100_000, maxBytes: 1 << 30 };

interface TailDelta {
  seqStart: number;
  seqEnd: number;
  bytes: number;
  acceptedAt: number;
}

interface IdState {
  /** This id's operations from unpublished deltas, in sequence order. */
  ops: SequencedOperation[];
  /** Its live tail row, or -1 (deleted, or an update of an absent record). */
  row: number;
  /** The version row it supersedes (masked while the id is in the tail). */
  masked: RowRef | undefined;
  /** What the row was derived from: rebuilt only when that changes. */
  sig: string;
}

const opBytes = (op: Operation): number =>
  op.id.length * 2 +
  (op.op === 'upsert' ? op.embedding.byteLength : 0) +
  (op.op !== 'delete'
    ? (op.document?.length ?? 0) * 2 + (op.metadata ? JSON.stringify(op.metadata).length : 0)
    : 0);

export class CollectionTail {
  readonly collection: string;
  #rows: TailRows;
  readonly #deltas = new Map<number, TailDelta>();
  readonly #ids = new Map<string, IdState>();
  #base: VersionView | undefined;
  #baseKey: unknown;
  #view: VersionView | undefined;
  #bytes = 0;
  readonly #sourceIds = new WeakMap<object, number>();
  #nextSourceId = 1;
  /** Deltas dropped because compaction quarantined them. */
  quarantined = 0;

  constructor(config: Pick<CollectionConfig, 'name' | 'dimension' | 'metric'>) {
    this.collection = config.name;
    this.#rows = new TailRows(config.dimension, config.metric);
  }

  /** Distinct ids with unpublished writes. */
  get records(): number {
    return this.#ids.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get deltas(): number {
    return this.#deltas.size;
  }

  /** Age of the oldest unpublished delta (0 when empty). */
  oldestAgeMs(now = Date.now()): number {
    let oldest = now;
    for (const d of this.#deltas.values()) oldest = Math.min(oldest, d.acceptedAt);
    return now - oldest;
  }

  /** The highest sequence number the tail has seen. */
  get highWater(): number {
    let hw = 0;
    for (const d of this.#deltas.values()) hw = Math.max(hw, d.seqEnd);
    return hw;
  }

  has(seqStart: number): boolean {
    return this.#deltas.has(seqStart);
  }

  /** Whether operations of this size fit under the limits (new ids and bytes). */
  admits(ops: readonly Operation[], limits: TailLimits): boolean {
    let newIds = 0;
    let bytes = 0;
    const seen = new Set<string>();
    for (const op of ops) {
      bytes += opBytes(op);
      if (!this.#ids.has(op.id) && !seen.has(op.id)) newIds++;
      seen.add(op.id);
    }
    return this.records + newIds <= limits.maxRecords && this.#bytes + bytes <= limits.maxBytes;
  }

  /** Adds an accepted delta's operations (op i has sequence number seqStart + i). Idempotent per delta. */
  addDelta(
    d: { seqStart: number; seqEnd: number; acceptedAt?: string | number },
    ops: readonly Operation[],
  ): void {
    if (this.#deltas.has(d.seqStart)) return;
    let bytes = 0;
    const touched = new Set<string>();
    ops.forEach((op, i) => {
      const seqOp = { ...op, seq: d.seqStart + i } as SequencedOperation;
      bytes += opBytes(op);
      let st = this.#ids.get(op.id);
      if (!st) {
        st = { ops: [], row: -1, masked: undefined, sig: '' };
        this.#ids.set(op.id, st);
      }
      const last = st.ops[st.ops.length - 1];
      if (!last || last.seq < seqOp.seq) st.ops.push(seqOp);
      else {
        // a delta older than one already here (another producer's, read from the store late)
        st.ops.push(seqOp);
        st.ops.sort((a, b) => a.seq - b.seq);
      }
      touched.add(op.id);
    });
    const at = typeof d.acceptedAt === 'string' ? Date.parse(d.acceptedAt) : (d.acceptedAt ?? Date.now());
    this.#deltas.set(d.seqStart, { seqStart: d.seqStart, seqEnd: d.seqEnd, bytes, acceptedAt: at });
    this.#bytes += bytes;
    for (const id of touched) this.#recompute(id);
    this.#view = undefined;
  }

  /**
   * The served version changed: deltas it contains (promoted) or that compaction refused (quarantined) leave
   * the tail, and every remaining record is re-derived on the new version's rows. Synchronous: the caller
   * swaps the served version in the same step. Returns the quarantined deltas that left.
   */
  rebase(
    base: VersionView,
    baseKey: unknown,
    promoted: readonly PromotedRange[],
    quarantined: ReadonlySet<number>,
  ): number[] {
    const gone: number[] = [];
    const left: number[] = [];
    for (const d of this.#deltas.values()) {
      if (quarantined.has(d.seqStart)) left.push(d.seqStart);
      if (
        quarantined.has(d.seqStart) ||
        promotedVersion(promoted as PromotedRange[], d.seqStart) !== undefined
      ) {
        gone.push(d.seqStart);
      }
    }
    const dropped = gone.map((s) => this.#deltas.get(s)!);
    for (const d of dropped) {
      this.#deltas.delete(d.seqStart);
      this.#bytes -= d.bytes;
    }
    this.quarantined += left.length;
    const inDropped = (seq: number) => dropped.some((d) => seq >= d.seqStart && seq <= d.seqEnd);
    this.#base = base;
    this.#baseKey = baseKey;
    for (const [id, st] of this.#ids) {
      if (dropped.length > 0) st.ops = st.ops.filter((op) => !inDropped(op.seq));
      this.#recompute(id);
    }
    this.#compactRows();
    this.#view = undefined;
    return left;
  }

  /** Whether the tail is applied on this version (the key given at rebase). */
  isOn(baseKey: unknown): boolean {
    return this.#baseKey === baseKey;
  }

  /** The served version overlaid with the tail (cached until the next write or rebase). */
  view(): VersionView | undefined {
    const base = this.#base;
    if (!base) return undefined;
    if (this.#ids.size === 0) return base;
    if (this.#view) return this.#view;
    const masked = new Map<number, number[]>();
    for (const st of this.#ids.values()) {
      if (!st.masked) continue;
      const list = masked.get(st.masked.part) ?? [];
      list.push(st.masked.row);
      masked.set(st.masked.part, list);
    }
    const parts: Part[] = base.parts.map((p, i) => {
      const rows = masked.get(i);
      if (!rows) return p;
      const live = p.live ? new Uint8Array(p.live) : new Uint8Array(p.source.size).fill(1);
      let liveCount = p.liveCount;
      for (const r of rows) {
        if (live[r]) {
          live[r] = 0;
          liveCount--;
        }
      }
      return { source: p.source, live, liveCount };
    });
    parts.push({ source: this.#rows, live: this.#rows.liveMask(), liveCount: this.#rows.live });
    this.#view = new VersionView(parts, base.metric, base.dimension);
    return this.#view;
  }

  /** Re-derives one id's tail record from its operations and the base version's row. */
  #recompute(id: string): void {
    const st = this.#ids.get(id)!;
    const base = this.#base;
    if (st.ops.length === 0) {
      if (st.row >= 0) this.#rows.kill(st.row);
      this.#ids.delete(id);
      return;
    }
    const ref = base?.rowOfId(id);
    // a record made by a later upsert or delete does not depend on the version's row
    let from = 0;
    for (let i = st.ops.length - 1; i >= 0; i--) {
      if (st.ops[i]!.op !== 'update') {
        from = i;
        break;
      }
    }
    const dependsOnBase = st.ops[from]!.op === 'update';
    const sig = `${st.ops[st.ops.length - 1]!.seq}:${st.ops.length}:${dependsOnBase && ref ? this.#refKey(base!, ref) : '-'}`;
    st.masked = ref;
    if (st.sig === sig) return;
    st.sig = sig;
    let cur: SegmentRow | undefined = dependsOnBase && ref ? this.#baseRow(base!, ref) : undefined;
    for (let i = from; i < st.ops.length; i++) {
      const row = rowFromOp(st.ops[i]!);
      if (row.kind === 'put') cur = row;
      else if (row.kind === 'tombstone') cur = undefined;
      else if (cur) cur = foldRows(cur, row);
    }
    if (st.row >= 0) this.#rows.kill(st.row);
    st.row = cur
      ? this.#rows.append({
          id,
          embedding: cur.embedding!,
          document: cur.document ?? null,
          metadata: (cur.metadata as Metadata | null | undefined) ?? null,
        })
      : -1;
  }

  #refKey(base: VersionView, ref: RowRef): string {
    const src = base.parts[ref.part]!.source as object;
    let n = this.#sourceIds.get(src);
    if (n === undefined) {
      n = this.#nextSourceId++;
      this.#sourceIds.set(src, n);
    }
    return `${n}/${ref.row}`;
  }

  #baseRow(base: VersionView, ref: RowRef): SegmentRow {
    const src: RowSource = base.parts[ref.part]!.source;
    return {
      id: src.ids[ref.row]!,
      kind: 'put',
      seq: 0,
      embedding: src.gather([ref.row]),
      document: src.documents()[ref.row] ?? null,
      metadata: src.metadata[ref.row] ?? null,
    };
  }

  /** Dead rows pile up as records are superseded or published: start over when they outnumber the live. */
  #compactRows(): void {
    if (this.#rows.dead < Math.max(1024, this.#rows.live)) return;
    const next = new TailRows(this.#rows.dimension, this.#rows.metric);
    for (const st of this.#ids.values()) {
      if (st.row < 0) continue;
      const r = st.row;
      const emb = this.#rows.gather([r]);
      st.row = next.append({
        id: this.#rows.ids[r]!,
        embedding: emb,
        document: this.#rows.documents()[r] ?? null,
        metadata: this.#rows.metadata[r] ?? null,
      });
    }
    this.#rows.close();
    this.#rows = next;
  }

  close(): void {
    this.#rows.close();
  }
}
