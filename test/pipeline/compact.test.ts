import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Operation } from '../../src/core/types.js';
import { openCurrentVersion } from '../../src/pipeline/current.js';
import { readLedger } from '../../src/pipeline/ledger.js';
import { baseRefOf, readPointer } from '../../src/pipeline/pointer.js';
import { verifyCollection } from '../../src/pipeline/verify.js';
import { readVersion } from '../../src/pipeline/versions.js';
import { generateChanges } from '../../src/workload/synthetic.js';
import { ReferenceModel } from '../helpers/model.js';
import { compactInline, ingestBatches, smallCollection, upserts } from '../helpers/pipeline.js';
import { tempStore } from '../helpers/tmp.js';

const current = async (store: Parameters<typeof readPointer>[0], c: string) =>
  (await readVersion(store, baseRefOf(await readPointer(store, c))!, c)).manifest;

describe('compaction, end to end on a local store', () => {
  it('promotes every delta exactly once and equals the reference model, round after round', async () => {
    await using t = await tempStore();
    const config = await smallCollection(t.store);
    const model = new ReferenceModel();
    const first = upserts(1, 600, 8);
    await ingestBatches(t.store, config, first, 50); // 12 deltas → 4 chunks → 2 groups
    model.applyAll(first);
    const r1 = await compactInline(t.store, 'lines', { merge: 'none' });
    expect(r1).toMatchObject({
      status: 'published',
      deltas: 12,
      chunks: 4,
      groups: 2,
      groupsSucceeded: 2,
      groupsFailed: 0,
    });
    // one data segment per group, nothing superseded yet
    expect(r1.snapshot).toMatchObject({
      version: 1,
      count: 600,
      segments: 2,
      contentHash: model.contentHash(),
    });
    expect((await current(t.store, 'lines')).segments.map((s) => [s.rows, s.deleted])).toEqual([
      [300, 0],
      [300, 0],
    ]);

    // round 2: a 5% change set → one new segment and deletion vectors on the old ones; nothing rewritten
    const before = await current(t.store, 'lines');
    const ids = model.sortedIds();
    const changes = [...generateChanges({ seed: 1, existingIds: ids, count: 30, dimension: 8, round: 2 })];
    await ingestBatches(t.store, config, changes, 10);
    model.applyAll(changes);
    const r2 = await compactInline(t.store, 'lines', { merge: 'none' });
    expect(r2.snapshot).toMatchObject({
      version: 2,
      contentHash: model.contentHash(),
      count: model.records.size,
    });
    const after = await current(t.store, 'lines');
    for (const s of before.segments) {
      const now = after.segments.find((x) => x.manifestSha256 === s.manifestSha256);
      if (now) expect(now.rows).toBe(s.rows); // the same immutable segment, listed again
    }
    expect(after.segments.reduce((n, s) => n + s.deleted, 0)).toBeGreaterThan(0);
    expect(r2.snapshot!.newBytes).toBeLessThan(before.segments.reduce((n, s) => n + s.bytes, 0));

    const v = await verifyCollection(t.store, 'lines');
    expect(v.problems).toEqual([]);
    expect(v.ok).toBe(true);
    const ledger = await readLedger(t.store, 'lines');
    expect(ledger.counts).toEqual({
      pending: 0,
      compacting: 0,
      promoted: 15,
      'rolled-back': 0,
      quarantined: 0,
    });
    expect(new Set(ledger.entries.filter((e) => e.version === 2).map((e) => e.seqStart)).size).toBe(3);

    // nothing pending: a no-op, the pointer does not move
    const r3 = await compactInline(t.store, 'lines');
    expect(r3.status).toBe('nothing-to-do');

    // the published version answers queries; deleted ids are gone; updated records show their update
    await using q = await openCurrentVersion(t.store, 'lines');
    const deleted = changes.filter((c) => c.op === 'delete').map((c) => c.id);
    expect(q.get(deleted).size).toBe(0);
    for (const c of changes.filter((x) => x.op !== 'delete')) {
      const want = model.records.get(c.id);
      const got = q.get([c.id]).get(c.id);
      if (!want) expect(got).toBeUndefined();
      else expect([got?.document ?? null, got?.metadata ?? null]).toEqual([want.document, want.metadata]);
    }
    expect(q.count).toBe(model.records.size);
    const someId = model.sortedIds()[7]!;
    expect(q.search(model.records.get(someId)!.embedding, 5).hits[0]?.id).toBe(someId);
  });

  it('merges: the policy merges what it asks for, and the record set (content hash) never changes by a merge', async () => {
    await using t = await tempStore();
    const config = await smallCollection(t.store);
    const model = new ReferenceModel();
    const ops = upserts(3, 800, 8);
    await ingestBatches(t.store, config, ops, 50); // 16 deltas → 6 chunks → 3 groups → 3 segments
    model.applyAll(ops);
    const r = await compactInline(t.store, 'lines');
    expect(r.status).toBe('published');
    expect(r.merges?.published.length).toBeGreaterThan(0);
    const m = await current(t.store, 'lines');
    expect(m.cause).toBe('merge');
    expect(m.segments).toHaveLength(1);
    expect(m.contentHash).toBe(model.contentHash());
    const changes = [
      ...generateChanges({ seed: 3, existingIds: model.sortedIds(), count: 60, dimension: 8, round: 2 }),
    ];
    await ingestBatches(t.store, config, changes, 20);
    model.applyAll(changes);
    await compactInline(t.store, 'lines', { merge: 'all' });
    const all = await current(t.store, 'lines');
    expect(all.segments).toHaveLength(1);
    expect(all.segments[0]!.deleted).toBe(0);
    expect(all.contentHash).toBe(model.contentHash());
    expect((await verifyCollection(t.store, 'lines')).problems).toEqual([]);
  });

  it('property: any chunk/group sizes, any merges, give the reference model’s content hash', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1_000 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 3, max: 25 }),
        fc.constantFrom('auto', 'none', 'all'),
        async (seed, chunkSize, groupSize, perDelta, merge) => {
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
          const model = new ReferenceModel().applyAll(base);
          await ingestBatches(t.store, config, base, perDelta);
          await compactInline(t.store, 'p', {
            chunkSize,
            groupSize,
            merge: merge as 'auto' | 'none' | 'all',
          });
          await ingestBatches(t.store, config, more, perDelta);
          model.applyAll(more);
          const r = await compactInline(t.store, 'p', {
            chunkSize,
            groupSize,
            merge: merge as 'auto' | 'none' | 'all',
          });
          expect(r.snapshot?.contentHash).toBe(model.contentHash());
          expect((await readPointer(t.store, 'p'))!.value.contentHash).toBe(model.contentHash());
          const v = await verifyCollection(t.store, 'p');
          expect(v.problems).toEqual([]);
          await using q = await openCurrentVersion(t.store, 'p');
          expect(new Set(q.ids())).toEqual(new Set(model.records.keys()));
        },
      ),
      { numRuns: 6 },
    );
  });
});
