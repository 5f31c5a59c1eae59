/**
 * Core (e): where a merge should stop reusing the largest input's graph and rebuild instead
 * (src/pipeline/step-merge.ts, DEFAULT_REBUILD_ABOVE). One collection is built into one indexed segment;
 * then rounds of re-upserts (new vectors for ids of that segment, each id once) bring the fraction of its
 * rows superseded to 5, 10, 20, 30 and 50 %. At each point every segment is merged twice in the bench's
 * process (every core for both): from the large segment's graph (its superseded rows removed, the
 * others' rows added) and from scratch. Reported: time, recall@10 of the query layer and of the index
 * alone, query p50 and the dead slots the reused graph keeps.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_REBUILD_ABOVE } from '../../src/pipeline/step-merge.js';
import { LocalStore } from '../../src/store/local-store.js';
import { generateChanges } from '../../src/workload/synthetic.js';
import { type IndexQuality, indexQuality, mergeInProcess } from './merge-eval.js';
import { describeVersion } from './query-compare.js';
import { type BenchRow, type BenchSection, round } from './stats.js';
import {
  compactWithPool,
  currentVersion,
  fmtMs,
  fmtN,
  fmtX,
  ingest,
  newCollection,
  queryVectors,
  upserts,
} from './workload.js';

export interface RebuildBenchOptions {
  records?: number;
  dimension?: number;
  /** Fractions of the large segment's rows superseded at which to compare (default 5/10/20/30/50 %). */
  points?: number[];
  queries?: number;
  log?: (m: string) => void;
}

interface Point {
  deleted: number;
  version: string;
  reuse: IndexQuality & { ms: number };
  rebuild: IndexQuality & { ms: number };
}

export async function benchRebuildThreshold(o: RebuildBenchOptions = {}): Promise<BenchSection> {
  const log = o.log ?? (() => {});
  const N = o.records ?? 200_000;
  const D = o.dimension ?? 384;
  const points = o.points ?? [0.05, 0.1, 0.2, 0.3, 0.5];
  const threads = availableParallelism();
  const dir = await mkdtemp(join(tmpdir(), 'strata-bench-rebuild-'));
  const store = await LocalStore.open(dir);
  const rows: BenchRow[] = [];
  const queries = queryVectors(11, o.queries ?? 200, D);
  try {
    log(`rebuild: ${fmtN(N)} × ${D} into one indexed segment`);
    const up = upserts(11, N, D);
    const config = await newCollection(store, 'threshold', D);
    await ingest(store, config, up.ops, 40);
    await compactWithPool(store, dir, 'threshold', { merge: 'all' });
    let untouched = up.ids.slice();
    up.ops.length = 0;
    const out: Point[] = [];
    let done = 0;
    for (const [i, frac] of points.entries()) {
      const count = Math.round(frac * N) - done;
      const ops = [
        ...generateChanges({
          seed: 11,
          existingIds: untouched,
          count,
          dimension: D,
          round: 100 + i,
          mix: { upsert: 0, reupsert: 1, update: 0, delete: 0 },
        }),
      ];
      const touched = new Set(ops.map((x) => x.id));
      untouched = untouched.filter((id) => !touched.has(id));
      done += ops.length;
      await ingest(store, config, ops, 10);
      await compactWithPool(store, dir, 'threshold', { merge: 'none' });
      const v = await currentVersion(store, 'threshold');
      const large = v.manifest.segments[0]!;
      const deleted = large.deleted / large.rows;
      log(
        `rebuild: ${round(100 * deleted, 1)} % of the large segment superseded (${describeVersion(v.manifest)})`,
      );
      const reuse = await mergeInProcess(store, config, 'reuse');
      const rebuild = await mergeInProcess(store, config, 'rebuild');
      const qr = await indexQuality(store, reuse.segment, queries);
      const qb = await indexQuality(store, rebuild.segment, queries);
      log(
        `rebuild: reuse ${fmtMs(reuse.ms)} recall ${round(qr.recall, 4)}/${round(qr.indexRecall, 4)}, rebuild ${fmtMs(rebuild.ms)} recall ${round(qb.recall, 4)}/${round(qb.indexRecall, 4)}`,
      );
      out.push({
        deleted,
        version: describeVersion(v.manifest),
        reuse: { ms: reuse.ms, ...qr },
        rebuild: { ms: rebuild.ms, ...qb },
      });
    }
    for (const p of out) {
      rows.push({
        bench: `merge with ${round(100 * p.deleted, 1)} % of the largest segment's rows superseded (${fmtN(N)} × ${D}; ${p.version}), in process, ${threads} threads`,
        metric:
          'reuse the largest graph vs rebuild: time; recall@10 query layer / index alone; query p50; dead slots',
        strata: `${fmtMs(p.reuse.ms)}; ${round(p.reuse.recall, 4)} / ${round(p.reuse.indexRecall, 4)}; ${fmtMs(p.reuse.p50Ms)}; ${fmtN(p.reuse.deadSlots)}`,
        baseline: `${fmtMs(p.rebuild.ms)}; ${round(p.rebuild.recall, 4)} / ${round(p.rebuild.indexRecall, 4)}; ${fmtMs(p.rebuild.p50Ms)}; ${fmtN(p.rebuild.deadSlots)} (rebuild)`,
        ratio: fmtX(p.reuse.ms / p.rebuild.ms),
        goal: 'report',
        met: null,
      });
    }
    // Reuse pays while it is faster and loses no more than 0.5 point of recall (query layer and index alone)
    // against a fresh build; the threshold is the largest measured fraction where it still does.
    const pays = (p: Point) =>
      p.reuse.ms < p.rebuild.ms &&
      p.rebuild.recall - p.reuse.recall <= 0.005 &&
      p.rebuild.indexRecall - p.reuse.indexRecall <= 0.005;
    let threshold = 0;
    for (const p of out) {
      if (!pays(p)) break;
      threshold = p.deleted;
    }
    rows.push({
      bench: 'rebuild threshold (DEFAULT_REBUILD_ABOVE)',
      metric:
        'largest measured fraction superseded at which reuse is still faster and within 0.5 point of recall (query layer and index alone)',
      strata: `${round(100 * threshold, 1)} %`,
      baseline: `${round(100 * DEFAULT_REBUILD_ABOVE, 1)} % (current placeholder)`,
      ratio: '-',
      goal: 'report',
      met: null,
    });
    return {
      name: 'core:rebuild',
      rows,
      data: { records: N, dimension: D, threads, points: out, measuredThreshold: threshold },
    };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
