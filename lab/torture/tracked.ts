/**
 * What the campaign knows about one collection of a run: every delta it wrote (good ones with their
 * operations, bad ones with their class), the reference model, and the content hash of every prefix of
 * good deltas in sequence order — the only record sets a published snapshot may ever hold.
 */
import type { CollectionConfig, Operation } from '../../src/core/types.js';
import type { BadDeltaClass } from './bad-inputs.js';
import { ReferenceModel } from './model.js';
import type { OpGenerator } from './workload.js';

export type TrackedDelta =
  | { kind: 'good'; seqStart: number; seqEnd: number; ops: Operation[] }
  | { kind: 'bad'; seqStart: number; seqEnd: number; cls: BadDeltaClass };

export class TrackedCollection {
  readonly deltas: TrackedDelta[] = [];
  /** Content hashes of the model after each prefix of good deltas (the legitimate snapshots). */
  readonly legitHashes = new Set<string>();
  /** Ids that were ever upserted (for the "no deleted id is returned" check). */
  readonly everUpserted = new Set<string>();
  readonly #model = new ReferenceModel();

  constructor(
    readonly config: CollectionConfig,
    readonly gen: OpGenerator,
  ) {}

  get name(): string {
    return this.config.name;
  }

  addGood(seqStart: number, seqEnd: number, ops: Operation[]): void {
    this.deltas.push({ kind: 'good', seqStart, seqEnd, ops });
    this.#model.applyAll(ops);
    for (const o of ops) if (o.op === 'upsert') this.everUpserted.add(o.id);
    this.legitHashes.add(this.#model.contentHash());
  }

  addBad(seqStart: number, seqEnd: number, cls: BadDeltaClass): void {
    this.deltas.push({ kind: 'bad', seqStart, seqEnd, cls });
  }

  byStart(seqStart: number): TrackedDelta | undefined {
    return this.deltas.find((d) => d.seqStart === seqStart);
  }

  /** The model after applying exactly these good deltas (by seqStart), in sequence order. */
  modelOf(seqStarts: Iterable<number>): ReferenceModel {
    const want = new Set(seqStarts);
    const m = new ReferenceModel();
    for (const d of [...this.deltas].sort((a, b) => a.seqStart - b.seqStart)) {
      if (d.kind === 'good' && want.has(d.seqStart)) m.applyAll(d.ops);
    }
    return m;
  }
}
