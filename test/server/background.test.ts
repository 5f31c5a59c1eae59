/** `strata serve --compact-every`: writes become visible without anyone calling compact. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

const DB = '/api/v2/tenants/default_tenant/databases/default_database';

describe('background compaction', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ compactEveryMs: 150, refreshMs: 50 });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('compacts pending deltas on its own and the server swaps the new snapshot in', async () => {
    const res = await t.call('POST', `${DB}/collections`, {
      name: 'bg-compact',
      configuration: { hnsw: { space: 'ip' } },
    });
    expect(res.status).toBe(200);
    const { id } = (await res.json()) as { id: string };
    const add = await t.call('POST', `${DB}/collections/${id}/add`, {
      ids: ['a', 'b', 'c'],
      embeddings: [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
      ],
      documents: ['x', 'y', 'z'],
    });
    expect(add.status).toBe(201);
    expect(add.headers.get('x-strata-delta')).toMatch(/^\d+-\d+$/);
    // visible at once (read-your-writes), before any compaction
    expect((await (await t.call('GET', `${DB}/collections/${id}/count`)).json()) as number).toBe(3);
    // Wait on the real condition (a version published by the background compactor is served), bounded.
    const deadline = Date.now() + 30_000;
    type Snaps = {
      collections: Array<{ collection: string; served: number | null; current: { version: number } | null }>;
    };
    let served: number | null = null;
    while (served === null && Date.now() < deadline) {
      const snaps = (await (await t.call('GET', '/strata/v1/snapshots')).json()) as Snaps;
      served = snaps.collections.find((c) => c.collection === 'bg-compact')?.served ?? null;
      if (served === null) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(served).toBeGreaterThanOrEqual(1);
    expect(t.server.ctx.tails!.get('bg-compact')!.records).toBe(0); // the version holds it all now
    expect((await (await t.call('GET', `${DB}/collections/${id}/count`)).json()) as number).toBe(3);
    const q = await t.call('POST', `${DB}/collections/${id}/query`, {
      query_embeddings: [[0, 1, 0]],
      n_results: 1,
    });
    const body = (await q.json()) as { ids: string[][]; distances: number[][] };
    expect(body.ids).toEqual([['b']]);
    expect(body.distances[0]![0]).toBeCloseTo(0, 6); // ip distance = 1 - dot
    const snaps = (await (await t.call('GET', '/strata/v1/snapshots')).json()) as Snaps;
    const row = snaps.collections.find((c) => c.collection === 'bg-compact')!;
    expect(row.served).toBe(row.current!.version);
  });
});
