/**
 * The server's column filters against the reference semantics (src/query/where.ts) on random filters, and
 * filtered k-NN (both plans) against brute force.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Metadata, Operation } from '../../src/core/types.js';
import { distance } from '../../src/engine/distance.js';
import { openCurrentVersion, type QueryableVersion } from '../../src/pipeline/current.js';
import { evaluateFilter, normalizeFilter } from '../../src/query/filter.js';
import { knn } from '../../src/query/knn.js';
import type { SegmentView } from '../../src/query/segment-view.js';
import { matchesWhere, matchesWhereDocument, type Where, type WhereDocument } from '../../src/query/where.js';
import { compactInline, ingestBatches, smallCollection, upserts } from '../helpers/pipeline.js';
import { tempStore } from '../helpers/tmp.js';

const STRS = ['x', 'y', 'xy', 'yx', ''];
const NUMS = [0, 1, 2.5, -1, 1000];
const scalar = fc.oneof(fc.constantFrom(...STRS), fc.constantFrom(...NUMS), fc.boolean());
const KEYS = ['a', 'b', 'c', 'tags'];

function metadataOf(i: number): Metadata | null {
  if (i % 11 === 0) return null;
  const m: Metadata = {};
  const pick = <T>(xs: readonly T[], s: number) => xs[(i * 7 + s) % xs.length]!;
  if (i % 3 !== 0) m.a = pick(STRS, 1);
  if (i % 4 !== 0) m.b = pick(NUMS, 2);
  if (i % 5 !== 0) m.c = i % 2 === 0;
  if (i % 6 === 0) m.c = pick(STRS, 3);
  if (i % 2 === 0) m.tags = i % 4 === 0 ? ['x', 'y'] : [1, 2];
  return Object.keys(m).length ? m : null;
}

const DOCS = ['red apple', 'green apple', 'blue sky', 'RED CAR', '', 'apple pie 3.50'];

const leaf: fc.Arbitrary<Where> = fc.oneof(
  fc.record({ k: fc.constantFrom(...KEYS), v: scalar }).map(({ k, v }) => ({ [k]: v })),
  fc
    .record({
      k: fc.constantFrom(...KEYS),
      op: fc.constantFrom('$eq', '$ne', '$contains', '$not_contains'),
      v: scalar,
    })
    .map(({ k, op, v }) => ({ [k]: { [op]: v } })),
  fc
    .record({
      k: fc.constantFrom(...KEYS),
      op: fc.constantFrom('$gt', '$gte', '$lt', '$lte'),
      v: fc.constantFrom(...NUMS),
    })
    .map(({ k, op, v }) => ({ [k]: { [op]: v } })),
  fc
    .record({
      k: fc.constantFrom(...KEYS),
      op: fc.constantFrom('$in', '$nin'),
      v: fc.array(scalar, { maxLength: 3 }),
    })
    .map(({ k, op, v }) => ({ [k]: { [op]: v } })),
);
const where: fc.Arbitrary<Where> = fc.letrec<{ w: Where }>((tie) => ({
  w: fc.oneof(
    { depthSize: 'small' },
    leaf,
    fc
      .record({ op: fc.constantFrom('$and', '$or'), parts: fc.array(tie('w'), { maxLength: 3 }) })
      .map(({ op, parts }) => ({ [op]: parts })),
  ),
})).w;
const docLeaf: fc.Arbitrary<WhereDocument> = fc
  .record({
    op: fc.constantFrom('$contains', '$not_contains', '$regex', '$not_regex'),
    v: fc.constantFrom('apple', 'RED', 'red', '^a', '[0-9]+\\.[0-9]{2}', ''),
  })
  .map(({ op, v }) => ({ [op]: v }));
const whereDocument: fc.Arbitrary<WhereDocument> = fc.oneof(
  docLeaf,
  fc
    .record({ op: fc.constantFrom('$and', '$or'), parts: fc.array(docLeaf, { maxLength: 3 }) })
    .map(({ op, parts }) => ({ [op]: parts })),
);

describe('column filters = where.ts semantics', () => {
  let ctx: Awaited<ReturnType<typeof tempStore>>;
  let segment: QueryableVersion;
  let view: SegmentView;
  const n = 240;
  beforeAll(async () => {
    ctx = await tempStore();
    const config = await smallCollection(ctx.store, 'f', 8);
    const ops: Operation[] = upserts(3, n, 8).map((o, i) =>
      o.op === 'upsert'
        ? { ...o, metadata: metadataOf(i), document: i % 9 === 0 ? null : DOCS[i % DOCS.length]! }
        : o,
    );
    await ingestBatches(ctx.store, config, ops, 80);
    await compactInline(ctx.store, 'f', { merge: 'all' });
    segment = await openCurrentVersion(ctx.store, 'f');
    expect(segment.view.parts).toHaveLength(1);
    view = segment.view.parts[0]!.source as SegmentView;
  });
  afterAll(async () => {
    await segment?.close();
    await ctx?.[Symbol.asyncDispose]();
  });

  it('where and where_document masks equal row-by-row evaluation', () => {
    const docs = view.documents();
    fc.assert(
      fc.property(
        fc.option(where, { nil: undefined }),
        fc.option(whereDocument, { nil: undefined }),
        (w, wd) => {
          const f = normalizeFilter({ where: w, whereDocument: wd });
          const { mask, count } = evaluateFilter(view, f);
          let expected = 0;
          for (let i = 0; i < view.size; i++) {
            const want =
              (f.where === undefined || matchesWhere(view.metadata[i], f.where)) &&
              (f.whereDocument === undefined || matchesWhereDocument(docs[i], f.whereDocument));
            expect(
              mask === null ? true : mask[i] === 1,
              `row ${i} ${JSON.stringify({ w, wd, m: view.metadata[i], d: docs[i] })}`,
            ).toBe(want);
            if (want) expected++;
          }
          expect(count).toBe(expected);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('refuses malformed filters with a coded error', () => {
    expect(() => normalizeFilter({ where: { a: { $gt: 'x' } } })).toThrow(/invalid filter/);
    expect(() => normalizeFilter({ where: { a: { $bogus: 1 } } })).toThrow(/unknown operator/);
    expect(() => normalizeFilter({ whereDocument: { $regex: '(' } })).toThrow(/regular expression/);
  });
});

describe('filtered k-NN returns the true top-k among matching rows', () => {
  let ctx: Awaited<ReturnType<typeof tempStore>>;
  let segment: QueryableVersion;
  let view: SegmentView;
  const n = 4_000;
  const dim = 256; // at 256-d a 4,000-row segment gets an index (engine/crossover.ts)
  beforeAll(async () => {
    ctx = await tempStore();
    const config = await smallCollection(ctx.store, 'k', dim, 'f16');
    await ingestBatches(ctx.store, config, upserts(5, n, dim), 1_000);
    await compactInline(ctx.store, 'k', { merge: 'all' });
    segment = await openCurrentVersion(ctx.store, 'k');
    view = segment.view.parts[0]!.source as SegmentView;
    expect(view.hasIndex).toBe(true);
  });
  afterAll(async () => {
    await segment?.close();
    await ctx?.[Symbol.asyncDispose]();
  });

  it.each([
    ['exact subset', 1_000_000],
    ['index over-fetch', 0],
  ])('%s: recall@10 >= 0.99 at selectivities from 0.1 to 100 percent', (_label, exactBelow) => {
    const all = view.gather(Array.from({ length: view.size }, (_, i) => i));
    const vecOf = (i: number) => all.subarray(i * dim, i * dim + dim);
    for (const perMille of [1, 10, 100, 500, 1000]) {
      const f = normalizeFilter({ where: { bucket: { $lt: perMille } } });
      const { mask, count } = evaluateFilter(view, f);
      let found = 0;
      let wanted = 0;
      for (let q = 0; q < 20; q++) {
        const query = vecOf(q * 97);
        const truth = view.ids
          .map((id, i) => ({ id, i, d: distance('cos', query, vecOf(i)) }))
          .filter((x) => mask![x.i])
          .sort((a, b) => a.d - b.d)
          .slice(0, 10)
          .map((x) => x.id);
        const got = knn(view, 'cos', query, 10, mask, count, { exactBelow });
        const ids = new Set(got.rows.map((r) => view.ids[r]));
        wanted += truth.length;
        for (const id of truth) if (ids.has(id)) found++;
      }
      expect(found / wanted, `selectivity ${perMille / 10}%`).toBeGreaterThanOrEqual(0.99);
    }
  });
});
