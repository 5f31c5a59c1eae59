import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeletionVector } from '../../src/core/deletion-vector.js';

describe('DeletionVector', () => {
  it('round-trips any set of keys within its key space', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5_000_000 }),
        fc.array(fc.nat(), { maxLength: 300 }),
        (space, raw) => {
          const keys = space === 0 ? [] : raw.map((k) => (k % space) + 1);
          const dv = DeletionVector.of(space, keys);
          const back = DeletionVector.decode(dv.encode());
          expect(back.keySpace).toBe(space);
          expect([...back.keys]).toEqual([...new Set(keys)].sort((a, b) => a - b));
          for (const k of keys) expect(back.has(k)).toBe(true);
          if (space > 0) expect(back.has(space + 1)).toBe(false);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('with() adds, since() tells what is new', () => {
    const a = DeletionVector.of(100, [3, 7]);
    const b = a.with([7, 9, 50]);
    expect([...b.keys]).toEqual([3, 7, 9, 50]);
    expect(b.since(a)).toEqual([9, 50]);
    expect(a.with([3])).toBe(a);
  });

  it('refuses keys outside 1..keySpace and malformed encodings, each with its code', () => {
    expect(() => DeletionVector.of(10, [11])).toThrow(/outside/);
    expect(() => DeletionVector.of(10, [0])).toThrow(/outside/);
    const good = DeletionVector.of(1000, [1, 200, 999]).encode();
    const code = (b: Uint8Array) => {
      try {
        DeletionVector.decode(b);
        return 'ok';
      } catch (e) {
        return (e as { code: string }).code;
      }
    };
    expect(code(good)).toBe('ok');
    expect(code(good.subarray(0, good.length - 1))).toBe('E_DELETION_VECTOR'); // truncated
    expect(code(Buffer.concat([good, Buffer.from([1])]))).toBe('E_DELETION_VECTOR'); // trailing
    const wrongMagic = Buffer.from(good);
    wrongMagic[0] = 0x58;
    expect(code(wrongMagic)).toBe('E_DELETION_VECTOR');
    const shrunk = Buffer.from(good);
    shrunk.writeUInt32LE(500, 4); // a key beyond the space
    expect(code(shrunk)).toBe('E_DELETION_VECTOR');
    const repeated = Buffer.from([...Buffer.from('SDV1'), 10, 0, 0, 0, 2, 0, 0, 0, 3, 0]);
    expect(code(repeated)).toBe('E_DELETION_VECTOR');
  });
});
