/**
 * Core (c), (d) and (e) on 200,000 × 384, one collection, in this order:
 *  - the full build: the whole collection compacted from its deltas into one indexed segment (compaction
 *    with merge 'all'), the baseline of (d);
 *  - (d) a 1 % change (the demo's mix) published onto it: wall time, bytes written to the store, peak RSS
 *    of the steps; then the merges the policy asks for;
 *  - 19 more rounds of 1 % changes, each compacted with the policy's merges (compact's default);
 *  - (e) on that version: a merge of every segment from the largest graph vs a fresh build of the same
 *    rows (time, recall);
 *  - (c) query p50 / recall of that version vs the fully merged one (optimize), and raw usearch;
 *  - (e) recall drift over 20 merge generations: each a 1 % change, published, then merged into one
 *    segment from the previous generation's graph; at the end a fresh build of the same rows.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore } from '../../src/store/local-store.js';
import { bareUsearchBuild } from './bare-build.js';
import { indexQuality, mergeInProcess, onlySegment } from './merge-eval.js';
import { compareWithMerged, describeVersion } from './query-compare.js';
import { type BenchRow, type BenchSection, round } from './stats.js';
import { storeUsage, usageGrowth } from './store-usage.js';
import {
  changeOps,
  compactWithPool,
  currentVersion,
  fmtMB,
  fmtMs,
  fmtN,
  fmtPct,
  fmtX,
  ingest,
  mergeWithPool,
  newCollection,
  queryVectors,
  upserts,
  vectorBytes,
  versionBytes,
} from './workload.js';

export interface LargeBenchOptions {
  records?: number;
  dimension?: number;
  /** Change rounds with the policy's merges (default 20). */
  rounds?: number;
  /** Merge generations for the drift (default 20). */
  generations?: number;
  queries?: number;
  log?: (m: string) => void;
}

