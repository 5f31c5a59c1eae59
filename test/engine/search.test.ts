import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Metric, Quantization } from '../../src/core/types.js';
import { distance, type Hit, SegmentReader, SegmentWriter } from '../../src/engine/index.js';
import { clustered, config, put, rng, tmp } from './helpers.js';

const N = 5000;
const D = 64;
const Q = 100;
let root: { dir: string; cleanup: () => void };
let data: Float32Array;
let queries: Float32Array;
const ids_ = Array.from({ length: N }, (_, i) => `v${String(i).padStart(5, '0')}`);

function bruteForce(metric: Metric, query: Float32Array, k: number): Hit[] {
  const all: Hit[] = [];
  for (let i = 0; i < N; i++)
    all.push({
      id: ids_[i]!,
      key: i + 1,
      distance: distance(metric, query, data.subarray(i * D, (i + 1) * D)),
    });
  return all.sort((a, b) => a.distance - b.distance).slice(0, k);
}

beforeAll(() => {
  root = tmp();
  const r = rng(42);
  const all = clustered(r, N + Q, D, 60, 0.4);
  data = all.subarray(0, N * D);
  queries = all.subarray(N * D);
});
afterAll(() => root.cleanup());

const cases: [Metric, Quantization][] = [
  ['cos', 'f32'],
  ['cos', 'f16'],
  ['l2sq', 'f32'],
  ['l2sq', 'f16'],
  ['ip', 'f32'],
  ['ip', 'f16'],
];

describe('search', () => {
  it.each(cases)('recall@10 >= 0.95 vs exactSearch (%s, %s)', async (metric, quantization) => {
    const dir = join(root.dir, `${metric}-${quantization}`);
    // expansionAdd 64 (default 128) halves the build time of the test; recall stays >= 0.99
    const cfg = config({ dimension: D, metric, quantization, expansionAdd: 64 });
    {
      await using w = await SegmentWriter.create({
        dir,
        kind: 'data',
        config: cfg,
        buildIndex: true,
        threads: 2,
      });
      for (let i = 0; i < N; i++) w.append(put(ids_[i]!, data.subarray(i * D, (i + 1) * D)));
      await w.seal({ seqRange: null, inputs: [] });
    }
    await using reader = await SegmentReader.open(dir, { verify: 'none' });
    let found = 0;
    for (let q = 0; q < Q; q++) {
      const query = queries.subarray(q * D, (q + 1) * D);
      const truth = bruteForce(metric, query, 10);
      if (q < 5) {
        // the reader's exact search is the same ground truth (checked on a few queries: it is O(N) reads)
        const exact = reader.exactSearch(query, 10);
        expect(exact.map((h) => h.id)).toEqual(truth.map((h) => h.id));
        for (let i = 0; i < 10; i++) expect(exact[i]!.distance).toBeCloseTo(truth[i]!.distance, 4);
      }
      // f16: with the exact f32 re-rank, so distances are exact (the default returns the index's own)
      const approx = reader.search(query, 10, { rerank: quantization === 'f16' });
      expect(approx).toHaveLength(10);
      const ids = new Set(truth.map((h) => h.id));
      for (const h of approx) if (ids.has(h.id)) found++;
      for (let i = 1; i < approx.length; i++)
        expect(approx[i]!.distance).toBeGreaterThanOrEqual(approx[i - 1]!.distance);
      // hits carry usearch's distance (exact f32 after the f16 re-rank), the id and the key (1..N in id order)
      const top = approx[0]!;
      expect(top.id).toBe(ids_[top.key - 1]);
      const row = reader.vectors([top.key]);
      expect([...row]).toEqual([...data.subarray((top.key - 1) * D, top.key * D)]);
      expect(top.distance).toBeCloseTo(distance(metric, query, row), quantization === 'f16' ? 5 : 4);
    }
    const recall = found / (Q * 10);
    expect(recall).toBeGreaterThanOrEqual(0.95);
    // exact search over a subset only returns keys of that subset
    const subset = [5, 10, 15, 20, 25];
    const sub = reader.exactSearch(queries.subarray(0, D), 3, subset);
    expect(sub).toHaveLength(3);
    for (const h of sub) expect(subset).toContain(h.key);
    // ef widens the search; k larger than ef works
    expect(reader.search(queries.subarray(0, D), 10, { ef: 200 })).toHaveLength(10);
    expect(reader.search(queries.subarray(0, D), 150)).toHaveLength(150);
    if (quantization === 'f16') expect(reader.search(queries.subarray(0, D), 10)).toHaveLength(10);
  });

  it('refuses a query of the wrong dimension', async () => {
    const dir = join(root.dir, 'cos-f32');
    await using reader = await SegmentReader.open(dir, { verify: 'none' });
    expect(() => reader.search(new Float32Array(3), 1)).toThrowError(
      expect.objectContaining({ code: 'E_DIMENSION_MISMATCH' }),
    );
  });
});
