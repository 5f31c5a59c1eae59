/**
 * Load on loopback: concurrent clients query while writes arrive, compaction (in worker processes) publishes
 * new versions and merges run. Every generation g rewrites every record (one request: one delta) with
 * metadata gen = g, so every consistent state — a version, or a version with the tail of acknowledged writes
 * on top — holds exactly one generation: a response that mixed two versions, or a version with part of a
 * tail, would show two. Generations never go backwards for a client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateRecords } from '../../src/workload/synthetic.js';
import { compactNow, startTestServer, type TestServer } from './helpers.js';

const DIM = 16;
const N = 2_000;
const GENERATIONS = 4;
const CLIENTS = 8;
const base = [...generateRecords({ seed: 11, count: N, dimension: DIM })];

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ compactRunner: 'local', compactConcurrency: 1, refreshMs: 100 });
});
afterAll(async () => {
  await t?.close();
});

describe('strata serve under load while snapshots are published', () => {
  it('answers every query from exactly one snapshot, with zero errors', async () => {
    const created = await t.call(
      'POST',
      '/api/v2/tenants/default_tenant/databases/default_database/collections',
      {
        name: 'gen',
        configuration: { hnsw: { space: 'cosine' } },
      },
    );
    expect(created.status).toBe(200);
    const { id } = (await created.json()) as { id: string };
    const coll = `/api/v2/tenants/default_tenant/databases/default_database/collections/${id}`;
    const writeGeneration = async (g: number) => {
      const res = await t.call('POST', `${coll}/upsert`, {
        ids: base.map((r) => r.id),
        embeddings: base.map((r) => Array.from(r.embedding)),
        metadatas: base.map((r) => ({ gen: g, category: r.metadata!.category as string })),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-strata-visibility')).toBe('immediate');
    };
    await writeGeneration(1);
    await compactNow(t, 'gen');

    let stop = false;
    const latencies: number[] = [];
    const errors: string[] = [];
    const versions = new Set<number>();
    const client = async (c: number) => {
      let i = c;
      while (!stop) {
        const q = base[(i * 37) % N]!.embedding;
        const filtered = i % 2 === 0;
        const t0 = performance.now();
        const res = await fetch(`${t.url}${coll}/query`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            query_embeddings: [Array.from(q)],
            n_results: 10,
            include: ['metadatas', 'distances'],
            ...(filtered ? { where: { category: { $in: ['grocery', 'produce', 'dairy'] } } } : {}),
          }),
        });
        const body = (await res.json()) as { ids: string[][]; metadatas: Array<Array<{ gen: number }>> };
        latencies.push(performance.now() - t0);
        if (res.status !== 200) {
          errors.push(`${res.status} ${JSON.stringify(body)}`);
          continue;
        }
        const v = Number(res.headers.get('x-strata-snapshot-version'));
        versions.add(v);
        const gens = new Set(body.metadatas[0]!.map((m) => m.gen));
        const gen = [...gens][0] ?? 0;
        if (body.ids[0]!.length !== 10 || gens.size !== 1 || gen < lastGen[c]!) {
          errors.push(
            `version ${v} answered generations ${[...gens]} with ${body.ids[0]!.length} hits (client saw ${lastGen[c]} before)`,
          );
        }
        lastGen[c] = Math.max(lastGen[c]!, gen);
        i += CLIENTS;
      }
    };
    const lastGen = Array.from({ length: CLIENTS }, () => 0);
    const running = Array.from({ length: CLIENTS }, (_, c) => client(c));
    try {
      for (let g = 2; g <= GENERATIONS; g++) {
        await writeGeneration(g);
        await compactNow(t, 'gen');
      }
    } finally {
      stop = true;
      await Promise.all(running);
    }
    latencies.sort((a, b) => a - b);
    const report = {
      queries: latencies.length,
      clients: CLIENTS,
      p50: percentile(latencies, 50).toFixed(2),
      p95: percentile(latencies, 95).toFixed(2),
      p99: percentile(latencies, 99).toFixed(2),
      max: latencies[latencies.length - 1]!.toFixed(2),
      versionsSeen: [...versions].sort(),
      swaps: t.server.ctx.snapshots.swaps,
    };
    console.log(`load: ${JSON.stringify(report)} (ms)`);
    expect(errors).toEqual([]);
    expect(latencies.length).toBeGreaterThan(100);
    expect(versions.size).toBeGreaterThanOrEqual(2);
    expect(t.server.ctx.snapshots.current('gen')!.version).toBeGreaterThanOrEqual(GENERATIONS);
    expect(lastGen.every((g) => g === GENERATIONS)).toBe(true);
    const metrics = await (await t.call('GET', '/metrics')).text();
    expect(metrics).toMatch(/strata_snapshot_version\{collection="gen"\} \d+/);
    expect(metrics).toMatch(/strata_query_duration_seconds_bucket\{collection="gen",le="0.005"\} \d+/);
  });
});
