import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Operation, SequencedOperation } from '../../src/core/types.js';
import { compareIds } from '../../src/engine/ids.js';
import type { SegmentRow } from '../../src/engine/rows.js';
import { applyToBase, foldRows, rowFromOp } from '../../src/pipeline/fold.js';
import { foldSorted, zipSorted } from '../../src/pipeline/merge.js';
import { ReferenceModel } from '../helpers/model.js';

const ids = ['a', 'b', 'c', 'd', 'é', '日本', '\u{1F600}', 'z'];
const vec = fc
  .float({ noNaN: true, noDefaultInfinity: true, min: -1, max: 1 })
  .map((x) => Float32Array.of(x, 1));
const meta = fc.option(
  fc.dictionary(
    fc.constantFrom('k1', 'k2', 'k3'),
    fc.oneof(fc.integer(), fc.boolean(), fc.string({ maxLength: 3 })),
  ),
  { nil: null },
);
const patch = fc.option(
  fc.dictionary(fc.constantFrom('k1', 'k2', 'k3'), fc.option(fc.integer(), { nil: null })),
  { nil: undefined },
);
const op: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({
    op: fc.constant('upsert' as const),
    id: fc.constantFrom(...ids),
    embedding: vec,
    document: fc.option(fc.string({ maxLength: 4 }), { nil: null }),
    metadata: meta,
  }),
  fc.record({ op: fc.constant('delete' as const), id: fc.constantFrom(...ids) }),
  fc.record({
    op: fc.constant('update' as const),
    id: fc.constantFrom(...ids),
    document: fc.option(fc.string({ maxLength: 4 }), { nil: undefined }),
    metadata: patch,
  }),
);

/** Splits a list into consecutive runs of the given sizes (cycled). */
function runs<T>(xs: T[], sizes: number[]): T[][] {
  const out: T[][] = [];
  let i = 0;
  let s = 0;
  while (i < xs.length) {
    const n = sizes[s++ % sizes.length]!;
    out.push(xs.slice(i, i + n));
    i += n;
  }
  return out;
}

function foldChunk(deltas: SequencedOperation[][]): SegmentRow[] {
  const m = new Map<string, SegmentRow>();
  for (const d of deltas) for (const o of d) m.set(o.id, foldRows(m.get(o.id), rowFromOp(o)));
  return [...m.values()].sort((a, b) => compareIds(a.id, b.id));
}

describe('merge algebra', () => {
  it('any grouping of deltas into chunks and groups equals applying the operations one by one', () => {
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 30 }),
        fc.array(op, { minLength: 1, maxLength: 60 }),
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        (baseOps, ops, deltaSizes, chunkSize, groupSize) => {
          const base = new ReferenceModel().applyAll(baseOps.filter((o) => o.op === 'upsert'));
          const expected = new ReferenceModel()
            .applyAll(baseOps.filter((o) => o.op === 'upsert'))
            .applyAll(ops);
          const seqd = ops.map((o, i) => ({ ...o, seq: i + 1 }) as SequencedOperation);
          const deltas = runs(seqd, deltaSizes);
          const chunks = runs(deltas, [chunkSize]).map(foldChunk);
          const groups = runs(chunks, [groupSize]).map((g) => [...foldSorted(g)]);
          const changes = foldSorted(groups);
          const baseRows: SegmentRow[] = base.sortedIds().map((id) => {
            const r = base.records.get(id)!;
            return {
              id,
              kind: 'put',
              seq: 0,
              embedding: r.embedding,
              document: r.document,
              metadata: r.metadata,
            };
          });
          const got = new Map<string, SegmentRow>();
          for (const [b, c] of zipSorted(baseRows, changes)) {
            const next = c ? applyToBase(b, c) : b;
            if (next) got.set(next.id, next);
          }
          expect([...got.keys()]).toEqual(expected.sortedIds());
          for (const [id, r] of expected.records) {
            const g = got.get(id)!;
            expect(g.embedding).toEqual(r.embedding);
            expect(g.document ?? null).toEqual(r.document);
            expect(g.metadata ?? null).toEqual(r.metadata);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a patch on a deleted id is a no-op, and a later put revives it', () => {
    const t = rowFromOp({ op: 'delete', id: 'x', seq: 1 });
    const p = rowFromOp({ op: 'update', id: 'x', seq: 2, document: 'd' });
    expect(foldRows(t, p).kind).toBe('tombstone');
    const u = rowFromOp({
      op: 'upsert',
      id: 'x',
      seq: 3,
      embedding: Float32Array.of(1),
      document: null,
      metadata: null,
    });
    expect(foldRows(foldRows(t, p), u).kind).toBe('put');
  });
});
