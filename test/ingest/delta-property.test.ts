import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MetadataScalar, Operation } from '../../src/core/types.js';
import { validateId, validateOperation } from '../../src/core/validate.js';
import { decodeDelta, encodeDelta } from '../../src/ingest/index.js';
import { plain } from './helpers.js';

const DIM = 3;

function isValidId(s: string): boolean {
  try {
    validateId(s);
    return true;
  } catch {
    return false;
  }
}

const id = fc
  .oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }), fc.constantFrom('a', 'b', 'é', 'x#0'))
  .map((s) => s.normalize('NFC'))
  .filter(isValidId);
const text = fc.string({ unit: 'grapheme', maxLength: 40 });
const scalar: fc.Arbitrary<MetadataScalar> = fc.oneof(
  text,
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0)),
);
const key = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }).filter((k) => k !== '__proto__');
const metadata = fc.dictionary(key, fc.oneof(scalar, fc.array(scalar, { maxLength: 4 })), { maxKeys: 5 });
const patch = fc.dictionary(key, fc.oneof(scalar, fc.array(scalar, { maxLength: 4 }), fc.constant(null)), {
  maxKeys: 5,
});
const embedding = fc
  .float32Array({ minLength: DIM, maxLength: DIM, noNaN: true, noDefaultInfinity: true })
  .map((a) => new Float32Array(a));

const op: fc.Arbitrary<Operation> = fc.oneof(
  fc.record(
    {
      op: fc.constant('upsert' as const),
      id,
      embedding,
      document: fc.option(text, { nil: null }),
      metadata: fc.option(metadata, { nil: null }),
    },
    { requiredKeys: ['op', 'id', 'embedding'] },
  ),
  fc.record({ op: fc.constant('delete' as const), id }),
  fc.record(
    {
      op: fc.constant('update' as const),
      id,
      document: fc.option(text, { nil: null }),
      metadata: fc.option(patch, { nil: null }),
    },
    { requiredKeys: ['op', 'id'] },
  ),
);

describe('encodeDelta → decodeDelta (property)', () => {
  it('is the identity on valid operation lists (after validation normalises absent upsert fields)', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 25 }), fc.nat(1_000_000), (ops, seqStart) => {
        const header = {
          collection: 'prop',
          dimension: DIM,
          metric: 'l2sq' as const,
          producer: 'fc',
          seqStart,
        };
        const { bytes, header: h } = encodeDelta(header, ops);
        const out = decodeDelta(bytes, { collection: 'prop', dimension: DIM, metric: 'l2sq' });
        expect(out.header).toEqual(h);
        const want = ops.map((o, i) => ({ ...validateOperation(o, DIM), seq: seqStart + i }));
        expect(plain(out.ops)).toEqual(plain(want));
      }),
      { numRuns: 100 },
    );
  });
});
