/** Hot swap: a new snapshot becomes current atomically; the old one closes only after its last query. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseRefOf, readPointer } from '../../src/pipeline/pointer.js';
import { readVersion } from '../../src/pipeline/versions.js';
import { SnapshotSet } from '../../src/server/snapshots.js';
import { compactInline, ingestBatches, smallCollection, upserts } from '../helpers/pipeline.js';
import { tempStore } from '../helpers/tmp.js';

describe('SnapshotSet', () => {
  let ctx: Awaited<ReturnType<typeof tempStore>>;
  beforeAll(async () => {
    ctx = await tempStore();
  });
  afterAll(async () => {
    await ctx?.[Symbol.asyncDispose]();
  });

  it('swaps in a moved pointer and closes the old snapshot after its in-flight query releases it', async () => {
    const config = await smallCollection(ctx.store, 'sw', 8);
    await ingestBatches(ctx.store, config, upserts(1, 100, 8), 50);
    await compactInline(ctx.store, 'sw', { merge: 'none' });
    const swaps: Array<[number | null, number | null]> = [];
    const set = new SnapshotSet(ctx.store, { onSwap: (e) => swaps.push([e.from, e.to]) });
    try {
      const v1 = (await set.get('sw'))!;
      expect(v1.version).toBe(1);
      const inflight = v1.acquire(); // a query still running on v1

      expect(await set.refresh('sw')).toBe(v1); // pointer unchanged: nothing reopened
      await ingestBatches(ctx.store, config, upserts(1, 50, 8, 100), 50);
      await compactInline(ctx.store, 'sw', { merge: 'none' });
      const v2 = (await set.refresh('sw'))!;
      expect(v2.version).toBe(2);
      expect(set.current('sw')).toBe(v2);
      expect(swaps).toEqual([
        [null, 1],
        [1, 2],
      ]);

      // The in-flight query still reads v1, whole and unchanged.
      expect(inflight.isClosed).toBe(false);
      expect(inflight.view.count).toBe(100);
      const first = inflight.view.select({})[0]!;
      const src = inflight.view.parts[first.part]!.source;
      expect(
        inflight.view
          .knn(src.gather([first.row]), 1, inflight.view.evaluate({}))
          .hits.map((h) => inflight.view.id(h)),
      ).toEqual([inflight.view.id(first)]);
      expect(set.draining).toBe(1);

      inflight.release();
      await inflight.closed();
      expect(inflight.isClosed).toBe(true);
      expect(set.draining).toBe(0);
      expect(() => inflight.acquire()).toThrow(/closed/);
      expect(v2.view.count).toBe(150);
      // the segment both versions list was opened once and is still open for v2
      expect(set.openSegments).toBe(v2.segments.length);
    } finally {
      await set.close();
    }
  });

  it('keeps serving the old snapshot when the new one fails verification', async () => {
    const config = await smallCollection(ctx.store, 'bad', 8);
    await ingestBatches(ctx.store, config, upserts(2, 60, 8), 30);
    await compactInline(ctx.store, 'bad', { merge: 'none' });
    const errors: string[] = [];
    const set = new SnapshotSet(ctx.store, { onError: (_c, e) => errors.push(e.code) });
    try {
      const v1 = (await set.get('bad'))!;
      await ingestBatches(ctx.store, config, upserts(2, 10, 8, 60), 10);
      await compactInline(ctx.store, 'bad', { merge: 'none' });
      // Corrupt the new version's new segment after publish: its checksum no longer matches.
      const v2 = await readVersion(ctx.store, baseRefOf(await readPointer(ctx.store, 'bad'))!, 'bad');
      const fresh = v2.manifest.segments.find(
        (s) => !v1.manifest.segments.some((o) => o.manifestSha256 === s.manifestSha256),
      )!;
      const { writeFile } = await import('node:fs/promises');
      await writeFile(ctx.store.localPath(`${fresh.prefix}records.sqlite`)!, 'garbage');
      await set.refreshAll();
      expect(errors.length).toBe(1);
      expect(set.current('bad')).toBe(v1);
      expect(v1.isClosed).toBe(false);
    } finally {
      await set.close();
    }
  });
});
