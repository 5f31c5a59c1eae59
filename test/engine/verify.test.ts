import { copyFileSync, cpSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/core/hash.js';
import type { SegmentManifest } from '../../src/core/manifest.js';
import { SEGMENT_FILES, SegmentReader, SegmentWriter, verifySegment } from '../../src/engine/index.js';
import { clustered, config, put, rng, tmp } from './helpers.js';

const D = 16;
let root: { dir: string; cleanup: () => void };
let good: { dir: string; manifest: SegmentManifest };
let n = 0;

beforeAll(async () => {
  root = tmp();
  const dir = join(root.dir, 'good');
  const m = clustered(rng(5), 1000, D, 10);
  const w = await SegmentWriter.create({
    dir,
    kind: 'data',
    config: config({ dimension: D, quantization: 'f16' }),
    buildIndex: true,
    threads: 2,
  });
  for (let i = 0; i < 1000; i++) {
    w.append(
      put(`r${String(i).padStart(4, '0')}`, m.slice(i * D, (i + 1) * D), i, {
        document: `d${i}`,
        metadata: { i },
      }),
    );
  }
  good = { dir, manifest: await w.seal({ seqRange: [0, 999], inputs: [] }) };
  await w.close();
});
afterAll(() => root.cleanup());

/** A copy of the good segment to damage. */
function copy(): string {
  const dir = join(root.dir, `bad-${n++}`);
  cpSync(good.dir, dir, { recursive: true });
  return dir;
}

function flipByte(path: string, at: number): void {
  const b = readFileSync(path);
  b[at] = b[at]! ^ 0x5a;
  writeFileSync(path, b);
}

/** The manifest with its file entries updated to what is on disk now (checksums pass, content may not). */
function rehash(dir: string, m: SegmentManifest): SegmentManifest {
  return {
    ...m,
    files: m.files.map((f) => {
      const b = readFileSync(join(dir, f.name));
      return { ...f, size: b.length, sha256: sha256Hex(b) };
    }),
  };
}

describe('verifySegment', () => {
  it('passes a good segment, quick and full', async () => {
    const quick = await verifySegment(good.dir, good.manifest);
    expect(quick).toMatchObject({ ok: true, problems: [], contentHash: good.manifest.contentHash });
    const full = await verifySegment(good.dir, good.manifest, { full: true });
    expect(full.problems).toEqual([]);
    expect(full.counts).toEqual({ records: 1000, tombstones: 0, patches: 0, index: 1000 });
    expect(full.contentHash).toBe(good.manifest.contentHash);
  });

  it('catches a flipped byte in records.sqlite', async () => {
    const dir = copy();
    const path = join(dir, SEGMENT_FILES.records);
    flipByte(path, Math.floor(readFileSync(path).length / 2));
    const r = await verifySegment(dir, good.manifest);
    expect(r.ok).toBe(false);
    expect(r.problems.join('\n')).toMatch(/^records\.sqlite: sha256/m);
    await expect(SegmentReader.open(dir)).rejects.toMatchObject({
      code: 'E_VERIFY_FAILED',
      context: { file: SEGMENT_FILES.records },
    });
  });

  it('catches a flipped byte in index.usearch', async () => {
    const dir = copy();
    const path = join(dir, SEGMENT_FILES.index);
    flipByte(path, 100);
    const r = await verifySegment(dir, good.manifest, { full: true });
    expect(r.ok).toBe(false);
    expect(r.problems.join('\n')).toMatch(/^index\.usearch: sha256/m);
  });

  it('catches a truncated index file, also when the manifest was rewritten to match', async () => {
    const dir = copy();
    const path = join(dir, SEGMENT_FILES.index);
    truncateSync(path, Math.floor(readFileSync(path).length * 0.7));
    const r = await verifySegment(dir, good.manifest);
    expect(r.problems.join('\n')).toMatch(/^index\.usearch: size/m);
    const deep = await verifySegment(dir, rehash(dir, good.manifest), { full: true });
    expect(deep.ok).toBe(false);
    expect(deep.problems.join('\n')).toMatch(/^index\.usearch: .*(corrupted|truncated|cannot)/m);
    await expect(SegmentReader.open(dir, { verify: 'none' })).rejects.toMatchObject({
      code: 'E_VERIFY_FAILED',
    });
  });

  it('full verification catches changed content that checksums alone would pass', async () => {
    const dir = copy();
    const path = join(dir, SEGMENT_FILES.records);
    const db = new Database(path);
    db.prepare("UPDATE records SET document = 'tampered' WHERE id = 'r0500'").run();
    db.close();
    const m = rehash(dir, good.manifest);
    expect((await verifySegment(dir, m)).ok).toBe(true);
    const deep = await verifySegment(dir, m, { full: true });
    expect(deep.ok).toBe(false);
    expect(deep.problems.join('\n')).toMatch(/records\.sqlite: content hash/);
    await expect(SegmentReader.open(dir, { verify: 'full' })).rejects.toMatchObject({
      code: 'E_VERIFY_FAILED',
    });
  });

  it('full verification catches an index that belongs to other records', async () => {
    const dir = copy();
    const db = new Database(join(dir, SEGMENT_FILES.records));
    // swap the vectors of two keys: the store is self-consistent, the index now disagrees with it
    const a = db.prepare('SELECT embedding FROM records WHERE key = 1').pluck().get() as Buffer;
    const bRows = db.prepare('SELECT key FROM records').pluck().all() as number[];
    const upd = db.prepare('UPDATE records SET embedding = ? WHERE key = ?');
    const other = db.prepare('SELECT embedding FROM records WHERE key = 500').pluck().get() as Buffer;
    db.transaction(() => {
      for (const key of bRows) upd.run(key % 2 === 0 ? a : other, key);
    })();
    db.close();
    const deep = await verifySegment(dir, rehash(dir, good.manifest), { full: true });
    expect(deep.ok).toBe(false);
    expect(deep.problems.join('\n')).toMatch(/index\.usearch: .*(distance|self-queries)/);
  });

  it('reports a missing file', async () => {
    const dir = copy();
    copyFileSync(join(dir, SEGMENT_FILES.records), join(dir, 'moved'));
    truncateSync(join(dir, SEGMENT_FILES.records), 0);
    const r = await verifySegment(dir, good.manifest, { full: true });
    expect(r.ok).toBe(false);
    expect(r.problems.some((p) => p.startsWith('records.sqlite'))).toBe(true);
  });
});
