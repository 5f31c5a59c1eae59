/**
 * Filtered k-NN held to its recall on real data: the first 4,000 fashion-mnist images (784-d, l2; read from
 * the Debian package `dataset-fashion-mnist`, which `node scripts/setup.mjs --servers` installs — the suite
 * fails when it is missing) in a segment with an index, queried with 100 test images under the real filters
 * of lab/bench/real-data.ts (0.1 % … 50 %). Every plan — the planner's choice, the exact scan of the
 * eligible rows, and the index over-fetch with its verified widening — must reach ann-benchmarks recall@10
 * ≥ 0.99 against exact ground truth, including queries far from every eligible row (sneakers asked for
 * dresses), where a post-filtered graph walk ends among ineligible rows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  annRecall,
  groundTruth,
  loadFashionMnist,
  type RealWorkload,
  rowIndex,
} from '../../lab/bench/real-data.js';
import type { Operation } from '../../src/core/types.js';
import { exactNearest } from '../../src/engine/ann-index.js';
import { createCollection } from '../../src/pipeline/collections.js';
import { openCurrentVersion, type QueryableVersion } from '../../src/pipeline/current.js';
import { evaluateFilter, normalizeFilter } from '../../src/query/filter.js';
import { knn } from '../../src/query/knn.js';
import type { SegmentView } from '../../src/query/segment-view.js';
import { compactInline, ingestBatches } from '../helpers/pipeline.js';
import { tempStore } from '../helpers/tmp.js';

const K = 10;

describe('filtered k-NN on fashion-mnist (real data): recall@10 ≥ 0.99 at every selectivity and plan', () => {
  let ctx: Awaited<ReturnType<typeof tempStore>>;
  let version: QueryableVersion;
  let view: SegmentView;
  let w: RealWorkload;
  beforeAll(async () => {
    w = loadFashionMnist({ records: 4_000, queries: 100 });
    ctx = await tempStore();
    const d = w.dimension;
    const config = await createCollection(ctx.store, {
      name: 'fm',
      dimension: d,
      metric: 'l2sq',
      quantization: 'f16',
    });
    const ops: Operation[] = w.ids.map((id, i) => ({
      op: 'upsert',
      id,
      embedding: w.matrix.subarray(i * d, (i + 1) * d),
      document: null,
      metadata: w.metadatas[i]!,
    }));
    await ingestBatches(ctx.store, config, ops, 1_000);
    await compactInline(ctx.store, 'fm', { merge: 'all' });
    version = await openCurrentVersion(ctx.store, 'fm');
    view = version.view.parts[0]!.source as SegmentView;
    expect(view.hasIndex).toBe(true);
    expect(view.size).toBe(4_000);
  });
  afterAll(async () => {
    await version?.close();
    await ctx?.[Symbol.asyncDispose]();
  });

  const nearest = (m: Float32Array, q: Float32Array, k: number) =>
    exactNearest('l2sq', m, w.dimension, q, k).rows;

  it.each([
    ['the planner', undefined],
    ['exact subset', 1_000_000],
    ['index over-fetch, verified', 0],
  ])('%s', (_label, exactBelow) => {
    const rowOf = rowIndex(w);
    for (const f of w.filters) {
      const { mask, count } = evaluateFilter(view, normalizeFilter({ where: f.where }));
      const eligible: number[] = [];
      w.metadatas.forEach((m, i) => {
        if (f.matches(m)) eligible.push(i);
      });
      expect(count, f.label).toBe(eligible.length);
      const truth = groundTruth(w, w.queries, K, eligible, nearest);
      const results = w.queries.map((q) =>
        knn(view, 'l2sq', q, K, mask, count, exactBelow === undefined ? {} : { exactBelow }).rows.map(
          (r) => view.ids[r]!,
        ),
      );
      const set = new Set(eligible);
      const recall = annRecall(w, w.queries, results, truth, K, (r) => set.has(r), rowOf);
      expect(recall, `${f.label} (${count} eligible)`).toBeGreaterThanOrEqual(0.99);
    }
  });

  it('an over-fetch whose walk ends among ineligible rows widens (or scans) until its answer is verified', () => {
    // dresses for queries of other classes: the first walk finds too few dresses, or unverified ones
    const { mask, count } = evaluateFilter(view, normalizeFilter({ where: { label: 3 } }));
    const steps: string[] = [];
    let widened = 0;
    for (const q of w.queries) {
      const before = steps.length;
      knn(view, 'l2sq', q, K, mask, count, {
        exactBelow: 0,
        trace: (step, size) => steps.push(`${step}:${size}`),
      });
      if (steps.length - before > 1) widened++;
    }
    expect(widened).toBeGreaterThan(0);
  });
});
