/**
 * Two query servers on one store: what the other server sees of a write acknowledged by this one. With
 * --follow-store (the default) a server picks up other producers' accepted deltas at its next refresh, in
 * sequence order, before any compaction; with --no-follow-store only once a published version holds them.
 * Reads on either server never go backwards across the compaction that publishes the writes.
 */
import { ChromaClient } from 'chromadb';
import { afterEach, describe, expect, it } from 'vitest';
import { StrataServer } from '../../src/server/server.js';
import { LocalStore } from '../../src/store/local-store.js';
import { compactNow, startTestServer, type TestServer, TOKEN } from './helpers.js';

const DIM = 4;
const client = (port: number) =>
  new ChromaClient({ host: '127.0.0.1', port, headers: { 'x-chroma-token': TOKEN } });

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/** A second server on the first one's store (its own store handle), refreshed only when the test says. */
async function peer(a: TestServer, followStore: boolean): Promise<StrataServer> {
  const store = await LocalStore.open(a.dir);
  const b = await StrataServer.start({ store, port: 0, token: TOKEN, refreshMs: 3_600_000, followStore });
  cleanup.push(async () => {
    await b.close();
    await store.close();
  });
  return b;
}

async function setup(followStore: boolean) {
  const a = await startTestServer({ refreshMs: 3_600_000 });
  cleanup.push(() => a.close());
  const colA = await client(a.port).getOrCreateCollection({ name: 'shared', embeddingFunction: null });
  await colA.add({ ids: ['x0'], embeddings: [[1, 0, 0, 0]] });
  await compactNow(a);
  const b = await peer(a, followStore);
  const colB = await client(b.port).getCollection({ name: 'shared', embeddingFunction: undefined });
  expect(await colB.count()).toBe(1);
  return { a, b, colA, colB };
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => `r${i}`);
const embeddings = (n: number) =>
  Array.from({ length: n }, (_, i) => Array.from({ length: DIM }, (_, j) => Math.cos(i + j)));

describe('another server on the same store', () => {
  it('follows the store: sees this server’s acknowledged writes at its next refresh, before compaction, and never loses them', async () => {
    const { a, b, colA, colB } = await setup(true);
    await colA.add({ ids: ids(20), embeddings: embeddings(20) });
    await colA.delete({ ids: ['x0'] });
    expect(await colA.count()).toBe(20); // read-your-writes on the writing server
    expect(await colB.count()).toBe(1); // not refreshed yet: the version it serves
    await b.ctx.snapshots.refreshAll();
    expect(await colB.count()).toBe(20);
    const got = await colB.get({ ids: ['r3', 'x0'], include: ['embeddings'] as never });
    expect(got.ids).toEqual(['r3']);
    // the compaction publishes them: B swaps to the version and drops them from its tail in one step
    await compactNow(a);
    await b.ctx.snapshots.refreshAll();
    expect(await colB.count()).toBe(20);
    expect(b.ctx.tails?.get('shared')?.records ?? 0).toBe(0);
  });

  it('with --no-follow-store, sees them only once a published version holds them', async () => {
    const { a, b, colA, colB } = await setup(false);
    await colA.add({ ids: ids(5), embeddings: embeddings(5) });
    expect(await colA.count()).toBe(6);
    await b.ctx.snapshots.refreshAll();
    expect(await colB.count()).toBe(1);
    await compactNow(a);
    await b.ctx.snapshots.refreshAll();
    expect(await colB.count()).toBe(6);
  });
});
