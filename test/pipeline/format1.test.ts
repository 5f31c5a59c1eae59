/**
 * A store written by Strata 0.1 (one whole-collection snapshot segment per version, test/fixtures/format1-store)
 * stays readable — status, verify, queries, the query server — and moves forward on its next publish: the new
 * version lists the old snapshot as its first segment (its key space and LtHash computed once) with a deletion
 * vector, never rewriting it; GC keeps it while a version lists it; a rollback to the old version works.
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Operation } from '../../src/core/types.js';
import { parseNdjson } from '../../src/ingest/index.js';
import { getCollection } from '../../src/pipeline/collections.js';
import { openCurrentVersion } from '../../src/pipeline/current.js';
import { acceptDelta } from '../../src/pipeline/deltas.js';
import { gcCollection } from '../../src/pipeline/gc.js';
import { Keys } from '../../src/pipeline/layout.js';
import { readLedger } from '../../src/pipeline/ledger.js';
import { baseRefOf, readPointer } from '../../src/pipeline/pointer.js';
import { rollbackCollection } from '../../src/pipeline/rollback.js';
import { verifyCollection } from '../../src/pipeline/verify.js';
import { readVersion } from '../../src/pipeline/versions.js';
import { SnapshotSet } from '../../src/server/snapshots.js';
import { LocalStore } from '../../src/store/local-store.js';
import { ReferenceModel } from '../helpers/model.js';
import { compactInline, mergeInline } from '../helpers/pipeline.js';

const FIXTURE = new URL('../fixtures/format1-store/', import.meta.url);
const ops = async (name: string): Promise<Operation[]> =>
  parseNdjson(await readFile(new URL(name, FIXTURE), 'utf8'), 4, { file: name });

let dir: string;
let store: LocalStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-format1-'));
  await cp(new URL('objects', FIXTURE), join(dir, 'objects'), { recursive: true });
  store = await LocalStore.open(dir);
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('format 1 stores (Strata 0.1 snapshots)', () => {
  it('read as a one-segment version: status, verify, queries, the query server', async () => {
    const model = new ReferenceModel()
      .applyAll(await ops('round1.jsonl'))
      .applyAll(await ops('round2.jsonl'));
    const ledger = await readLedger(store, 'legacy');
    expect(ledger.pointer?.value).toMatchObject({ version: 2, count: 44 });
    expect(ledger.counts).toMatchObject({ promoted: 2, pending: 0 });
    const v = await verifyCollection(store, 'legacy');
    expect(v.problems).toEqual([]);
    expect(v.segments).toHaveLength(1);
    await using q = await openCurrentVersion(store, 'legacy');
    expect(q.count).toBe(model.records.size);
    expect(new Set(q.ids())).toEqual(new Set(model.records.keys()));
    expect(q.get(['doc-002']).get('doc-002')?.metadata).toEqual(model.records.get('doc-002')!.metadata);
    const target = model.records.get('doc-010')!.embedding;
    expect(q.search(target, 1).hits[0]!.id).toBe('doc-010');

    const set = new SnapshotSet(store);
    try {
      const served = await set.get('legacy');
      expect(served?.view.count).toBe(44);
    } finally {
      await set.close();
    }
  });

  it('moves forward on the next publish without rewriting the old snapshot; GC keeps it while listed; rollback works', async () => {
    const config = await getCollection(store, 'legacy');
    const model = new ReferenceModel()
      .applyAll(await ops('round1.jsonl'))
      .applyAll(await ops('round2.jsonl'));
    const before = (await readPointer(store, 'legacy'))!.value;
    const legacyPrefix = before.snapshot!;
    const change: Operation[] = [
      {
        op: 'upsert',
        id: 'doc-003',
        embedding: Float32Array.from([1, 0, 0, 0]),
        document: 'changed',
        metadata: { v: 3 },
      },
      { op: 'delete', id: 'doc-004' },
      { op: 'update', id: 'doc-005', metadata: { reviewed: true } },
      { op: 'upsert', id: 'brand-new', embedding: Float32Array.from([0, 1, 0, 0]) },
    ];
    await acceptDelta(store, config, change);
    model.applyAll(change);
    const r = await compactInline(store, 'legacy', { merge: 'none' });
    expect(r.snapshot).toMatchObject({
      version: 3,
      count: model.records.size,
      contentHash: model.contentHash(),
    });
    const p = (await readPointer(store, 'legacy'))!.value;
    expect(p.manifest).toBeDefined();
    const v3 = (await readVersion(store, baseRefOf({ value: p, etag: '' })!, 'legacy')).manifest;
    expect(v3.segments[0]!.prefix).toBe(legacyPrefix); // listed again, not rewritten
    expect(v3.segments[0]!.maxKey).toBeGreaterThan(0);
    expect(v3.segments[0]!.deleted).toBe(3); // doc-003 re-upserted, doc-004 deleted, doc-005 patched
    expect(p.retained.map((x) => x.version)).toEqual([2, 1]);
    expect((await verifyCollection(store, 'legacy')).problems).toEqual([]);
    const ledger = await readLedger(store, 'legacy');
    expect(ledger.counts).toMatchObject({ promoted: 3, pending: 0 });

    // GC: the format 1 snapshots are retained (v2, v1) and listed (v2's by v3): nothing of them goes
    const gc = await gcCollection(store, 'legacy', { graceMs: 0 });
    expect(gc.deletedSnapshots).toEqual([]);
    expect((await store.list(Keys.snapshotsPrefix('legacy'))).length).toBeGreaterThan(0);

    // a merge of everything: the old snapshot's rows move into a format 2 segment; v1's snapshot, no longer
    // retained once enough versions pass, is collected, v2's only when nothing lists it any more
    const m = await mergeInline(store, 'legacy', 'all', 2);
    expect(m.published).toHaveLength(1);
    const merged = (await readVersion(store, baseRefOf(await readPointer(store, 'legacy'))!, 'legacy'))
      .manifest;
    expect(merged.segments.every((s) => s.prefix.startsWith(Keys.segmentsPrefix('legacy')))).toBe(true);
    expect(merged.contentHash).toBe(model.contentHash());

    // rollback to the retained format 2 version v3
    const rb = await rollbackCollection(store, 'legacy', { toVersion: 3 });
    expect(rb).toMatchObject({ from: 4, to: 3, version: 5, contentHash: model.contentHash() });
    const after = await openCurrentVersion(store, 'legacy');
    expect(after.count).toBe(model.records.size);
    await after.close();
    // with retain 2, v1's format 1 snapshot is no longer reachable: collected; v2's is (v3 lists it)
    const gc2 = await gcCollection(store, 'legacy', { graceMs: 0 });
    expect(gc2.deletedSnapshots).toHaveLength(1);
    expect(gc2.deletedSnapshots[0]).toContain('v00000001');
    expect((await verifyCollection(store, 'legacy')).problems).toEqual([]);
  });
});
