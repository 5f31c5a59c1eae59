import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrataError, VerificationError } from '../../src/core/errors.js';
import { reloadFailpoints } from '../../src/core/failpoints.js';
import { ContentHasher, sha256Hex } from '../../src/core/hash.js';
import { LtHash } from '../../src/core/lthash.js';
import { parseManifest } from '../../src/core/manifest.js';
import type { Metadata } from '../../src/core/types.js';
import {
  compareIds,
  hashSegmentRow,
  SEGMENT_FILES,
  SegmentReader,
  type SegmentRow,
  SegmentWriter,
} from '../../src/engine/index.js';
import { RecordStore } from '../../src/engine/record-store.js';
import { config, openHandlesUnder, put, randomVector, rng, tmp } from './helpers.js';

let root: { dir: string; cleanup: () => void };
let n = 0;
const fresh = () => join(root.dir, `seg-${n++}`);
beforeAll(() => {
  root = tmp();
});
afterAll(() => root.cleanup());

const cfg = config({ dimension: 8 });

function mixedRows(): SegmentRow[] {
  const r = rng(1);
  const rows: SegmentRow[] = [
    put('a', randomVector(r, 8), 3, {
      document: 'hello',
      metadata: { b: 2, a: 'x', tags: ['p', 'q'], ok: true },
    }),
    { id: 'b', kind: 'tombstone', seq: 4, embedding: null, document: null, metadata: null },
    { id: 'c', kind: 'patch', seq: 5, embedding: null, document: undefined, metadata: { k: null, n: 1.5 } },
    { id: 'd', kind: 'patch', seq: 6, embedding: null, document: 'new doc', metadata: undefined },
    { id: 'e', kind: 'patch', seq: 7, embedding: null, document: null, metadata: null },
    put('é', randomVector(r, 8), 8, { document: '', metadata: {} }),
    put('\uFF61', randomVector(r, 8), 9),
    put('\u{1F600}', randomVector(r, 8), 10, { document: 'emoji \u{1F600}' }),
    put('日本', randomVector(r, 8), 2),
  ];
  return rows.sort((x, y) => compareIds(x.id, y.id));
}

