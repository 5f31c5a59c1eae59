/**
 * Chroma's write semantics as a pure translation (src/server/chroma-writes.ts), case by case as the real
 * server answered them (the differential test in test/chroma-diff holds the whole server to Chroma).
 */
import { describe, expect, it } from 'vitest';
import type { Metadata } from '../../src/core/types.js';
import { chromaView } from '../../src/interop/chroma/cosine.js';
import {
  type ChromaWrite,
  mergeMetadata,
  type RecordState,
  type StoredRecord,
  type TranslateOptions,
  translateWrite,
} from '../../src/server/chroma-writes.js';

const v = (...xs: number[]) => Float32Array.from(xs);

function stateOf(
  records: Record<string, { document?: string | null; metadata?: Metadata | null }>,
): RecordState {
  const all = new Map<string, StoredRecord>(
    Object.entries(records).map(([id, r]) => [
      id,
      { embedding: v(1, 2, 3), document: r.document ?? null, metadata: r.metadata ?? null },
    ]),
  );
  return {
    lookup: (ids) => new Map(ids.filter((id) => all.has(id)).map((id) => [id, all.get(id)!])),
    select: (f) => [...all.keys()].filter((id) => !f.ids || f.ids.includes(id)),
  };
}

const l2: TranslateOptions = { metric: 'l2sq', dimension: 3 };
const run = (w: ChromaWrite, s: RecordState, o: TranslateOptions = l2) => translateWrite(w, s, o).ops;

describe('Chroma write semantics as Strata operations', () => {
  const state = stateOf({ a: { document: 'doc a', metadata: { x: 2, y: true } } });

  it('add: an existing id is left as it is, a new one is inserted (null metadata values dropped)', () => {
    const ops = run(
      {
        kind: 'add',
        records: [
          { id: 'a', embedding: v(9, 9, 9), document: 'new', metadata: { z: 1 } },
          { id: 'b', embedding: v(1, 0, 0), metadata: { k: 1, gone: null } },
        ],
      },
      state,
    );
    expect(ops).toEqual([
      { op: 'upsert', id: 'b', embedding: v(1, 0, 0), document: null, metadata: { k: 1 } },
    ]);
  });

  it('upsert of an existing id: new vector, metadata updated key by key, document kept unless given', () => {
    const ops = run(
      { kind: 'upsert', records: [{ id: 'a', embedding: v(3, 2, 1), metadata: { x: 20, n: 'k', y: null } }] },
      state,
    );
    expect(ops).toEqual([
      { op: 'upsert', id: 'a', embedding: v(3, 2, 1), document: 'doc a', metadata: { x: 20, n: 'k' } },
    ]);
    const empty = run({ kind: 'upsert', records: [{ id: 'a', embedding: v(3, 2, 1), metadata: {} }] }, state);
    expect(empty[0]).toMatchObject({ document: 'doc a', metadata: { x: 2, y: true } });
  });

  it('update: a vector changes the record (as upsert); without one it is a patch; a missing id is ignored', () => {
    expect(run({ kind: 'update', records: [{ id: 'a', embedding: v(0, 0, 1) }] }, state)).toEqual([
      { op: 'upsert', id: 'a', embedding: v(0, 0, 1), document: 'doc a', metadata: { x: 2, y: true } },
    ]);
    expect(run({ kind: 'update', records: [{ id: 'nope', embedding: v(0, 0, 1) }] }, state)).toEqual([]);
    expect(run({ kind: 'update', records: [{ id: 'a', metadata: { x: null, w: 5 } }] }, state)).toEqual([
      { op: 'update', id: 'a', metadata: { x: null, w: 5 } },
    ]);
    // nothing to change, and a null document is "not given"
    expect(run({ kind: 'update', records: [{ id: 'a', document: null, metadata: {} }] }, state)).toEqual([]);
  });

  it('delete: every id named; a filter deletes what matches now, at most limit; nothing named, nothing', () => {
    const t = translateWrite({ kind: 'delete', ids: ['a', 'zz'] }, state, l2);
    expect(t.ops).toEqual([
      { op: 'delete', id: 'a' },
      { op: 'delete', id: 'zz' },
    ]);
    expect(t.affected).toBe(1);
    const two = stateOf({ a: {}, b: {}, c: {} });
    const f = translateWrite({ kind: 'delete', filter: { where: { k: 1 } }, limit: 2 }, two, l2);
    expect(f.ops.map((o) => o.id)).toEqual(['a', 'b']);
    expect(translateWrite({ kind: 'delete' }, two, l2).ops).toEqual([]);
  });

  it("a cosine collection stores Chroma's view of each vector (what Chroma answers for it)", () => {
    const x = v(0.1, 0.2, 0.3);
    const [op] = run({ kind: 'add', records: [{ id: 'n', embedding: x }] }, stateOf({}), {
      metric: 'cos',
      dimension: 3,
    });
    expect((op as { embedding: Float32Array }).embedding).toEqual(chromaView(x));
    expect(Array.from(chromaView(x))).not.toEqual(Array.from(x));
  });

  it('mergeMetadata: key by key, null removes, nothing left is null', () => {
    expect(mergeMetadata({ a: 1 }, { a: null })).toBeNull();
    expect(mergeMetadata(null, { a: 1, b: null })).toEqual({ a: 1 });
    expect(mergeMetadata({ a: 1 }, null)).toEqual({ a: 1 });
  });
});
