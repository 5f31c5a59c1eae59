import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyMap } from '../../src/pipeline/keymap.js';
import {
  allowedSegments,
  defaultMergePolicy,
  findMerges,
  mergeAll,
  type PolicySegment,
} from '../../src/pipeline/merge-policy.js';

const seg = (id: string, rows: number, deleted = 0, indexed = true): PolicySegment => ({
  id,
  rows,
  deleted,
  indexed,
});
const policy = { ...defaultMergePolicy(1536), floorRows: 2000 };

describe('merge policy (pure: segments → merges)', () => {
  it('leaves a version alone while it is within the tier budget', () => {
    expect(findMerges([seg('a', 28_000)], policy)).toEqual([]);
    expect(findMerges([seg('a', 28_000), seg('b', 1_000)], policy)).toEqual([]);
  });

  it('merges equal segments of a tier past the budget (the demo: 4 groups of 7k)', () => {
    const segs = ['a', 'b', 'c', 'd'].map((id) => seg(id, 7_100));
    const merges = findMerges(segs, policy);
    expect(merges).toHaveLength(1);
    expect([...merges[0]!].sort()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('prefers merging the small segments over rewriting the large one', () => {
    const segs = [seg('big', 200_000), ...Array.from({ length: 6 }, (_, i) => seg(`s${i}`, 2_000))];
    const merges = findMerges(segs, policy);
    expect(merges.length).toBeGreaterThan(0);
    expect(merges.flat()).not.toContain('big');
  });

  it('reclaims a segment with too many deleted rows, alone if need be', () => {
    expect(findMerges([seg('a', 100_000, 30_000)], policy)).toEqual([['a']]);
    expect(findMerges([seg('a', 100_000, 10_000)], policy)).toEqual([]);
  });

  it('any version: merges are disjoint, name listed segments, fit the maximum, and bring the count within budget', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.integer({ min: 1, max: 3_000_000 }), fc.double({ min: 0, max: 0.6, noNaN: true })),
          {
            minLength: 1,
            maxLength: 40,
          },
        ),
        (spec) => {
          const segs = spec.map(([rows, del], i) => seg(`s${i}`, rows, Math.floor(rows * del)));
          const merges = findMerges(segs, policy);
          const seen = new Set<string>();
          for (const m of merges) {
            for (const id of m) {
              expect(seen.has(id)).toBe(false);
              seen.add(id);
              expect(segs.some((s) => s.id === id)).toBe(true);
            }
            const rows = m.reduce((n, id) => {
              const s = segs.find((x) => x.id === id)!;
              return n + s.rows - s.deleted;
            }, 0);
            if (m.length > 1) expect(rows).toBeLessThanOrEqual(policy.maxMergedRows);
          }
          const after = segs.length - merges.reduce((n, m) => n + m.length - 1, 0);
          const total = segs.reduce((n, s) => n + s.rows - s.deleted, 0);
          const eligible = segs.filter((s) => s.rows - s.deleted <= policy.maxMergedRows / 2).length;
          if (eligible === segs.length)
            expect(after).toBeLessThanOrEqual(Math.max(allowedSegments(total, policy), 1));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('mergeAll: one merge of everything unless it already is one clean segment', () => {
    expect(mergeAll([seg('a', 10)])).toEqual([]);
    expect(mergeAll([seg('a', 10, 1)])).toEqual([['a']]);
    expect(mergeAll([seg('a', 10), seg('b', 5)])).toEqual([['a', 'b']]);
  });
});

describe('merge key map', () => {
  it('round-trips and maps only carried keys', () => {
    const km = new KeyMap();
    const a = 'a'.repeat(64);
    const b = 'b'.repeat(64);
    km.set(a, 1, 1);
    km.set(a, 5, 2);
    km.set(b, 3, 7);
    const back = KeyMap.decode(km.encode());
    expect(back.map(a, [5, 1, 2])).toEqual([2, 1]);
    expect(back.map(b, [3])).toEqual([7]);
    expect(back.map('c'.repeat(64), [1])).toEqual([]);
    expect(() => KeyMap.decode(km.encode().subarray(0, 20))).toThrow(/truncated/);
  });
});
