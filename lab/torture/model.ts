/** The reference model: operations applied one by one to a Map. What every compaction must equal (tests and the torture campaign). */
import { LtHash } from '../../src/core/lthash.js';
import type { Metadata, Operation, VectorRecord } from '../../src/core/types.js';
import { compareIds } from '../../src/engine/ids.js';

export type ModelRecord = { embedding: Float32Array; document: string | null; metadata: Metadata | null };

export class ReferenceModel {
  readonly records = new Map<string, ModelRecord>();

  apply(op: Operation): void {
    switch (op.op) {
      case 'upsert':
        this.records.set(op.id, {
          embedding: op.embedding,
          document: op.document ?? null,
          metadata: op.metadata ?? null,
        });
        break;
      case 'delete':
        this.records.delete(op.id);
        break;
      case 'update': {
        const cur = this.records.get(op.id);
        if (!cur) return;
        const next = { ...cur };
        if (op.document !== undefined) next.document = op.document;
        if (op.metadata !== undefined && op.metadata !== null) {
          const m: Record<string, unknown> = { ...(cur.metadata ?? {}) };
          for (const [k, v] of Object.entries(op.metadata)) {
            if (v === null) delete m[k];
            else m[k] = v;
          }
          next.metadata = Object.keys(m).length ? (m as Metadata) : null;
        }
        this.records.set(op.id, next);
      }
    }
  }

  applyAll(ops: Iterable<Operation>): this {
    for (const op of ops) this.apply(op);
    return this;
  }

  sortedIds(): string[] {
    return [...this.records.keys()].sort(compareIds);
  }

  /** The record set's content hash as a version records it (LtHash digest: independent of layout). */
  contentHash(): string {
    const h = new LtHash();
    for (const [id, r] of this.records)
      h.add({ id, embedding: r.embedding, document: r.document, metadata: r.metadata });
    return h.digest();
  }

  toRecords(): VectorRecord[] {
    return this.sortedIds().map((id) => ({ id, ...this.records.get(id)! }));
  }
}
