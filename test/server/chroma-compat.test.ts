/**
 * The official chromadb client (both the pinned 3.0.14 and the latest 3.5.0) against a real
 * `strata serve`: every operation apps use, including the error classes the client maps.
 */
import * as chroma300 from 'chromadb';
import * as chroma350 from 'chromadb-latest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distance } from '../../src/engine/distance.js';
import { generateRecords } from '../../src/workload/synthetic.js';
import { compactNow, startTestServer, type TestServer, TOKEN } from './helpers.js';

const DIM = 16;
const N = 300;
const records = [...generateRecords({ seed: 7, count: N, dimension: DIM })];
const vec = (i: number) => Array.from(records[i]!.embedding);

type ChromaModule = typeof chroma300;
const clients: Array<[string, ChromaModule]> = [
  ['chromadb 3.0.14', chroma300],
  ['chromadb 3.5.0', chroma350 as unknown as ChromaModule],
];

/** Exact top-k ids by cosine distance among records passing `keep`. */
function truth(q: number[], k: number, keep: (i: number) => boolean = () => true): string[] {
  return records
    .map((r, i) => ({ id: r.id, i, d: distance('cos', q, r.embedding) }))
    .filter((x) => keep(x.i))
    .sort((a, b) => a.d - b.d)
    .slice(0, k)
    .map((x) => x.id);
}

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