export async function benchLarge(o: LargeBenchOptions = {}): Promise<BenchSection> {
  const log = o.log ?? (() => {});
  const N = o.records ?? 200_000;
  const D = o.dimension ?? 384;
  const R = o.rounds ?? 20;
  const G = o.generations ?? 20;
  const change = Math.round(N / 100);
  const threads = availableParallelism();
  const dir = await mkdtemp(join(tmpdir(), 'strata-bench-large-'));
  const store = await LocalStore.open(dir);
  const rows: BenchRow[] = [];
  const data: Record<string, unknown> = { records: N, dimension: D, change, threads };
  const queries = queryVectors(7, o.queries ?? 300, D);
  try {
    // --- the full build --------------------------------------------------------------------------------
    log(`large: ${fmtN(N)} × ${D} as 40 deltas`);
    const up = upserts(7, N, D);
    const config = await newCollection(store, 'large', D);
    await ingest(store, config, up.ops, 40);
    log('large: full build (compaction with merge all)');
    const full = await compactWithPool(store, dir, 'large', { merge: 'all' });
    const fullVersion = await currentVersion(store, 'large');
    const fullBytes = versionBytes(fullVersion);
    log('large: bare usearch build of the same vectors');
    const bareMs = bareUsearchBuild(up.matrix, D, threads);
    up.ops.length = 0;
    data.fullBuild = {
      wallMs: Math.round(full.ms),
      timingsMs: full.value.timingsMs,
      segments: fullVersion.manifest.segments.length,
      bytes: fullBytes,
      bareUsearchBuildMs: Math.round(bareMs),
    };

    // --- (d) a 1 % change published -------------------------------------------------------------------
    const ops = await changeOps(store, 'large', { seed: 7, count: change, dimension: D, round: 1 });
    await ingest(store, config, ops, 10);
    const u0 = await storeUsage(store, 'large');
    log(`large: publish a 1 % change (${fmtN(ops.length)} operations)`);
    const pub = await compactWithPool(store, dir, 'large', { merge: 'none' });
    const grown = usageGrowth(u0, await storeUsage(store, 'large'));
    const after = await currentVersion(store, 'large');
    const changeBytes = vectorBytes(ops);
    const rssLimitMb = (1.5 * changeBytes) / 2 ** 20 + 300;
    const peak = pub.value.peakRssMb.steps;
    const t = pub.value.timingsMs;
    const label = `1 % change (${fmtN(ops.length)} ops: the demo's mix) onto ${fmtN(N)} × ${D}`;
    const fullLabel = `${fmtMs(full.ms)} full build: the whole collection compacted from its 40 deltas into one indexed segment (local pool, merge 'all')`;
    rows.push(
      {
        bench: label,
        metric: `publish wall time (merge none; chunks ${fmtMs(t.chunks ?? 0)}, groups ${fmtMs(t.groups ?? 0)}, final ${fmtMs(t.final ?? 0)}, pointer ${fmtMs(t.publish ?? 0)}) → ${describeVersion(after.manifest)}`,
        strata: fmtMs(pub.ms),
        baseline: fullLabel,
        ratio: fmtPct(pub.ms / full.ms),
        goal: '≤ 3 %',
        met: pub.ms / full.ms <= 0.03,
      },
      {
        bench: label,
        metric: 'publish wall time vs a bare usearch build of the 200,000 vectors (stricter baseline)',
        strata: fmtMs(pub.ms),
        baseline: `${fmtMs(bareMs)} (bare usearch build, ${threads} threads)`,
        ratio: fmtPct(pub.ms / bareMs),
        goal: 'report',
        met: null,
      },
      {
        bench: label,
        metric: `bytes written to the store by the publish (segments ${fmtMB(grown.segments)}, run intermediates ${fmtMB(grown.runs)}, deletion vectors ${fmtMB(grown.deletions)}, versions ${fmtMB(grown.versions)})`,
        strata: fmtMB(grown.total),
        baseline: `${fmtMB(fullBytes)} (the full version's segments)`,
        ratio: fmtPct(grown.total / fullBytes),
        goal: '≤ 3 %',
        met: grown.total / fullBytes <= 0.03,
      },
      {
        bench: label,
        metric:
          'publish: peak RSS of the largest step process (the compactor runs in the bench process and is not counted)',
        strata: `${peak} MB`,
        baseline: `${fmtMB(changeBytes)} of vectors in the change`,
        ratio: '-',
        goal: `≤ ${Math.round(rssLimitMb)} MB (1.5× + 300 MB)`,
        met: peak <= rssLimitMb,
      },
    );
    data.change = {
      ops: ops.length,
      publishMs: Math.round(pub.ms),
      timingsMs: t,
      bytesWritten: grown,
      peakRssMb: pub.value.peakRssMb,
      changeVectorBytes: changeBytes,
      version: describeVersion(after.manifest),
    };

    // --- rounds 1 … R with the policy's merges ---------------------------------------------------------
    const rounds: Array<Record<string, unknown>> = [];
    const first = await mergeWithPool(store, dir, 'large', { mode: 'auto' });
    rounds.push({
      round: 1,
      publishMs: Math.round(pub.ms),
      mergeMs: Math.round(first.ms),
      merges: first.value.published.length,
    });
    for (let r = 2; r <= R; r++) {
      const rops = await changeOps(store, 'large', { seed: 7, count: change, dimension: D, round: r });
      await ingest(store, config, rops, 10);
      const c = await compactWithPool(store, dir, 'large', { merge: 'auto' });
      const v = await currentVersion(store, 'large');
      const m = c.value.merges;
      log(
        `large: round ${r}: ${fmtMs(c.ms)} (merges: ${m?.published.length ?? 0}) → ${describeVersion(v.manifest)}`,
      );
      rounds.push({
        round: r,
        wallMs: Math.round(c.ms),
        mergeMs: c.value.timingsMs.merge ?? 0,
        merges: m?.published.map((p) => ({ inputs: p.inputs, rows: p.rows, build: p.build, ms: p.ms })) ?? [],
        version: describeVersion(v.manifest),
      });
    }
    data.rounds = rounds;

    // --- (e) reuse vs rebuild on the policy's version -----------------------------------------------
    const policyVersion = await currentVersion(store, 'large');
    const qq = queries.slice(0, Math.min(queries.length, 200));
    if (policyVersion.manifest.segments.length > 1) {
      log(`large: merge every segment of ${describeVersion(policyVersion.manifest)}: reuse vs rebuild`);
      const reuse = await mergeInProcess(store, config, 'reuse');
      const rebuild = await mergeInProcess(store, config, 'rebuild');
      const qr = await indexQuality(store, reuse.segment, qq);
      const qb = await indexQuality(store, rebuild.segment, qq);
      rows.push({
        bench: `merge of every segment after ${R} rounds (${describeVersion(policyVersion.manifest)}), in process, ${threads} threads`,
        metric:
          'from the largest graph vs a fresh build of the same rows: time; recall@10 query layer / index alone; dead slots',
        strata: `${fmtMs(reuse.ms)}; ${round(qr.recall, 4)} / ${round(qr.indexRecall, 4)}; ${fmtN(qr.deadSlots)}`,
        baseline: `${fmtMs(rebuild.ms)}; ${round(qb.recall, 4)} / ${round(qb.indexRecall, 4)}; ${fmtN(qb.deadSlots)} (fresh build)`,
        ratio: fmtX(reuse.ms / rebuild.ms),
        goal: 'report',
        met: null,
      });
      data.reuseVsRebuild = { reuse: { ms: reuse.ms, ...qr }, rebuild: { ms: rebuild.ms, ...qb } };
    }

    // --- (c) queries vs the fully merged version --------------------------------------------------------
    const cmp = await compareWithMerged(store, 'large', {
      label: `${R} rounds of 1 % changes onto ${fmtN(N)} × ${D}`,
      queries,
      log,
    });
    rows.push(...cmp.rows);
    data.query = cmp.data;

    // --- (e) recall drift over G merge generations ---------------------------------------------------
    const gens: Array<Record<string, unknown>> = [];
    const q0 = await indexQuality(store, await onlySegment(store, 'large'), qq);
    gens.push({ generation: 0, ...q0 });
    log(
      `large: drift, generation 0: recall ${round(q0.recall, 4)} (index alone ${round(q0.indexRecall, 4)})`,
    );
    let last = q0;
    for (let g = 1; g <= G; g++) {
      const gops = await changeOps(store, 'large', { seed: 7, count: change, dimension: D, round: 1000 + g });
      await ingest(store, config, gops, 10);
      await compactWithPool(store, dir, 'large', { merge: 'none' });
      const m = await mergeWithPool(store, dir, 'large', { mode: 'all' });
      last = await indexQuality(store, await onlySegment(store, 'large'), qq);
      const build = m.value.published.map((p) => p.build).join(',');
      log(
        `large: drift, generation ${g} (${build}, ${fmtMs(m.ms)}): recall ${round(last.recall, 4)} (index alone ${round(last.indexRecall, 4)}), dead slots ${fmtN(last.deadSlots)}`,
      );
      gens.push({ generation: g, build, mergeMs: Math.round(m.ms), ...last });
    }
    const seg = await onlySegment(store, 'large');
    const fresh = await mergeInProcess(store, config, 'rebuild', [seg.manifestSha256]);
    const qf = await indexQuality(store, fresh.segment, qq);
    const drift = 100 * (q0.recall - last.recall);
    const driftIndex = 100 * (q0.indexRecall - last.indexRecall);
    rows.push(
      {
        bench: `recall drift over ${G} merge generations (each: 1 % change published, then merged into one segment from the previous graph), ${fmtN(N)} × ${D}`,
        metric: 'recall@10 (query layer) generation 0 → last; index alone in brackets',
        strata: `${round(q0.recall, 4)} → ${round(last.recall, 4)} (${round(q0.indexRecall, 4)} → ${round(last.indexRecall, 4)})`,
        baseline: `${round(qf.recall, 4)} (${round(qf.indexRecall, 4)}) fresh build of the last generation's rows`,
        ratio: `${round(drift, 2)} points (${round(driftIndex, 2)})`,
        goal: '≤ 0.5 point',
        met: drift <= 0.5,
      },
      {
        bench: `recall drift over ${G} merge generations`,
        metric:
          'dead slots in the merged index (removed vectors a reused graph keeps) / index file bytes / query p50',
        strata: `${fmtN(last.deadSlots)} of ${fmtN(last.slots)} / ${fmtMB(last.indexBytes)} / ${fmtMs(last.p50Ms)}`,
        baseline: `${fmtN(qf.deadSlots)} of ${fmtN(qf.slots)} / ${fmtMB(qf.indexBytes)} / ${fmtMs(qf.p50Ms)} (fresh build)`,
        ratio: fmtX(last.indexBytes / qf.indexBytes),
        goal: 'report',
        met: null,
      },
    );
    data.drift = {
      generations: gens,
      fresh: { ms: fresh.ms, ...qf },
      driftPoints: drift,
      driftIndexPoints: driftIndex,
    };
    return { name: 'core:large', rows, data };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
