import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SegmentManifest } from '../../src/core/manifest.js';
import {
  compareIds,
  SegmentReader,
  type SegmentRow,
  SegmentWriter,
  verifySegment,
} from '../../src/engine/index.js';
import { clustered, config, openHandlesUnder, put, rng, tmp } from './helpers.js';

const D = 16;
const cfg = config({ dimension: D, quantization: 'f16' });
let root: { dir: string; cleanup: () => void };
let n = 0;
const fresh = () => join(root.dir, `seg-${n++}`);
beforeAll(() => {
  root = tmp();
});
afterAll(() => root.cleanup());

async function full(
  rows: SegmentRow[],
  buildIndex = true,
): Promise<{ dir: string; manifest: SegmentManifest }> {
  const dir = fresh();
  await using w = await SegmentWriter.create({ dir, kind: 'snapshot', config: cfg, buildIndex, threads: 2 });
  for (const row of [...rows].sort((a, b) => compareIds(a.id, b.id))) w.append(row);
  return { dir, manifest: await w.seal({ seqRange: [1, 2], inputs: ['base'] }) };
}

describe('incremental builds', () => {
  it('give the same content hash as a full build of the same records (1% changed)', async () => {
    const r = rng(11);
    const N = 2000;
    const m = clustered(r, N + 100, D, 20);
    const vec = (i: number) => m.slice(i * D, (i + 1) * D);
    const records = new Map<string, SegmentRow>();
    for (let i = 0; i < N; i++) {
      const id = `rec-${i}`;
      records.set(id, put(id, vec(i), i, { document: `doc ${i}`, metadata: { i, tag: `t${i % 5}` } }));
    }
    const base = await full([...records.values()]);
    expect(base.manifest.counts.records).toBe(N);

    const dir = fresh();
    const w = await SegmentWriter.create({
      dir,
      kind: 'snapshot',
      config: cfg,
      buildIndex: true,
      base,
      threads: 2,
    });
    let extra = N;
    // 7 removes, 7 new puts, 6 replaced puts (one replaced twice, one new put removed again)
    for (let i = 0; i < 7; i++) {
      const id = `rec-${i * 97}`;
      expect(w.remove(id)).toBe(true);
      records.delete(id);
    }
    expect(w.remove('never-existed')).toBe(false);
    for (let i = 0; i < 7; i++) {
      const row = put(`new-${i}`, vec(extra++), 5000 + i, {
        metadata: { fresh: true, tags: ['a', `n${i}`] },
      });
      w.upsert(row);
      records.set(row.id, row);
    }
    for (let i = 0; i < 6; i++) {
      const id = `rec-${1000 + i * 31}`;
      const row = put(id, vec(extra++), 6000 + i, { document: 'replaced' });
      w.upsert(row);
      records.set(id, row);
    }
    const twice = put('rec-1000', vec(extra++), 7000, { document: 'replaced twice' });
    w.upsert(twice);
    records.set(twice.id, twice);
    w.upsert(put('gone-again', vec(extra++), 7001));
    expect(w.remove('gone-again')).toBe(true);
    const inc = await w.seal({ seqRange: [1, 3], inputs: ['base', 'delta'] });
    await w.close();
    expect(openHandlesUnder(dir)?.fds ?? []).toEqual([]);

    const rebuilt = await full([...records.values()]);
    expect(inc.counts).toEqual(rebuilt.manifest.counts);
    expect(inc.counts.records).toBe(N - 7 + 7);
    expect(inc.contentHash).toBe(rebuilt.manifest.contentHash);
    expect(inc.contentHash).not.toBe(base.manifest.contentHash);

    expect((await verifySegment(dir, inc, { full: true })).problems).toEqual([]);
    await using reader = await SegmentReader.open(dir);
    expect(reader.count).toBe(records.size);
    expect(reader.getRows(['rec-1000']).get('rec-1000')!.document).toBe('replaced twice');
    expect(reader.getRows(['rec-0', 'gone-again']).size).toBe(0);
    // the replaced and new vectors are found by the index, the removed ones are not
    for (const id of ['new-3', 'rec-1031', 'rec-1000']) {
      const hits = reader.search(records.get(id)!.embedding!, 3);
      expect(hits[0]!.id).toBe(id);
    }
    const removedVec = vec(97);
    expect(reader.search(removedVec, 10).map((h) => h.id)).not.toContain('rec-97');
    // metadata_index follows the new record set
    const db = reader.database;
    expect(db.prepare("SELECT count(*) FROM metadata_index WHERE name = 'fresh'").pluck().get()).toBe(7);
    expect(db.prepare("SELECT count(*) FROM metadata_index WHERE name = 'i'").pluck().get()).toBe(N - 7 - 6);
    // …entry for entry, as a full build of the same records has it (the incremental build updates the
    // base's index in place; a full build fills it from scratch)
    const entries = (d: typeof db) =>
      d
        .prepare(
          'SELECT r.id, m.name, m.s, m.n, m.b FROM metadata_index AS m JOIN records AS r USING (key) ORDER BY 1, 2, 3, 4, 5',
        )
        .raw()
        .all();
    await using full2 = await SegmentReader.open(rebuilt.dir);
    const want = entries(full2.database);
    expect(want.length).toBe(2 * (N - 7 - 6) + 7 * 3);
    expect(entries(db)).toEqual(want);
  });

  it('build the index at seal when the base has none, and carry tombstones in chunks', async () => {
    const r = rng(12);
    const m = clustered(r, 300, D, 5);
    const rows = Array.from({ length: 300 }, (_, i) =>
      put(`x${String(i).padStart(3, '0')}`, m.slice(i * D, (i + 1) * D)),
    );
    const base = await full(rows, false);
    expect(base.manifest.index).toBeNull();
    const dir = fresh();
    {
      await using w = await SegmentWriter.create({
        dir,
        kind: 'snapshot',
        config: cfg,
        buildIndex: true,
        base,
      });
      w.remove('x000');
      w.upsert(put('x001', m.slice(0, D)));
      await w.seal({ seqRange: null, inputs: [] });
    }
    await using reader = await SegmentReader.open(dir, { verify: 'full' });
    expect(reader.hasIndex).toBe(true);
    expect(reader.count).toBe(299);
    expect(reader.search(m.slice(0, D), 1)[0]!.id).toBe('x001');

    const chunkCfg = config({ dimension: D });
    const cdir = fresh();
    const cw = await SegmentWriter.create({ dir: cdir, kind: 'chunk', config: chunkCfg, buildIndex: false });
    cw.append(put('a', m.slice(0, D)));
    cw.append({ id: 'b', kind: 'tombstone', seq: 2, embedding: null, document: null, metadata: null });
    const cm = await cw.seal({ seqRange: null, inputs: [] });
    await cw.close();
    const idir = fresh();
    await using iw = await SegmentWriter.create({
      dir: idir,
      kind: 'chunk',
      config: chunkCfg,
      buildIndex: false,
      base: { dir: cdir, manifest: cm },
    });
    iw.upsert({ id: 'a', kind: 'tombstone', seq: 3, embedding: null, document: null, metadata: null });
    iw.upsert({ id: 'c', kind: 'patch', seq: 4, embedding: null, document: 'd', metadata: undefined });
    const im = await iw.seal({ seqRange: null, inputs: [] });
    expect(im.counts).toEqual({ records: 0, tombstones: 2, patches: 1 });
    expect(() => iw.append(put('z', m.slice(0, D)))).toThrow(/after seal|closed/);
  });

  it('refuses a base whose store disagrees with its manifest', async () => {
    const rows = [put('a', new Float32Array(D).fill(1))];
    const base = await full(rows);
    const lying = {
      ...base,
      manifest: { ...base.manifest, counts: { ...base.manifest.counts, records: 5 } },
    };
    const dir = fresh();
    await expect(
      SegmentWriter.create({ dir, kind: 'snapshot', config: cfg, buildIndex: true, base: lying }),
    ).rejects.toMatchObject({ code: 'E_VERIFY_FAILED' });
    expect(openHandlesUnder(dir)?.fds ?? []).toEqual([]);
  });
});
