/**
 * A version that lists a missing or corrupt segment, a deletion vector that disagrees with its segment, or a
 * segment whose manifest does not match its address is refused at open, each with its own code; verify names
 * it; a query server keeps serving the version it has.
 */
import { writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { DeletionVector } from '../../src/core/deletion-vector.js';
import type { VersionManifest } from '../../src/core/version-manifest.js';
import { writeJson } from '../../src/pipeline/json-object.js';
import { Keys } from '../../src/pipeline/layout.js';
import { openVersion } from '../../src/pipeline/open-version.js';
import { baseRefOf, type Pointer, readPointer } from '../../src/pipeline/pointer.js';
import { verifyCollection } from '../../src/pipeline/verify.js';
import { readVersion, writeDeletionVector, writeVersion } from '../../src/pipeline/versions.js';
import { SnapshotSet } from '../../src/server/snapshots.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { compactInline, ingestBatches, smallCollection, upserts } from '../helpers/pipeline.js';
import { tempStore } from '../helpers/tmp.js';

/** Publishes `m` as the next version by hand (what a buggy or malicious writer could leave behind). */
async function forcePublish(store: ObjectStore, m: VersionManifest): Promise<void> {
  const cur = (await readPointer(store, m.collection))!;
  const v = { ...m, version: cur.value.version + 1 };
  const w = await writeVersion(store, v);
  const next: Pointer = {
    ...cur.value,
    version: v.version,
    manifest: w.key,
    manifestSha256: w.sha256,
    retained: [],
  };
  await writeJson(store, Keys.pointer(m.collection), next, { ifMatch: cur.etag });
}

async function twoVersions() {
  const t = await tempStore();
  const config = await smallCollection(t.store, 'c', 8);
  await ingestBatches(t.store, config, upserts(1, 120, 8), 40);
  await compactInline(t.store, 'c', { merge: 'none' });
  await ingestBatches(t.store, config, upserts(1, 30, 8), 30); // re-upserts of 30 ids: a deletion vector
  await compactInline(t.store, 'c', { merge: 'none' });
  const m = (await readVersion(t.store, baseRefOf(await readPointer(t.store, 'c'))!, 'c')).manifest;
  expect(m.segments.some((s) => s.deleted > 0)).toBe(true);
  return { t, m };
}

const codeOf = async (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: { code?: string }) => e.code,
  );

describe('a broken version is refused at open, with its own code', () => {
  it('a segment that is missing: E_SEGMENT_MISSING; a server keeps serving the version it has', async () => {
    const { t, m } = await twoVersions();
    await using _t = t;
    const set = new SnapshotSet(t.store, { onError: () => undefined });
    try {
      const good = (await set.get('c'))!;
      const broken = structuredClone(m);
      broken.segments[0] = {
        ...broken.segments[0]!,
        prefix: Keys.segment('c', 'f'.repeat(64)),
        manifestSha256: 'f'.repeat(64),
      };
      await forcePublish(t.store, broken);
      const p = (await readPointer(t.store, 'c'))!;
      expect(await codeOf(openVersion(t.store, 'c', baseRefOf(p)!))).toBe('E_SEGMENT_MISSING');
      const v = await verifyCollection(t.store, 'c');
      expect(v.ok).toBe(false);
      expect(v.problems.join()).toContain('E_SEGMENT_MISSING');
      await set.refresh('c').catch(() => undefined);
      expect(set.current('c')).toBe(good);
      expect(good.isClosed).toBe(false);
    } finally {
      await set.close();
    }
  });

  it('a segment whose manifest does not match the address the version lists: E_SEGMENT_ADDRESS', async () => {
    const { t, m } = await twoVersions();
    await using _t = t;
    const broken = structuredClone(m);
    broken.segments[0] = { ...broken.segments[0]!, manifestSha256: 'a'.repeat(64) };
    await forcePublish(t.store, broken);
    expect(await codeOf(openVersion(t.store, 'c', baseRefOf(await readPointer(t.store, 'c'))!))).toBe(
      'E_SEGMENT_ADDRESS',
    );
    // …and a segment file changed in place: its checksum no longer matches its manifest
    const { m: m2, t: t2 } = await twoVersions();
    await using _t2 = t2;
    const file = t2.store.localPath(`${m2.segments[0]!.prefix}records.sqlite`)!;
    await writeFile(file, 'garbage');
    expect(await codeOf(openVersion(t2.store, 'c', baseRefOf(await readPointer(t2.store, 'c'))!))).toBe(
      'E_VERIFY_FAILED',
    );
  });

  it('a deletion vector whose key space or count disagrees with its segment: E_DELETION_VECTOR', async () => {
    const { t, m } = await twoVersions();
    await using _t = t;
    const i = m.segments.findIndex((s) => s.deleted > 0);
    const s = m.segments[i]!;
    // a vector over a different key space
    const wrongSpace = await writeDeletionVector(t.store, 'c', DeletionVector.of(s.maxKey + 5, [1]));
    const a = structuredClone(m);
    a.segments[i] = { ...s, deleted: 1, dv: wrongSpace };
    await forcePublish(t.store, a);
    expect(await codeOf(openVersion(t.store, 'c', baseRefOf(await readPointer(t.store, 'c'))!))).toBe(
      'E_DELETION_VECTOR',
    );
    // a count that disagrees with the version entry
    const b = structuredClone(m);
    b.segments[i] = { ...s, deleted: s.deleted + 1 };
    await forcePublish(t.store, b);
    expect(await codeOf(openVersion(t.store, 'c', baseRefOf(await readPointer(t.store, 'c'))!))).toBe(
      'E_DELETION_VECTOR',
    );
    // bytes that do not match the recorded hash
    const c = structuredClone(m);
    c.segments[i] = { ...s, dv: { key: s.dv!.key, sha256: '0'.repeat(64) } };
    await forcePublish(t.store, c);
    expect(await codeOf(openVersion(t.store, 'c', baseRefOf(await readPointer(t.store, 'c'))!))).toBe(
      'E_DELETION_VECTOR',
    );
  });

  it('a version manifest that does not match the hash its pointer recorded: E_STORE_INTEGRITY', async () => {
    const { t } = await twoVersions();
    await using _t = t;
    const p = (await readPointer(t.store, 'c'))!;
    await writeFile(t.store.localPath(p.value.manifest!)!, '{"format":"strata.version"}');
    expect(await codeOf(openVersion(t.store, 'c', baseRefOf(p)!))).toBe('E_STORE_INTEGRITY');
  });
});