describe('SegmentWriter / SegmentReader', () => {
  it('round-trips put, tombstone and patch rows with unicode ids in UTF-8 order', async () => {
    const dir = fresh();
    const rows = mixedRows();
    const w = await SegmentWriter.create({ dir, kind: 'chunk', config: cfg, buildIndex: false, threads: 1 });
    for (const row of rows) w.append(row);
    const m = await w.seal({ seqRange: [1, 10], inputs: ['d1', 'd2'] });
    await w.close();
    expect(m.counts).toEqual({ records: 5, tombstones: 1, patches: 3 });
    expect(m.index).toBeNull();
    expect(m.files.map((f) => f.name)).toEqual([SEGMENT_FILES.records]);
    expect(m.seqRange).toEqual([1, 10]);
    expect(m.inputs).toEqual(['d1', 'd2']);
    expect(m.kind).toBe('chunk');
    expect(m.shard).toEqual({ index: 0, count: 1 });
    expect(existsSync(join(dir, SEGMENT_FILES.index))).toBe(false);

    const h = new ContentHasher();
    for (const row of rows) hashSegmentRow(h, row);
    expect(m.contentHash).toBe(h.digest());

    await using reader = await SegmentReader.open(dir, { verify: 'full' });
    expect(reader.hasIndex).toBe(false);
    expect(reader.count).toBe(5);
    const scanned = [...reader.scan(2)];
    expect(scanned.map((r) => r.id)).toEqual(rows.map((r) => r.id));
    expect(scanned.map((r) => r.id)).toEqual(['a', 'b', 'c', 'd', 'e', 'é', '日本', '\uFF61', '\u{1F600}']);
    const byId = new Map(scanned.map((r) => [r.id, r]));
    for (const row of rows) {
      const got = byId.get(row.id)!;
      expect(got.kind).toBe(row.kind);
      expect(got.seq).toBe(row.seq);
      expect(got.embedding ? [...got.embedding] : null).toEqual(row.embedding ? [...row.embedding] : null);
      expect(got.document).toEqual(row.document);
      expect(got.metadata).toEqual(row.metadata);
    }
    expect(byId.get('c')!.document).toBeUndefined();
    expect(byId.get('d')!.metadata).toBeUndefined();
    expect(byId.get('e')!.metadata).toBeNull();
    const got = reader.getRows(['\u{1F600}', 'missing', 'a']);
    expect([...got.keys()]).toEqual(['\u{1F600}', 'a']);
    expect(got.get('a')!.metadata).toEqual({ a: 'x', b: 2, ok: true, tags: ['p', 'q'] });
    // without an index, search is exact
    const q = rows[0]!.embedding!;
    expect(reader.search(q, 2)[0]!.id).toBe('a');
    expect(reader.recomputeContent().contentHash).toBe(m.contentHash);
    expect(reader.recomputeContent().seqRange).toEqual([2, 10]);
  });

  it('refuses rows out of order, duplicates and malformed rows with E_INTERNAL', async () => {
    const dir = fresh();
    await using w = await SegmentWriter.create({ dir, kind: 'chunk', config: cfg, buildIndex: false });
    const v = new Float32Array(8);
    w.append(put('b', v));
    for (const bad of [put('a', v), put('b', v), put('\uFF61', v)]) {
      if (bad.id === '\uFF61') w.append(put('\u{1F600}', v));
      expect(() => w.append(bad)).toThrowError(expect.objectContaining({ code: 'E_INTERNAL' }));
    }
    expect(() => w.append(put('z', new Float32Array(7)))).toThrowError(/dimensions/);
    expect(() => w.append(put('z', Float32Array.of(0, 0, 0, Number.NaN, 0, 0, 0, 0)))).toThrowError(/NaN/);
    expect(() => w.append(put('z\ud800', v))).toThrowError(/surrogate/);
  });

  it('data segments hold only puts; format 1 snapshots are never written', async () => {
    await using w = await SegmentWriter.create({
      dir: fresh(),
      kind: 'data',
      config: cfg,
      buildIndex: true,
    });
    expect(() =>
      w.append({ id: 'a', kind: 'tombstone', seq: 1, embedding: null, document: null, metadata: null }),
    ).toThrow(/data segment/);
    await expect(
      SegmentWriter.create({ dir: fresh(), kind: 'snapshot', config: cfg, buildIndex: true }),
    ).rejects.toThrow(/never written/);
  });

  it('seals a manifest whose sizes and sha256s match the files (data segment: LtHash, key space)', async () => {
    const dir = fresh();
    const r = rng(2);
    const w = await SegmentWriter.create({
      dir,
      kind: 'data',
      config: cfg,
      buildIndex: true,
      producer: 'test',
    });
    const rows: SegmentRow[] = [];
    for (let i = 0; i < 300; i++) {
      const row = put(`id-${String(i).padStart(4, '0')}`, randomVector(r, 8), i, {
        metadata: { i, even: i % 2 === 0, tag: `t${i % 3}`, arr: [i, `s${i}`, true] },
      });
      rows.push(row);
      w.append(row);
    }
    const m = await w.seal({ seqRange: [0, 299], inputs: ['x'] });
    await w.close();
    expect(readdirSync(dir).sort()).toEqual([
      SEGMENT_FILES.index,
      SEGMENT_FILES.manifest,
      SEGMENT_FILES.records,
    ]);
    const onDisk = parseManifest(readFileSync(join(dir, SEGMENT_FILES.manifest), 'utf8'));
    expect(onDisk).toEqual(m);
    expect(m.kind).toBe('data');
    expect(m.formatVersion).toBe(2);
    expect(m.maxKey).toBe(300);
    const lt = new LtHash();
    for (const row of rows) lt.add({ ...row, metadata: row.metadata as Metadata });
    expect(m.lthash).toBe(lt.encode());
    expect(m.contentHash).toBe(lt.digest());
    expect(m.producer).toBe('test');
    expect(m.index).toEqual({ library: 'usearch', connectivity: 16, expansionAdd: 128, expansionSearch: 64 });
    for (const f of m.files) {
      const bytes = readFileSync(join(dir, f.name));
      expect(bytes.length).toBe(f.size);
      expect(sha256Hex(bytes)).toBe(f.sha256);
    }
    expect(m.files.map((f) => f.role)).toEqual(['records', 'index']);
    await using reader = await SegmentReader.open(dir, { verify: 'full' });
    expect([...reader.scanPuts()].map((p) => p.metadata)).toEqual(rows.map((x) => x.metadata));
  });

  it('produces the same content hash for the same content built twice (with and without an index)', async () => {
    const hashes: string[] = [];
    for (let t = 0; t < 2; t++) {
      const w = await SegmentWriter.create({
        dir: fresh(),
        kind: 'chunk',
        config: cfg,
        buildIndex: t === 1,
      });
      for (const row of mixedRows()) w.append(row);
      hashes.push((await w.seal({ seqRange: null, inputs: [] })).contentHash);
      await w.close();
    }
    expect(hashes[0]).toBe(hashes[1]);
  });

  it('seals an empty segment, with and without an index', async () => {
    for (const buildIndex of [false, true]) {
      const dir = fresh();
      const w = await SegmentWriter.create({ dir, kind: 'data', config: cfg, buildIndex });
      const m = await w.seal({ seqRange: null, inputs: [] });
      await w.close();
      expect(m.counts).toEqual({ records: 0, tombstones: 0, patches: 0 });
      await using r = await SegmentReader.open(dir, { verify: 'full' });
      expect(r.count).toBe(0);
      expect(r.search(new Float32Array(8), 5)).toEqual([]);
      expect(r.exactSearch(new Float32Array(8), 5)).toEqual([]);
      expect([...r.scan()]).toEqual([]);
    }
  });

  it('close() is idempotent and deletes an unsealed directory', async () => {
    const dir = fresh();
    const w = await SegmentWriter.create({ dir, kind: 'data', config: cfg, buildIndex: true });
    w.append(put('a', new Float32Array(8).fill(1)));
    expect(existsSync(join(dir, SEGMENT_FILES.records))).toBe(true);
    await Promise.all([w.close(), w.close()]);
    await w.close();
    expect(existsSync(dir)).toBe(false);
    expect(openHandlesUnder(dir)?.fds ?? []).toEqual([]);
    expect(() => w.append(put('b', new Float32Array(8)))).toThrowError(
      expect.objectContaining({ code: 'E_CLOSED' }),
    );
    await expect(w.seal({ seqRange: null, inputs: [] })).rejects.toMatchObject({ code: 'E_CLOSED' });
  });

  it('await using closes and deletes on every path; a sealed segment survives', async () => {
    const dirA = fresh();
    const dirB = fresh();
    await expect(
      (async () => {
        await using w = await SegmentWriter.create({
          dir: dirA,
          kind: 'chunk',
          config: cfg,
          buildIndex: false,
        });
        w.append(put('a', new Float32Array(8)));
        throw new Error('boom');
      })(),
    ).rejects.toThrow('boom');
    expect(existsSync(dirA)).toBe(false);
    {
      await using w = await SegmentWriter.create({
        dir: dirB,
        kind: 'chunk',
        config: cfg,
        buildIndex: false,
      });
      w.append(put('a', new Float32Array(8)));
      await w.seal({ seqRange: null, inputs: [] });
    }
    expect(existsSync(join(dirB, SEGMENT_FILES.manifest))).toBe(true);
    expect(openHandlesUnder(dirB)?.fds ?? []).toEqual([]);
  });

  it('refuses an existing directory', async () => {
    const dir = fresh();
    const w = await SegmentWriter.create({ dir, kind: 'chunk', config: cfg, buildIndex: false });
    await expect(
      SegmentWriter.create({ dir, kind: 'chunk', config: cfg, buildIndex: false }),
    ).rejects.toMatchObject({
      code: 'E_INTERNAL',
    });
    await w.close();
  });

  it.each(['segment.after-write', 'segment.after-close', 'segment.after-verify'] as const)(
    'a failure at %s leaves no manifest, and close() cleans up',
    async (point) => {
      const dir = fresh();
      const w = await SegmentWriter.create({ dir, kind: 'data', config: cfg, buildIndex: true });
      w.append(put('a', new Float32Array(8).fill(1)));
      reloadFailpoints(`${point}=error`);
      try {
        await expect(w.seal({ seqRange: null, inputs: [] })).rejects.toThrow(`failpoint ${point} fired`);
      } finally {
        reloadFailpoints('');
      }
      expect(existsSync(join(dir, SEGMENT_FILES.manifest))).toBe(false);
      await w.close();
      await w.close();
      expect(existsSync(dir)).toBe(false);
      expect(openHandlesUnder(dir)?.fds ?? []).toEqual([]);
    },
  );

  it('reader releases the SQLite handle and the index mapping on close', async () => {
    const dir = fresh();
    const w = await SegmentWriter.create({ dir, kind: 'data', config: cfg, buildIndex: true });
    const r = rng(3);
    for (let i = 0; i < 50; i++) w.append(put(`k${String(i).padStart(3, '0')}`, randomVector(r, 8)));
    await w.seal({ seqRange: null, inputs: [] });
    await w.close();
    expect(openHandlesUnder(dir) ?? { fds: [], maps: 0 }).toEqual({ fds: [], maps: 0 });
    const reader = await SegmentReader.open(dir);
    const during = openHandlesUnder(dir);
    if (during) {
      expect(during.fds.some((f) => f.endsWith(SEGMENT_FILES.records))).toBe(true);
      expect(during.fds.some((f) => f.endsWith(SEGMENT_FILES.index))).toBe(true);
      expect(during.maps).toBeGreaterThan(0);
    }
    await reader.close();
    await reader.close();
    expect(openHandlesUnder(dir) ?? { fds: [], maps: 0 }).toEqual({ fds: [], maps: 0 });
    expect(() => reader.search(new Float32Array(8), 1)).toThrowError(
      expect.objectContaining({ code: 'E_CLOSED' }),
    );
  });

  it('releasing an index never touches descriptor 0 (usearch closes fd 0 on a failed view)', async () => {
    const fd0 = () => {
      try {
        return readlinkSync('/proc/self/fd/0');
      } catch {
        return null;
      }
    };
    const before = process.platform === 'linux' ? fd0() : null;
    const dir = fresh();
    const w = await SegmentWriter.create({ dir, kind: 'data', config: cfg, buildIndex: true });
    w.append(put('a', new Float32Array(8).fill(1)));
    await w.seal({ seqRange: null, inputs: [] });
    await w.close();
    for (let i = 0; i < 3; i++) await (await SegmentReader.open(dir)).close();
    // a missing index file is refused before usearch sees the path
    rmSync(join(dir, SEGMENT_FILES.index));
    await expect(SegmentReader.open(dir, { verify: 'none' })).rejects.toMatchObject({
      code: 'E_VERIFY_FAILED',
    });
    if (process.platform === 'linux') expect(fd0()).toBe(before);
    expect(openHandlesUnder(dir)?.fds ?? []).toEqual([]);
  });

  it('a reader is read-only', async () => {
    const dir = fresh();
    const w = await SegmentWriter.create({ dir, kind: 'chunk', config: cfg, buildIndex: false });
    w.append(put('a', new Float32Array(8)));
    await w.seal({ seqRange: null, inputs: [] });
    await w.close();
    // a reader's record store is opened read-only (the mode SegmentReader uses)
    const store = RecordStore.openReadOnly(join(dir, SEGMENT_FILES.records));
    try {
      expect(store.db.readonly).toBe(true);
      expect(() => store.db.exec("DELETE FROM records WHERE id = 'a'")).toThrow(/readonly/);
      expect(() => store.db.exec('CREATE TABLE x (a)')).toThrow(/readonly/);
    } finally {
      store.close();
    }
    await using reader = await SegmentReader.open(dir);
    expect(reader.getRows(['a']).size).toBe(1);
  });

  it('refuses to open an unsealed or tampered segment', async () => {
    const dir = fresh();
    await using w = await SegmentWriter.create({ dir, kind: 'chunk', config: cfg, buildIndex: false });
    w.append(put('a', new Float32Array(8)));
    await expect(SegmentReader.open(dir)).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    const err = await SegmentReader.open(join(root.dir, 'nope')).catch((e: unknown) => e);
    expect(isStrataError(err)).toBe(true);
    expect(err).not.toBeInstanceOf(VerificationError);
  });
});
