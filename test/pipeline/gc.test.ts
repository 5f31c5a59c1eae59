import { describe, expect, it } from 'vitest';
import { gcCollection } from '../../src/pipeline/gc.js';
import { Keys } from '../../src/pipeline/layout.js';
import { openVersion } from '../../src/pipeline/open-version.js';
import { readPointer } from '../../src/pipeline/pointer.js';
import { verifyCollection } from '../../src/pipeline/verify.js';
import { compactInline, ingestBatches, smallCollection, upserts } from '../helpers/pipeline.js';
import { tempStore } from '../helpers/tmp.js';

describe('retention and garbage collection', () => {
  it('keeps what the current and retained versions list, deletes the rest and finished runs only after the grace period', async () => {
    await using t = await tempStore();
    const config = await smallCollection(t.store);
    for (let round = 0; round < 5; round++) {
      // updates of earlier records too, so older segments gather deletions
      await ingestBatches(t.store, config, upserts(0, 40, 8, round * 20), 20);
      await compactInline(t.store, 'lines', { retain: 3, merge: round === 2 ? 'all' : 'none' });
    }
    const p = (await readPointer(t.store, 'lines'))!.value;
    expect(p.version).toBe(6); // 5 publishes and one merge
    expect(p.retained.map((r) => r.version)).toEqual([5, 4]);
    const listed = async () => ({
      versions: (await t.store.list(Keys.versionsPrefix('lines'))).length,
      segments: new Set((await t.store.list(Keys.segmentsPrefix('lines'))).map((o) => o.key.split('/')[3]))
        .size,
      dvs: (await t.store.list(Keys.deletionsPrefix('lines'))).length,
    });
    const all = await listed();
    expect(all.versions).toBe(6);

    // within the grace period nothing goes
    const young = await gcCollection(t.store, 'lines', { graceMs: 60_000 });
    expect(young.deletedVersions + young.deletedSegments.length + young.deletedDeletionVectors).toBe(0);
    expect(young.deletedRuns).toEqual([]);

    const dry = await gcCollection(t.store, 'lines', { graceMs: 0, dryRun: true });
    expect(dry.deletedVersions).toBe(3);
    expect(dry.deletedSegments.length).toBeGreaterThan(0);
    expect(await listed()).toEqual(all);

    const r = await gcCollection(t.store, 'lines', { graceMs: 0 });
    expect(r.deletedSegments.sort()).toEqual(dry.deletedSegments.sort());
    expect(r.deletedRuns.length).toBeGreaterThanOrEqual(5);
    expect((await listed()).versions).toBe(3);
    // every kept version still opens, every segment and deletion vector checked; the current one fully
    for (const v of [p, ...p.retained]) {
      await using o = await openVersion(t.store, 'lines', {
        version: v.version,
        manifest: v.manifest,
        manifestSha256: v.manifestSha256!,
      });
      expect(o.count).toBeGreaterThan(0);
    }
    expect((await verifyCollection(t.store, 'lines')).ok).toBe(true);
    // run records stay (operators read them); their intermediates are gone
    const runObjs = await t.store.list(Keys.runsPrefix('lines'));
    expect(runObjs.every((o) => o.key.endsWith('/run.json'))).toBe(true);
  });

  it('keeps a version superseded less than the grace period ago, with everything it lists', async () => {
    await using t = await tempStore();
    const config = await smallCollection(t.store);
    for (let round = 0; round < 4; round++) {
      await ingestBatches(t.store, config, upserts(round, 30, 8, round * 15), 30);
      await compactInline(t.store, 'lines', { retain: 1, merge: 'none' });
    }
    const p = (await readPointer(t.store, 'lines'))!.value;
    expect(p.retained).toEqual([]);
    // the versions just superseded are no longer retained, but a reader may have resolved them a moment ago
    const r = await gcCollection(t.store, 'lines', { graceMs: 60_000 });
    expect(r.deletedVersions).toBe(0);
    expect(r.deletedSegments).toEqual([]);
  });
});
