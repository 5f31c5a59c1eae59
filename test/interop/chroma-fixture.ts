/**
 * A Chroma persistent directory written by the real server through the official client, with what the
 * server returns for every record captured before it is stopped:
 * - `small`: cosine, 16-d, 300 adds (< 1,000: the index is never persisted, every vector is in the log);
 * - `large`: cosine, 24-d, 2,300 adds (persisted index at 1,000 and 2,000 additions + log);
 * - `plain`: l2, 12-d, 1,100 adds;
 * then deletes (some of persisted records), upserts of existing ids, metadata updates, document-only
 * updates (raw HTTP: the official client refuses them without an embedding function) and vector updates.
 */
import type { ChromaClient, Collection } from 'chromadb';
import { rng } from '../../src/core/random.js';
import type { Metadata } from '../../src/core/types.js';
import type { ChromaTestServer } from '../servers/chroma.js';

export interface ExpectedRecord {
  embedding: Float32Array;
  document: string | null;
  metadata: Metadata | null;
}

export const FIXTURE = {
  small: { space: 'cosine', dim: 16, count: 300 },
  large: { space: 'cosine', dim: 24, count: 2_300 },
  plain: { space: 'l2', dim: 12, count: 1_100 },
} as const;

export type FixtureName = keyof typeof FIXTURE;

function vec(r: ReturnType<typeof rng>, dim: number, scale = 1): number[] {
  return Array.from({ length: dim }, () => Math.fround(r.normal() * scale));
}

async function addAll(
  c: Collection,
  prefix: string,
  dim: number,
  count: number,
  seed: number,
): Promise<string[]> {
  const r = rng(seed);
  const ids: string[] = [];
  for (let s = 0; s < count; s += 500) {
    const batch = Array.from({ length: Math.min(500, count - s) }, (_, k) => s + k);
    const bIds = batch.map((i) => `${prefix}${String(i).padStart(5, '0')}`);
    ids.push(...bIds);
    const vectors = new Map(batch.map((i) => [i, vec(r, dim, i % 3 === 0 ? 10 : 1)]));
    const hasDoc = (i: number) => i % 7 !== 0;
    const hasMeta = (i: number) => i % 5 !== 0;
    // the official client wants all or none of a call's records to carry documents (and metadata)
    for (const [doc, meta] of [
      [true, true],
      [true, false],
      [false, true],
      [false, false],
    ] as const) {
      const group = batch.filter((i) => hasDoc(i) === doc && hasMeta(i) === meta);
      if (group.length === 0) continue;
      await c.add({
        ids: group.map((i) => `${prefix}${String(i).padStart(5, '0')}`),
        embeddings: group.map((i) => vectors.get(i)!),
        ...(doc ? { documents: group.map((i) => `line ${i} of ${prefix}`) } : {}),
        ...(meta
          ? { metadatas: group.map((i) => ({ i, tag: `t${i % 3}`, f: i / 7, ok: i % 2 === 0 })) }
          : {}),
      });
    }
  }
  return ids;
}

/** Updates documents only, over raw HTTP (the v2 API accepts it; the JS client would try to embed). */
async function updateDocuments(
  port: number,
  c: Collection,
  ids: string[],
  documents: string[],
): Promise<void> {
  const res = await fetch(
    `http://127.0.0.1:${port}/api/v2/tenants/default_tenant/databases/default_database/collections/${c.id}/update`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ids, documents }),
    },
  );
  if (!res.ok) throw new Error(`document update failed: ${res.status} ${await res.text()}`);
}

async function mutate(
  t: ChromaTestServer,
  c: Collection,
  ids: string[],
  dim: number,
  seed: number,
): Promise<void> {
  const r = rng(seed + 1);
  const n = ids.length;
  const pick = (from: number, count: number, step: number) =>
    Array.from({ length: count }, (_, k) => ids[(from + k * step) % n]!);
  const deleted = pick(3, Math.max(5, Math.floor(n / 60)), 37);
  await c.delete({ ids: deleted });
  const alive = ids.filter((id) => !deleted.includes(id));
  const at = (from: number, count: number) => alive.slice(from, from + count);
  await c.update({ ids: at(10, 10), metadatas: at(10, 10).map((_, k) => ({ changed: true, round: k })) });
  await c.upsert({
    ids: at(30, 10),
    embeddings: at(30, 10).map(() => vec(r, dim)),
    documents: at(30, 10).map((id) => `upserted ${id}`),
    metadatas: at(30, 10).map((_, k) => ({ upserted: k })),
  });
  await c.update({
    ids: at(45, 5),
    embeddings: at(45, 5).map(() => vec(r, dim, 3)),
    documents: at(45, 5).map((id) => `moved ${id}`),
  });
  await updateDocuments(
    t.server.port,
    c,
    at(55, 5),
    at(55, 5).map((id) => `rewritten ${id}`),
  );
}

/** Writes the fixture collections and returns what the server serves for each record. */
export async function writeFixture(
  t: ChromaTestServer,
): Promise<Map<FixtureName, Map<string, ExpectedRecord>>> {
  const out = new Map<FixtureName, Map<string, ExpectedRecord>>();
  let seed = 100;
  for (const [name, f] of Object.entries(FIXTURE) as Array<[FixtureName, (typeof FIXTURE)[FixtureName]]>) {
    const c = await (t.client as ChromaClient).createCollection({
      name,
      embeddingFunction: null,
      metadata: { origin: 'fixture', 'hnsw:space': f.space },
    });
    const ids = await addAll(c, name.slice(0, 1), f.dim, f.count, seed);
    await mutate(t, c, ids, f.dim, seed);
    seed += 10;
    const got = await c.get({ include: ['embeddings', 'documents', 'metadatas'] as never, limit: 10_000 });
    const records = new Map<string, ExpectedRecord>();
    got.ids.forEach((id, i) => {
      records.set(id, {
        embedding: Float32Array.from(got.embeddings[i] as number[]),
        document: got.documents[i] ?? null,
        metadata: (got.metadatas[i] as Metadata | null) ?? null,
      });
    });
    out.set(name, records);
  }
  return out;
}
