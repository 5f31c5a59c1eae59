import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LtHash, recordDigest } from '../../src/core/lthash.js';

const record = fc.record({
  id: fc.string({ minLength: 1, maxLength: 12 }),
  embedding: fc
    .array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 3, maxLength: 3 })
    .map((a) => Float32Array.from(a)),
  document: fc.option(fc.string({ maxLength: 20 }), { nil: null }),
  metadata: fc.option(
    fc.dictionary(
      fc.string({ maxLength: 4 }),
      fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.boolean()),
    ),
    { nil: null },
  ),
});

describe('LtHash', () => {
  it('is a multiset hash: order does not matter, removal undoes addition, sums of disjoint parts add up', () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 12 }), fc.nat(), (rs, cut) => {
        const a = new LtHash();
        for (const r of rs) a.add(r);
        const b = new LtHash();
        for (const r of [...rs].reverse()) b.add(r);
        expect(a.equals(b)).toBe(true);
        const k = rs.length === 0 ? 0 : cut % (rs.length + 1);
        const left = new LtHash();
        const right = new LtHash();
        for (const r of rs.slice(0, k)) left.add(r);
        for (const r of rs.slice(k)) right.add(r);
        expect(left.clone().combine(right).equals(a)).toBe(true);
        const minus = a.clone();
        for (const r of rs.slice(k)) minus.remove(r);
        expect(minus.equals(left)).toBe(true);
        expect(a.clone().combine(right, -1).digest()).toBe(left.digest());
      }),
      { numRuns: 200 },
    );
  });

  it('distinguishes records that differ in any field, and survives encode/decode', () => {
    const base = { id: 'a', embedding: Float32Array.from([1, 2, 3]), document: 'd', metadata: { k: 1 } };
    const variants = [
      { ...base, id: 'b' },
      { ...base, embedding: Float32Array.from([1, 2, 3.0000002]) },
      { ...base, document: null },
      { ...base, document: 'e' },
      { ...base, metadata: null },
      { ...base, metadata: { k: '1' } },
    ];
    const h = new LtHash().add(base).digest();
    for (const v of variants) expect(new LtHash().add(v).digest()).not.toBe(h);
    // key order of metadata is canonical
    expect(recordDigest({ ...base, metadata: { x: 1, y: 2 } })).toEqual(
      recordDigest({ ...base, metadata: { y: 2, x: 1 } }),
    );
    const x = new LtHash().add(base).add(variants[0]!);
    expect(LtHash.decode(x.encode()).equals(x)).toBe(true);
    expect(() => LtHash.decode('AAAA')).toThrow(/2,048 bytes/);
  });

  it('the empty set has the zero state', () => {
    const r = { id: 'a', embedding: Float32Array.from([1]) };
    expect(new LtHash().add(r).remove(r).equals(new LtHash())).toBe(true);
  });
});
