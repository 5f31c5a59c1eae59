import Database from 'better-sqlite3';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareIds } from '../../src/engine/index.js';

const utf8Order = (a: string, b: string) =>
  Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));

describe('compareIds', () => {
  it('orders by UTF-8 bytes, not UTF-16 code units', () => {
    // U+FF61 (BMP, above the surrogates) vs U+1F600 (surrogate pair): UTF-16 puts the emoji first.
    expect('\u{1F600}' < '\uFF61').toBe(true);
    expect(compareIds('\u{1F600}', '\uFF61')).toBe(1);
    expect(compareIds('\uFF61', '\u{1F600}')).toBe(-1);
    expect(compareIds('a', 'b')).toBe(-1);
    expect(compareIds('ab', 'a')).toBe(1);
    expect(compareIds('', 'a')).toBe(-1);
    expect(compareIds('x\u{10000}', 'x\u{10000}')).toBe(0);
    expect(compareIds('\u{10000}', '\u{10FFFF}')).toBe(-1);
    expect(compareIds('\uE000', '\uD7FF')).toBe(1);
  });

  it('agrees with Buffer.compare on arbitrary unicode strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        expect(compareIds(a, b)).toBe(utf8Order(a, b));
      }),
      { numRuns: 2000 },
    );
    const chars = [
      'a',
      'z',
      '\u00e9',
      '\u07ff',
      '\u0800',
      '\ud7ff',
      '\ue000',
      '\uffff',
      '\u{10000}',
      '\u{1F600}',
    ];
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...chars), { maxLength: 4 }).map((x) => x.join('')),
        fc.array(fc.constantFrom(...chars), { maxLength: 4 }).map((x) => x.join('')),
        (a, b) => {
          expect(compareIds(a, b)).toBe(utf8Order(a, b));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('sorts exactly like SQLite ORDER BY (BINARY collation)', () => {
    const ids = fc.sample(fc.string({ unit: 'grapheme', minLength: 1 }), 500);
    ids.push('\u{1F600}', '\uFF61', '\uE000', '\uD7FF', 'A', 'a', 'a\u0000'.slice(0, 1), '\u00e9');
    const unique = [...new Set(ids)];
    const db = new Database(':memory:');
    db.exec('CREATE TABLE t (id TEXT NOT NULL UNIQUE)');
    const ins = db.prepare('INSERT INTO t VALUES (?)');
    for (const id of unique) ins.run(id);
    const sqlite = db.prepare('SELECT id FROM t ORDER BY id').pluck().all() as string[];
    db.close();
    expect([...unique].sort(compareIds)).toEqual(sqlite);
  });
});
