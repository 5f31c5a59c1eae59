import { describe, expect, it } from 'vitest';
import { gcCollection } from '../../src/pipeline/gc.js';
import { Keys } from '../../src/pipeline/layout.js';
import { readPointer } from '../../src/pipeline/pointer.js';
import { openStoredSegment } from '../../src/pipeline/segments.js';
import { verifyCollection } from '../../src/pipeline/verify.js';
import { compactInline, ingestBatches, smallCollection, upserts } from '../helpers/pipeline.js';
import { tempStore } from '../helpers/tmp.js';

describe('retention and garbage collection', () => {
  it('keeps the current and retained snapshots, deletes the rest and finished runs only after the grace period', async () => {
    await using t = await tempStore();
    const config = await smallCollection(t.store);
    for (let round = 0; round < 5; round++) {
      await ingestBatches(t.store, config, upserts(round, 40, 8, round * 40), 20);
      await compactInline(t.store, 'lines', { retain: 3 });
    }
    const p = (await readPointer(t.store, 'lines'))!.value;
    expect(p.version).toBe(5);
    expect(p.retained.map((r) => r.version)).toEqual([4, 3]);
    const snapshots = async () =>
      new Set((await t.store.list(Keys.snapshotsPrefix('lines'))).map((o) => o.key.split('/')[3]));
    expect((await snapshots()).size).toBe(5);

    // within the grace period nothing goes
    const young = await gcCollection(t.store, 'lines', { graceMs: 60_000 });
    expect(young.deletedSnapshots).toEqual([]);
    expect(young.deletedRuns).toEqual([]);

    const dry = await gcCollection(t.store, 'lines', { graceMs: 0, dryRun: true });
    expect(dry.deletedSnapshots).toHaveLength(2);
    expect((await snapshots()).size).toBe(5);

    const r = await gcCollection(t.store, 'lines', { graceMs: 0 });
    expect(r.deletedSnapshots.sort()).toEqual(dry.deletedSnapshots.sort());
    expect(r.deletedRuns).toHaveLength(5);
    expect((await snapshots()).size).toBe(3);
    // every retained snapshot still opens and verifies; the current one fully
    for (const s of [p.snapshot, ...p.retained.map((x) => x.snapshot)]) {
      await using seg = await openStoredSegment(t.store, s);
      expect(seg.reader.count).toBeGreaterThan(0);
    }
    expect((await verifyCollection(t.store, 'lines')).ok).toBe(true);
    // run records stay (operators read them); their intermediates are gone
    const runObjs = await t.store.list(Keys.runsPrefix('lines'));
    expect(runObjs.every((o) => o.key.endsWith('/run.json'))).toBe(true);
  });
});
