import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LtHash } from '../../src/core/lthash.js';
import type { SegmentManifest } from '../../src/core/manifest.js';
import type { Metadata } from '../../src/core/types.js';
import {
  compareIds,
  SegmentMerger,
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
  await using w = await SegmentWriter.create({ dir, kind: 'data', config: cfg, buildIndex, threads: 2 });
  for (const row of [...rows].sort((a, b) => compareIds(a.id, b.id))) w.append(row);
  return { dir, manifest: await w.seal({ seqRange: [1, 2], inputs: ['base'] }) };
}

const lt = (rows: Iterable<SegmentRow>) => {
  const h = new LtHash();
  for (const r of rows) h.add({ ...r, metadata: r.metadata as Metadata | null });
  return h;
};

describe('SegmentMerger: a data segment built on the largest input, keeping its graph', () => {
  it('gives the same content hash as a full build of the same records, keys kept for the base rows', async () => {
    const r = rng(11);
    const N = 2000;
    const m = clustered(r, N + 200, D, 20);
    const vec = (i: number) => m.slice(i * D, (i + 1) * D);
    const records = new Map<string, SegmentRow>();
    for (let i = 0; i < N; i++) {
      const id = `rec-${i}`;
      records.set(id, put(id, vec(i), i, { document: `doc ${i}`, metadata: { i, tag: `t${i % 5}` } }));
    }
    const base = await full([...records.values()]);
    expect(base.manifest.kind).toBe('data');
    expect(base.manifest.maxKey).toBe(N);
    expect(LtHash.decode(base.manifest.lthash!).equals(lt(records.values()))).toBe(true);
    expect(base.manifest.contentHash).toBe(lt(records.values()).digest());

    const dir = fresh();
    const w = await SegmentMerger.create({ dir, config: cfg, base, buildIndex: true, threads: 2 });
    // remove 20 rows by key (keys are 1..N in id order for a full build), add 150 rows of other inputs
    await using baseReader = await SegmentReader.open(base.dir);
    const byKey = new Map([...baseReader.scanIds()]);
    const removed = Array.from({ length: 20 }, (_, i) => 1 + i * 97);
    for (const key of removed) {
      w.remove(key);
      records.delete(byKey.get(key)!);
    }
    expect(() => w.remove(removed[0]!)).toThrow(/not a put/);
    const added: number[] = [];
    for (let i = 0; i < 150; i++) {
      const row = put(`new-${i}`, vec(N + i), 5000 + i, { metadata: { fresh: true, tags: ['a', `n${i}`] } });
      added.push(w.add(row));
      records.set(row.id, row);
    }
    expect(added[0]).toBe(N + 1); // new keys follow the base's largest
    const merged = await w.seal({ seqRange: [1, 3], inputs: ['a', 'b'] });
    await w.close();
    expect(openHandlesUnder(dir)?.fds ?? []).toEqual([]);

    const rebuilt = await full([...records.values()]);
    expect(merged.counts).toEqual(rebuilt.manifest.counts);
    expect(merged.counts.records).toBe(N - 20 + 150);
    expect(merged.contentHash).toBe(rebuilt.manifest.contentHash);
    expect(merged.lthash).toBe(rebuilt.manifest.lthash);
    expect(merged.maxKey).toBe(N + 150);
    expect((await verifySegment(dir, merged, { full: true })).problems).toEqual([]);

    await using reader = await SegmentReader.open(dir);
    // kept rows keep their keys: a deletion vector written against the base names the same rows here
    expect(reader.keysOf(['new-0']).get('new-0')).toBe(N + 1);
    for (const [key, id] of reader.scanIds()) if (key <= N) expect(byKey.get(key)).toBe(id);
    // the added vectors are found by the index, the removed ones are not
    for (const id of ['new-3', 'new-149', 'rec-1031']) {
      const hit = reader.searchKeys(records.get(id)!.embedding!, 3);
      expect(reader.rowsByKey([hit.keys[0]!]).get(hit.keys[0]!)!.id).toBe(id);
    }
    const gone = reader.searchKeys(vec(97), 10).keys.map((k) => reader.rowsByKey([k]).get(k)!.id);
    expect(gone).not.toContain(byKey.get(98));
  });

  it('indexes every row at seal when the base has no index', async () => {
    const r = rng(12);
    const m = clustered(r, 300, D, 5);
    const rows = Array.from({ length: 300 }, (_, i) =>
      put(`x${String(i).padStart(3, '0')}`, m.slice(i * D, (i + 1) * D)),
    );
    const base = await full(rows, false);
    expect(base.manifest.index).toBeNull();
    const dir = fresh();
    {
      await using w = await SegmentMerger.create({ dir, config: cfg, base, buildIndex: true });
      w.remove(1);
      w.add(put('y', m.slice(0, D)));
      await w.seal({ seqRange: null, inputs: [] });
    }
    await using reader = await SegmentReader.open(dir, { verify: 'full' });
    expect(reader.hasIndex).toBe(true);
    expect(reader.count).toBe(300);
    expect(reader.search(m.slice(0, D), 1)[0]!.id).toBe('y');
  });

  it('refuses a base that is not a data segment, or whose store disagrees with its manifest', async () => {
    const base = await full([put('a', new Float32Array(D).fill(1))]);
    const lying = {
      ...base,
      manifest: { ...base.manifest, counts: { ...base.manifest.counts, records: 5 } },
    };
    const dir = fresh();
    await expect(
      SegmentMerger.create({ dir, config: cfg, base: lying, buildIndex: true }),
    ).rejects.toMatchObject({
      code: 'E_VERIFY_FAILED',
    });
    expect(openHandlesUnder(dir)?.fds ?? []).toEqual([]);
    const chunk = { ...base, manifest: { ...base.manifest, kind: 'chunk' as const } };
    await expect(
      SegmentMerger.create({ dir: fresh(), config: cfg, base: chunk, buildIndex: true }),
    ).rejects.toThrow(/data segment/);
  });

  it('a data segment below its index threshold has no index; at the threshold it has one', async () => {
    const r = rng(13);
    const m = clustered(r, 200, D, 5);
    const rows = (k: number) =>
      Array.from({ length: k }, (_, i) => put(`r${String(i).padStart(3, '0')}`, m.slice(i * D, (i + 1) * D)));
    for (const [count, indexed] of [
      [99, false],
      [100, true],
    ] as const) {
      const dir = fresh();
      await using w = await SegmentWriter.create({
        dir,
        kind: 'data',
        config: cfg,
        buildIndex: { minRows: 100 },
      });
      for (const row of rows(count)) w.append(row);
      const man = await w.seal({ seqRange: null, inputs: [] });
      expect(man.index !== null).toBe(indexed);
      expect((await verifySegment(dir, man, { full: true })).problems).toEqual([]);
    }
  });
});