describe.each(clients)('%s against strata serve', (label, m) => {
  const name = `lines-${label.replace(/[^0-9]/g, '')}`;
  const client = () =>
    new m.ChromaClient({ host: '127.0.0.1', port: t.port, headers: { 'x-chroma-token': TOKEN } });

  it('answers heartbeat, version and pre-flight checks', async () => {
    const c = client();
    expect(await c.heartbeat()).toBeGreaterThan(0);
    expect(await c.version()).toBe('1.0.0');
    expect(await c.getMaxBatchSize()).toBe(5_000);
    expect(await c.supportsBase64Encoding()).toBe(true);
  });

  it('creates, gets (by name), lists, counts and refuses duplicate collections', async () => {
    const c = client();
    const col = await c.createCollection({
      name,
      embeddingFunction: null,
      configuration: { hnsw: { space: 'cosine' } },
    });
    expect(col.id).toMatch(/^[0-9a-f-]{36}$/);
    await expect(c.createCollection({ name, embeddingFunction: null })).rejects.toBeInstanceOf(
      m.ChromaUniqueError,
    );
    const again = await c.getOrCreateCollection({ name, embeddingFunction: null });
    expect(again.id).toBe(col.id);
    const got = await c.getCollection({ name });
    expect(got.id).toBe(col.id);
    expect((await c.listCollections()).map((x) => x.name)).toContain(name);
    expect(await c.countCollections()).toBeGreaterThanOrEqual(1);
    await expect(c.getCollection({ name: 'no-such-collection' })).rejects.toBeInstanceOf(
      m.ChromaNotFoundError,
    );
  });

  it('adds records (base64 embeddings), visible to reads at once and after compaction', async () => {
    const c = client();
    const col = await c.getCollection({ name });
    await col.add({
      ids: records.map((r) => r.id),
      embeddings: records.map((_, i) => vec(i)),
      documents: records.map((r) => r.document ?? ''),
      metadatas: records.map((r) => r.metadata as Record<string, string | number | boolean>),
    });
    expect(await col.count()).toBe(N); // read-your-writes: the server's tail answers until a version holds them
    await compactNow(t, name);
    expect(await col.count()).toBe(N);
  });

  it('gets by ids, where, where_document, limit/offset, with embeddings', async () => {
    const col = await client().getCollection({ name });
    const byId = await col.get({
      ids: [records[3]!.id, records[1]!.id],
      include: ['embeddings', 'documents', 'metadatas'] as never,
    });
    expect(byId.ids).toEqual([records[3]!.id, records[1]!.id]);
    expect(byId.documents[0]).toBe(records[3]!.document);
    expect(byId.metadatas[1]).toEqual(records[1]!.metadata);
    expect(Float32Array.from(byId.embeddings[0]!)).toEqual(records[3]!.embedding);

    const cat = records[0]!.metadata!.category as string;
    const want = records
      .filter((r) => r.metadata!.category === cat)
      .map((r) => r.id)
      .sort();
    const byWhere = await col.get({ where: { category: { $eq: cat } } });
    expect([...byWhere.ids].sort()).toEqual(want);

    const low = await col.get({ where: { $and: [{ bucket: { $lt: 500 } }, { is_total: { $eq: false } }] } });
    expect([...low.ids].sort()).toEqual(
      records
        .filter((r) => (r.metadata!.bucket as number) < 500 && r.metadata!.is_total === false)
        .map((r) => r.id)
        .sort(),
    );

    const inSet = await col.get({ where: { category: { $in: [cat, 'books'] } } });
    expect(inSet.ids.length).toBeGreaterThanOrEqual(want.length);

    const word = (records[5]!.document ?? '').split(' ').find((w) => w.length > 3)!;
    const byDoc = await col.get({ whereDocument: { $contains: word } });
    expect([...byDoc.ids].sort()).toEqual(
      records
        .filter((r) => (r.document ?? '').includes(word))
        .map((r) => r.id)
        .sort(),
    );

    const page1 = await col.get({ limit: 10, offset: 0 });
    const page2 = await col.get({ limit: 10, offset: 10 });
    expect(page1.ids).toHaveLength(10);
    expect(page2.ids).toHaveLength(10);
    expect(page1.ids.filter((id) => page2.ids.includes(id))).toEqual([]);
  });

  it('queries with distances, filters and several query vectors', async () => {
    const col = await client().getCollection({ name });
    const r = await col.query({ queryEmbeddings: [vec(10), vec(20)], nResults: 5 });
    expect(r.ids).toHaveLength(2);
    expect(r.ids[0]![0]).toBe(records[10]!.id);
    expect(r.distances[0]![0]!).toBeCloseTo(0, 5);
    expect(r.ids[0]).toEqual(truth(vec(10), 5));
    expect(r.documents[0]![0]).toBe(records[10]!.document);

    const cat = records[10]!.metadata!.category as string;
    const f = await col.query({
      queryEmbeddings: [vec(10)],
      nResults: 10,
      where: { category: cat },
      include: ['distances', 'metadatas'] as never,
    });
    expect(f.ids[0]).toEqual(truth(vec(10), 10, (i) => records[i]!.metadata!.category === cat));
    for (const md of f.metadatas[0]!) expect(md!.category).toBe(cat);
    const d = f.distances[0]!;
    for (let i = 1; i < d.length; i++) expect(d[i]!).toBeGreaterThanOrEqual(d[i - 1]!);

    const none = await col.query({ queryEmbeddings: [vec(1)], nResults: 3, where: { category: 'no-such' } });
    expect(none.ids).toEqual([[]]);
  });

  it('upserts, updates and deletes (by ids and by where), visible after compaction', async () => {
    const col = await client().getCollection({ name });
    const keep = records.map((_, i) => i).filter((i) => (records[i]!.metadata!.bucket as number) < 990);
    const [a, b, c] = keep.map((i) => records[i]!);
    await col.upsert({
      ids: [a!.id],
      embeddings: [Array.from(a!.embedding)],
      metadatas: [{ category: 'changed', n: 1 }],
      documents: ['new doc'],
    });
    await col.update({ ids: [b!.id], metadatas: [{ note: 'updated' }] });
    await col.delete({ ids: [c!.id] });
    const gone = records.filter((r) => (r.metadata!.bucket as number) >= 990).length;
    await col.delete({ where: { bucket: { $gte: 990 } } });
    await compactNow(t, name);
    const got = await col.get({ ids: [a!.id, b!.id, c!.id] });
    expect(got.ids).toEqual([a!.id, b!.id]);
    // an upsert of an existing id updates the metadata keys it gives, as Chroma does
    expect(got.metadatas[0]).toEqual({ ...a!.metadata, category: 'changed', n: 1 });
    expect(got.documents[0]).toBe('new doc');
    expect(got.metadatas[1]).toEqual({ ...b!.metadata, note: 'updated' });
    expect(await col.count()).toBe(N - 1 - gone);
  });

  it('maps errors to the client classes', async () => {
    const col = await client().getCollection({ name });
    await expect(col.update({ ids: [records[4]!.id], embeddings: [[1, 2]] })).rejects.toBeInstanceOf(
      m.ChromaClientError,
    );
    await expect(col.query({ queryEmbeddings: [[1, 2, 3]], nResults: 1 })).rejects.toBeInstanceOf(
      m.ChromaClientError,
    );
    await expect(
      col.add({ ids: ['x'], embeddings: [[Number.NaN, ...vec(0).slice(1)]] }),
    ).rejects.toBeInstanceOf(m.ChromaClientError);
    const anon = new m.ChromaClient({ host: '127.0.0.1', port: t.port });
    const anonCol = await anon.getCollection({ name, embeddingFunction: null as never });
    await expect(anonCol.add({ ids: ['y'], embeddings: [vec(0)] })).rejects.toBeInstanceOf(
      m.ChromaUnauthorizedError,
    );
    expect(await anonCol.count()).toBeGreaterThan(0); // reads are open unless --auth-reads
    const wrong = new m.ChromaClient({
      host: '127.0.0.1',
      port: t.port,
      headers: { 'x-chroma-token': 'wrong' },
    });
    await expect(
      wrong.createCollection({ name: 'nope-nope', embeddingFunction: null }),
    ).rejects.toBeInstanceOf(m.ChromaUnauthorizedError);
  });

  it('deletes a collection', async () => {
    const c = client();
    await c.deleteCollection({ name });
    await expect(c.getCollection({ name })).rejects.toBeInstanceOf(m.ChromaNotFoundError);
  });
});

describe('chromadb 3.5.0 only', () => {
  it('filters array metadata with $contains, gets a collection by id', async () => {
    const m = chroma350;
    const c = new m.ChromaClient({ host: '127.0.0.1', port: t.port, headers: { 'x-chroma-token': TOKEN } });
    const col = await c.createCollection({ name: 'tagged', embeddingFunction: null });
    await col.add({
      ids: ['a', 'b', 'c'],
      embeddings: [vec(0), vec(1), vec(2)],
      metadatas: [{ tags: ['red', 'blue'] }, { tags: ['green'] }, { tags: ['blue'] }],
    });
    await compactNow(t, 'tagged');
    const blue = await col.get({ where: { tags: { $contains: 'blue' } } });
    expect([...blue.ids].sort()).toEqual(['a', 'c']);
    const notBlue = await col.query({
      queryEmbeddings: [vec(0)],
      nResults: 3,
      where: { tags: { $not_contains: 'blue' } },
    });
    expect(notBlue.ids).toEqual([['b']]);
    const byId = await c.getCollectionById(col.id);
    expect(byId.name).toBe('tagged');
  });
});
