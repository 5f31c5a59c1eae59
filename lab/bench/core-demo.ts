/**
 * Core (a): the demo workload (28,454 × 1536, 120 deltas, chunks of 3, groups of 10, local pool) published
 * without merges — the version is queryable then — against a bare usearch build of the same vectors in
 * the same process; the peak RSS of its steps; then the background merge down to one segment, timed on
 * its own against the same bare build (goal ≤ 1.3×).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore } from '../../src/store/local-store.js';
import { bareUsearchBuild } from './bare-build.js';
import { describeVersion } from './query-compare.js';
import type { BenchRow, BenchSection } from './stats.js';
import { round } from './stats.js';
import {
  compactWithPool,
  currentVersion,
  fmtMB,
  fmtMs,
  fmtN,
  fmtX,
  ingest,
  mergeWithPool,
  newCollection,
  upserts,
} from './workload.js';

export interface DemoBenchOptions {
  records?: number;
  dimension?: number;
  deltas?: number;
  log?: (m: string) => void;
}

export async function benchDemoBuild(o: DemoBenchOptions = {}): Promise<BenchSection> {
  const log = o.log ?? (() => {});
  const N = o.records ?? 28_454;
  const D = o.dimension ?? 1536;
  const deltas = o.deltas ?? 120;
  const threads = availableParallelism();
  const dir = await mkdtemp(join(tmpdir(), 'strata-bench-demo-'));
  const store = await LocalStore.open(dir);
  const rows: BenchRow[] = [];
  try {
    log(`demo: ${fmtN(N)} × ${D} as ${deltas} deltas`);
    const up = upserts(42, N, D);
    const config = await newCollection(store, 'lines', D);
    const ingestMs = await ingest(store, config, up.ops, deltas);
    log('demo: bare usearch build (baseline, before)');
    const bare1 = bareUsearchBuild(up.matrix, D, threads);
    log('demo: compaction, merge none (deltas → published version)');
    const pub = await compactWithPool(store, dir, 'lines', { merge: 'none' });
    const pubVersion = await currentVersion(store, 'lines');
    log(`demo: published ${describeVersion(pubVersion.manifest)}; merging down to one segment`);
    const merge = await mergeWithPool(store, dir, 'lines', { mode: 'all' });
    log('demo: bare usearch build (baseline, after)');
    const bare2 = bareUsearchBuild(up.matrix, D, threads);
    const bare = (bare1 + bare2) / 2;
    const t = pub.value.timingsMs;
    const rawBytes = N * D * 4;
    const rssLimitMb = (2 * rawBytes) / 2 ** 20 + 300;
    const peak = pub.value.peakRssMb.steps;
    const label = `demo (${fmtN(N)} × ${D}, f16, ${deltas} deltas, chunks 3, groups 10, local pool of ${threads})`;
    const baseline = `${fmtMs(bare)} (bare usearch build, ${threads} threads; mean of ${fmtMs(bare1)} before, ${fmtMs(bare2)} after)`;
    rows.push(
      {
        bench: label,
        metric: `publish, merge none: deltas → published version (${describeVersion(pubVersion.manifest)}); chunks ${fmtMs(t.chunks ?? 0)}, groups ${fmtMs(t.groups ?? 0)}, final ${fmtMs(t.final ?? 0)}, pointer ${fmtMs(t.publish ?? 0)}`,
        strata: fmtMs(pub.ms),
        baseline,
        ratio: fmtX(pub.ms / bare),
        goal: '≤ 1.3× (the older goal, for the whole compaction)',
        met: pub.ms / bare <= 1.3,
      },
      {
        bench: label,
        metric: 'publish: peak RSS of the largest step process',
        strata: `${peak} MB`,
        baseline: `${fmtMB(rawBytes)} raw f32 vectors`,
        ratio: fmtX(peak / (rawBytes / 2 ** 20)),
        goal: `≤ ${Math.round(rssLimitMb)} MB (2× raw + 300 MB)`,
        met: peak <= rssLimitMb,
      },
      {
        bench: label,
        metric: `background merge down to one segment (${merge.value.published.map((p) => `${p.inputs} segments, ${p.build}`).join('; ')}; steps ${merge.value.published.map((p) => fmtMs(p.ms)).join(', ')})`,
        strata: fmtMs(merge.ms),
        baseline,
        ratio: fmtX(merge.ms / bare),
        goal: '≤ 1.3×',
        met: merge.ms / bare <= 1.3,
      },
      {
        bench: label,
        metric: 'background merge: peak RSS of the merge step process',
        strata: `${merge.peakRssMb} MB`,
        baseline: `${fmtMB(rawBytes)} raw f32 vectors`,
        ratio: fmtX(merge.peakRssMb / (rawBytes / 2 ** 20)),
        goal: 'report',
        met: null,
      },
    );
    return {
      name: 'core:demo',
      rows,
      data: {
        records: N,
        dimension: D,
        deltas,
        threads,
        ingestMs: Math.round(ingestMs),
        bareUsearchBuildMs: [Math.round(bare1), Math.round(bare2)],
        publish: {
          wallMs: Math.round(pub.ms),
          timingsMs: t,
          peakRssMb: pub.value.peakRssMb,
          segments: pubVersion.manifest.segments.map((s) => ({
            rows: s.rows,
            indexed: s.indexed,
            bytes: s.bytes,
          })),
        },
        merge: {
          wallMs: Math.round(merge.ms),
          peakRssMb: merge.peakRssMb,
          published: merge.value.published,
        },
        ratios: { publish: round(pub.ms / bare, 3), merge: round(merge.ms / bare, 3) },
      },
    };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
