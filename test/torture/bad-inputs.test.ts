import { describe, expect, it } from 'vitest';
import {
  BAD_DELTA_CLASSES,
  BAD_INPUT_CLASSES,
  BAD_PRODUCER_CLASSES,
  writeBadDelta,
} from '../../lab/torture/bad-inputs.js';
import { ReferenceModel } from '../../lab/torture/model.js';
import { isStrataError } from '../../src/core/errors.js';
import { rng } from '../../src/core/random.js';
import { readLedger } from '../../src/pipeline/ledger.js';
import { compactInline, ingestBatches, smallCollection, upserts } from '../helpers/pipeline.js';
import { tempStore } from '../helpers/tmp.js';

describe('bad input classes', () => {
  it('are at least 25, each with its own code', () => {
    expect(BAD_INPUT_CLASSES.length).toBeGreaterThanOrEqual(25);
    expect(new Set(BAD_INPUT_CLASSES.map((c) => c.code)).size).toBe(BAD_INPUT_CLASSES.length);
    expect(new Set(BAD_INPUT_CLASSES.map((c) => c.name)).size).toBe(BAD_INPUT_CLASSES.length);
  });

  describe.each(BAD_DELTA_CLASSES.map((c) => [c.name, c] as const))('delta written raw: %s', (_name, cls) => {
    it(`is quarantined alone with ${cls.code}; the deltas around it are promoted`, async () => {
      await using t = await tempStore('strata-bad');
      const config = await smallCollection(t.store, 'bad', 8);
      const before = upserts(1, 20, 8);
      const after = upserts(2, 20, 8, 100);
      await ingestBatches(t.store, config, before, 10);
      const bad = await writeBadDelta(t.store, config, cls, rng(7));
      await ingestBatches(t.store, config, after, 10);

      const r = await compactInline(t.store, 'bad');
      expect(r.status).toBe('published');
      expect(r.quarantined.map((q) => [q.seqStart, q.error.code])).toEqual([[bad.seqStart, cls.code]]);
      expect(r.quarantined[0]!.error.context).toMatchObject({
        collection: 'bad',
        delta: String(bad.seqStart),
      });
      expect(r.snapshot?.contentHash).toBe(
        new ReferenceModel().applyAll(before).applyAll(after).contentHash(),
      );

      const ledger = await readLedger(t.store, 'bad');
      expect(ledger.counts).toEqual({
        pending: 0,
        compacting: 0,
        promoted: 4,
        'rolled-back': 0,
        quarantined: 1,
      });
      expect(ledger.entries.find((e) => e.seqStart === bad.seqStart)).toMatchObject({
        state: 'quarantined',
        error: { code: cls.code },
      });
    });
  });

  it.each(BAD_PRODUCER_CLASSES.map((c) => [c.name, c] as const))(
    'producer file: %s is refused with its code',
    (_name, cls) => {
      let thrown: unknown;
      try {
        cls.refuse(8);
      } catch (e) {
        thrown = e;
      }
      expect(isStrataError(thrown) ? thrown.code : thrown).toBe(cls.code);
    },
  );
});
