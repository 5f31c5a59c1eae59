import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Operation } from '../../src/core/types.js';
import { openCurrentSnapshot } from '../../src/pipeline/current.js';
import { readLedger } from '../../src/pipeline/ledger.js';
import { verifyCollection } from '../../src/pipeline/verify.js';
import { generateChanges } from '../../src/workload/synthetic.js';
import { ReferenceModel } from '../helpers/model.js';
import { compactInline, ingestBatches, smallCollection, upserts } from '../helpers/pipeline.js';
import { tempStore } from '../helpers/tmp.js';

describe('compaction, end to end on a local store', () => {
  it('promotes every delta exactly once and equals the reference model, round after round', async () => {
    await using t = await tempStore();
    const config = await smallCollection(t.store);
    const model = new ReferenceModel();
    const first = upserts(1, 600, 8);
    await ingestBatches(t.store, config, first, 50); // 12 deltas → 4 chunks → 2 groups
    model.applyAll(first);
    const r1 = await compactInline(t.store, 'lines');
    expect(r1).toMatchObject({
      status: 'published',
      deltas: 12,
      chunks: 4,
      groups: 2,
      groupsSucceeded: 2,
      groupsFailed: 0,
    });
    expect(r1.snapshot).toMatchObject({
      version: 1,
      count: 600,
      build: 'full',
      contentHash: model.contentHash(),
    });

    // round 2: a 5% change set → incremental build onto v1
    const ids = model.sortedIds();
    const changes = [...generateChanges({ seed: 1, existingIds: ids, count: 30, dimension: 8, round: 2 })];
    await ingestBatches(t.store, config, changes, 10);
    model.applyAll(changes);
    const r2 = await compactInline(t.store, 'lines');
    expect(r2.snapshot).toMatchObject({
      version: 2,
      build: 'incremental',
      contentHash: model.contentHash(),
      count: model.records.size,
    });

    const v = await verifyCollection(t.store, 'lines');
    expect(v.problems).toEqual([]);
    expect(v.ok).toBe(true);
    const ledger = await readLedger(t.store, 'lines');
    expect(ledger.counts).toEqual({ pending: 0, compacting: 0, promoted: 15, quarantined: 0 });
    expect(new Set(ledger.entries.filter((e) => e.version === 2).map((e) => e.seqStart)).size).toBe(3);

    // nothing pending: a no-op, the pointer does not move
    const r3 = await compactInline(t.store, 'lines');
    expect(r3.status).toBe('nothing-to-do');

    // the published snapshot answers queries; deleted ids are gone
    const { segment } = await openCurrentSnapshot(t.store, 'lines');
    await using _s = segment;
    const deleted = changes.filter((c) => c.op === 'delete').map((c) => c.id);
    expect(segment.reader.getRows(deleted).size).toBe(0);
    const someId = model.sortedIds()[7]!;
    const hits = segment.reader.search(model.records.get(someId)!.embedding, 5);
    expect(hits[0]?.id).toBe(someId);
  });

  it('incremental and full builds of the same change give the same content hash', async () => {
    const ops = upserts(2, 400, 8);
    const changes = [
      ...generateChanges({ seed: 2, existingIds: ops.map((o) => o.id), count: 20, dimension: 8, round: 2 }),
    ];
    const hashes: string[] = [];
    for (const threshold of [0.5, 0]) {
      await using t = await tempStore();
      const config = await smallCollection(t.store);
      await ingestBatches(t.store, config, ops, 100);
      await compactInline(t.store, 'lines');
      await ingestBatches(t.store, config, changes, 7);
      const r = await compactInline(t.store, 'lines', { incrementalThreshold: threshold });
      expect(r.snapshot?.build).toBe(threshold > 0 ? 'incremental' : 'full');
      hashes.push(r.snapshot!.contentHash);
    }
    expect(hashes[0]).toBe(hashes[1]);
    expect(hashes[0]).toBe(new ReferenceModel().applyAll(ops).applyAll(changes).contentHash());
  });

  it('property: any chunk/group sizes give the reference model’s content hash', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1_000 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 3, max: 25 }),
        async (seed, chunkSize, groupSize, perDelta) => {
          await using t = await tempStore();
          const config = await smallCollection(t.store, 'p', 4);
          const base = upserts(seed, 60, 4);
          const more: Operation[] = [
            ...generateChanges({
              seed,
              existingIds: base.map((o) => o.id),
              count: 40,
              dimension: 4,
              round: 1,
            }),
          ];
          await ingestBatches(t.store, config, [...base, ...more], perDelta);
          const r = await compactInline(t.store, 'p', { chunkSize, groupSize });
          expect(r.snapshot?.contentHash).toBe(
            new ReferenceModel().applyAll(base).applyAll(more).contentHash(),
          );
        },
      ),
      { numRuns: 12 },
    );
  });
});
