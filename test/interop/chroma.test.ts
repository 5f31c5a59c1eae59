/**
 * Chroma interop against the real server (npm chromadb@3.0.14, server 1.0.0): what Strata imports equals
 * what Chroma serves (vectors bit-exact, documents, metadata), inconsistent or in-use directories are
 * refused whole, and server-written → import → export → import gives the same snapshot content hash.
 */
import { cp, mkdir, readdir, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { ErrorCodes, StrataError } from '../../src/core/errors.js';
import { ChromaServer, exportChroma, importChroma } from '../../src/interop/chroma/index.js';
import { ChromaDirectory } from '../../src/interop/chroma/reader.js';
import { getCollection, listCollections } from '../../src/pipeline/collections.js';
import { openCurrentVersion } from '../../src/pipeline/current.js';
import { listDeltas } from '../../src/pipeline/deltas.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { openStore } from '../../src/store/open.js';
import { compactInline } from '../helpers/pipeline.js';
import { tempDir, tempStore } from '../helpers/tmp.js';
import { startChroma } from '../servers/chroma.js';
import { type ExpectedRecord, FIXTURE, type FixtureName, writeFixture } from './chroma-fixture.js';

let work: Awaited<ReturnType<typeof tempDir>>;
let source: string;
let expected: Map<FixtureName, Map<string, ExpectedRecord>>;

beforeAll(async () => {
  work = await tempDir('strata-chroma-interop');
  source = join(work.dir, 'source');
  const chroma = await startChroma(source);
  try {
    expected = await writeFixture(chroma);
  } finally {
    await chroma.stop();
  }
});

afterAll(async () => {
  await work?.[Symbol.asyncDispose]();
});

async function copyOf(label: string): Promise<string> {
  const dir = join(work.dir, label);
  await cp(source, dir, { recursive: true });
  return dir;
}

function bytes(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

async function expectSnapshotEquals(
  store: ObjectStore,
  collection: string,
  want: Map<string, ExpectedRecord>,
): Promise<string> {
  await using r = await openCurrentVersion(store, collection, { vectorBudgetBytes: 0 });
  expect(r.count).toBe(want.size);
  const rows = r.get([...want.keys()]);
  let mismatched = 0;
  for (const [id, w] of want) {
    const row = rows.get(id);
    expect(row, id).toBeDefined();
    if (!row?.embedding || Buffer.compare(bytes(row.embedding), bytes(w.embedding)) !== 0) mismatched++;
    expect(row?.document ?? null, id).toBe(w.document);
    expect(row?.metadata ?? null, id).toEqual(w.metadata);
  }
  expect(mismatched).toBe(0);
  return r.opened.resolved.manifest.contentHash;
}

async function storeIsEmpty(store: ObjectStore): Promise<void> {
  expect(await listCollections(store)).toEqual([]);
}

async function expectRefused(dir: string, code: string): Promise<StrataError> {
  await using t = await tempStore();
  const err = await importChroma(t.store, dir).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(StrataError);
  expect((err as StrataError).code, (err as StrataError).describe?.()).toBe(code);
  await storeIsEmpty(t.store);
  return err as StrataError;
}

describe('import from a directory written by the real Chroma server', () => {
  it('imports every collection with its name; vectors bit-exact, documents and metadata equal to what Chroma serves', async () => {
    await using t = await tempStore();
    const report = await importChroma(t.store, source, { batch: 1_000 });
    expect(report.collections.map((c) => c.collection).sort()).toEqual(['large', 'plain', 'small']);
    const by = new Map(report.collections.map((c) => [c.collection, c]));
    // small: nothing persisted, every vector from the log; large/plain: persisted index + log
    expect(by.get('small')!.fromIndex).toBe(0);
    expect(by.get('small')!.indexSeq).toBe(0);
    expect(by.get('large')!.fromIndex).toBeGreaterThan(1_000);
    expect(by.get('large')!.fromLog).toBeGreaterThan(0);
    expect(by.get('plain')!.fromIndex).toBeGreaterThan(900);
    expect(by.get('large')!.deltas.length).toBe(Math.ceil(by.get('large')!.records / 1_000));
    for (const name of Object.keys(FIXTURE) as FixtureName[]) {
      const want = expected.get(name)!;
      expect(by.get(name)!.records).toBe(want.size);
      expect((await getCollection(t.store, name)).metric).toBe(
        FIXTURE[name].space === 'cosine' ? 'cos' : 'l2sq',
      );
      const rep = await compactInline(t.store, name);
      expect(rep.status).toBe('published');
      await expectSnapshotEquals(t.store, name, want);
    }
  });

  it('imports one collection with --collection, through the CLI', async () => {
    await using t = await tempStore();
    const before = process.exitCode;
    await main([
      'node',
      'strata',
      '--dir',
      t.dir,
      '--quiet',
      'import',
      'chroma',
      source,
      '--collection',
      'small',
    ]);
    const code = process.exitCode;
    process.exitCode = before;
    expect(code ?? 0).toBe(0);
    const fresh = await openStore(t.dir);
    try {
      expect(await listCollections(fresh)).toEqual(['small']);
      expect((await listDeltas(fresh, 'small')).reduce((n, d) => n + d.count, 0)).toBe(
        expected.get('small')!.size,
      );
    } finally {
      await fresh.close();
    }
  });
});

describe('export through the CLI', () => {
  it('strata export chroma writes a closed, verified directory that Strata reads back', async () => {
    await using t = await tempStore();
    await importChroma(t.store, source, { collection: 'plain' });
    await compactInline(t.store, 'plain');
    const out = join(work.dir, 'cli-export');
    const before = process.exitCode;
    await main([
      'node',
      'strata',
      '--dir',
      t.dir,
      '--quiet',
      'export',
      'chroma',
      out,
      '--collection',
      'plain',
      '--samples',
      '8',
    ]);
    const code = process.exitCode;
    process.exitCode = before;
    expect(code ?? 0).toBe(0);
    using dir = ChromaDirectory.open(out);
    const [info] = dir.collections();
    expect(info).toMatchObject({ name: 'plain', space: 'l2', dimension: FIXTURE.plain.dim });
    expect(dir.plan(info!).count).toBe(expected.get('plain')!.size);
  });

  it('the id restriction export verification relies on is honoured by Chroma: a vector queried within other ids finds those', async () => {
    // export's "found by query" check queries each sample's vector restricted to its own id; it would
    // prove nothing if the server ignored `ids`
    const out = await copyOf('ids-restriction');
    const records = [...expected.get('plain')!];
    const [a, b] = [records[0]!, records[records.length - 1]!];
    const server = await ChromaServer.start({ path: out });
    try {
      const c = await server.http.getCollection('plain', 'default_tenant', 'default_database');
      const own = await server.http.query(c, [a[1].embedding], 1, { ids: [a[0]] });
      expect(own.ids[0]).toEqual([a[0]]);
      expect(own.distances?.[0]?.[0]).toBeCloseTo(0, 5);
      const other = await server.http.query(c, [a[1].embedding], 3, { ids: [b[0]] });
      expect(other.ids[0]).toEqual([b[0]]);
      expect(other.distances?.[0]?.[0]).toBeGreaterThan(0);
    } finally {
      await server.stop();
    }
  });
});

describe('refusals: nothing is imported, the error names what is wrong', () => {
  it('refuses a directory a live Chroma server holds, and imports it once the server has exited', async () => {
    const dir = await copyOf('live');
    const live = await startChroma(dir);
    try {
      // the server is writing while we look
      const c = await live.client.getCollection({ name: 'small', embeddingFunction: null as never });
      await c.add({ ids: ['live-1'], embeddings: [Array.from({ length: FIXTURE.small.dim }, () => 0.5)] });
      const err = await expectRefused(dir, ErrorCodes.CHROMA_IN_USE);
      expect(err.context.pids).toContain(live.server.pid);
    } finally {
      await live.stop();
    }
    await using t = await tempStore();
    const report = await importChroma(t.store, dir, { collection: 'small' });
    expect(report.collections[0]!.records).toBe(expected.get('small')!.size + 1);
  });

  it('refuses a truncated index file', async () => {
    const dir = await copyOf('truncated');
    const seg = (() => {
      using c = ChromaDirectory.open(dir);
      return c.collections().find((x) => x.name === 'large')!.vectorSegment;
    })();
    await truncate(join(dir, seg, 'data_level0.bin'), 1000 * 4);
    const err = await expectRefused(dir, ErrorCodes.CHROMA_INDEX_TRUNCATED);
    expect(err.context.file).toContain(seg);
  });

  it('refuses when counts disagree (a vector without its record)', async () => {
    const dir = await copyOf('counts');
    const db = new Database(join(dir, 'chroma.sqlite3'));
    try {
      const victim = db
        .prepare(
          "SELECT e.id FROM embeddings e JOIN segments s ON s.id = e.segment_id JOIN collections c ON c.id = s.collection WHERE c.name = 'plain' AND e.embedding_id = 'p00002'",
        )
        .pluck()
        .get() as number;
      db.prepare('DELETE FROM embedding_metadata WHERE id = ?').run(victim);
      db.prepare('DELETE FROM embeddings WHERE id = ?').run(victim);
    } finally {
      db.close();
    }
    const err = await expectRefused(dir, ErrorCodes.CHROMA_COUNTS);
    expect(err.message).toContain('counts disagree');
    expect(err.context.withoutRecord).toContain('p00002');
  });

  it('refuses when log entries are missing', async () => {
    const dir = await copyOf('log');
    const db = new Database(join(dir, 'chroma.sqlite3'));
    try {
      const id = db.prepare("SELECT id FROM collections WHERE name = 'small'").pluck().get() as string;
      const n = db
        .prepare(
          'DELETE FROM embeddings_queue WHERE topic LIKE ? AND seq_id IN (SELECT seq_id FROM embeddings_queue WHERE topic LIKE ? ORDER BY seq_id LIMIT 20)',
        )
        .run(`%/${id}`, `%/${id}`).changes;
      expect(n).toBe(20);
    } finally {
      db.close();
    }
    const err = await expectRefused(dir, ErrorCodes.CHROMA_LOG_MISSING);
    expect(err.context.collection).toBe('small');
  });
});

describe('version drift: server-written → import → export → import', () => {
  it('gives an identical snapshot content hash, and a folder of exported directories ingests', async () => {
    await using a = await tempStore();
    await importChroma(a.store, source, { collection: 'large' });
    await compactInline(a.store, 'large');
    const h1 = await expectSnapshotEquals(a.store, 'large', expected.get('large')!);

    const out = join(work.dir, 'exported', 'large');
    const report = await exportChroma(a.store, 'large', out, { samples: 16 });
    expect(report.records).toBe(expected.get('large')!.size);
    expect(report.drifted).toBe(0);
    expect(report.verification).toMatchObject({ count: report.records, exact: 16, foundByQuery: 16 });
    expect(report.chroma).toMatchObject({ name: 'large', space: 'cosine', version: '1.0.0' });
    expect((await readdir(out)).filter((f) => f.startsWith('.'))).toEqual([]);

    await using b = await tempStore();
    await importChroma(b.store, out);
    await compactInline(b.store, 'large');
    const h2 = await expectSnapshotEquals(b.store, 'large', expected.get('large')!);
    expect(h2).toBe(h1);

    // the seed's deltas were Chroma directories: `strata ingest` takes a folder of them
    const folder = join(work.dir, 'deltas');
    await mkdir(folder);
    await cp(out, join(folder, 'delta-0001'), { recursive: true });
    await cp(out, join(folder, 'delta-0002'), { recursive: true });
    await using c = await tempStore();
    const before = process.exitCode;
    await main(['node', 'strata', '--dir', c.dir, '--quiet', 'ingest', '-c', 'lines', folder]);
    const code = process.exitCode;
    process.exitCode = before;
    expect(code ?? 0).toBe(0);
    const fresh = await openStore(c.dir);
    try {
      expect((await listDeltas(fresh, 'lines')).length).toBe(2);
      await compactInline(fresh, 'lines');
      expect(await expectSnapshotEquals(fresh, 'lines', expected.get('large')!)).toBe(h1);
    } finally {
      await fresh.close();
    }
  });
});
