/**
 * Core (b) and (c) on the demo: `npm run demo` twice. Round 1 ingests 28,454 × 1536 as 120 deltas and
 * publishes; round 2 ingests 1,200 changes (the demo's mix: new records, re-upserts, updates, deletes) as
 * 12 deltas and publishes onto it; after each publish the merges the policy asks for run, as `strata
 * compact` runs them (the same steps, the same lease; here timed apart from the publish). Goals: round 2
 * adds ≤ 10 % of round 1's bytes to the store and takes ≤ 10 % of its ingest → published time. Then the
 * query comparison with the fully merged version, and the cold open.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore } from '../../src/store/local-store.js';
import { compareWithMerged, describeVersion, segmentsOf } from './query-compare.js';
import type { BenchRow, BenchSection } from './stats.js';
import { type StoreUsage, storeUsage, usageGrowth } from './store-usage.js';
import {
  changeOps,
  compactWithPool,
  currentVersion,
  fmtMB,
  fmtMs,
  fmtN,
  fmtPct,
  ingest,
  mergeWithPool,
  newCollection,
  queryVectors,
  upserts,
} from './workload.js';

export interface RoundsBenchOptions {
  records?: number;
  dimension?: number;
  deltas?: number;
  changes?: number;
  changeDeltas?: number;
  queries?: number;
  log?: (m: string) => void;
}

interface Round {
  ingestMs: number;
  publishMs: number;
  mergeMs: number;
  merges: string[];
  /** Store growth: ingest (deltas), publish (runs, segments, deletion vectors, version), merges. */
  bytes: { ingest: StoreUsage; publish: StoreUsage; merges: StoreUsage };
  version: string;
}

const written = (r: Round) => r.bytes.ingest.total + r.bytes.publish.total;

export async function benchDemoRounds(o: RoundsBenchOptions = {}): Promise<BenchSection> {
  const log = o.log ?? (() => {});
  const N = o.records ?? 28_454;
  const D = o.dimension ?? 1536;
  const dir = await mkdtemp(join(tmpdir(), 'strata-bench-rounds-'));
  const store = await LocalStore.open(dir);
  const rows: BenchRow[] = [];
  try {
    const config = await newCollection(store, 'lines', D);
    const round = async (n: number, ops: Parameters<typeof ingest>[2], deltas: number): Promise<Round> => {
      const u0 = await storeUsage(store, 'lines');
      const ingestMs = await ingest(store, config, ops, deltas);
      const u1 = await storeUsage(store, 'lines');
      const pub = await compactWithPool(store, dir, 'lines', { merge: 'none' });
      const u2 = await storeUsage(store, 'lines');
      const merge = await mergeWithPool(store, dir, 'lines', { mode: 'auto' });
      const u3 = await storeUsage(store, 'lines');
      const v = await currentVersion(store, 'lines');
      log(
        `rounds: round ${n}: ingest ${fmtMs(ingestMs)}, publish ${fmtMs(pub.ms)}, merges ${merge.value.planned.length} in ${fmtMs(merge.ms)} → ${describeVersion(v.manifest)}`,
      );
      return {
        ingestMs,
        publishMs: pub.ms,
        mergeMs: merge.value.planned.length > 0 ? merge.ms : 0,
        merges: merge.value.published.map((p) => `${p.inputs} segments (${fmtN(p.rows)} rows, ${p.build})`),
        bytes: { ingest: usageGrowth(u0, u1), publish: usageGrowth(u1, u2), merges: usageGrowth(u2, u3) },
        version: describeVersion(v.manifest),
      };
    };
    log(`rounds: round 1, ${fmtN(N)} × ${D} as ${o.deltas ?? 120} deltas`);
    const r1 = await round(1, upserts(42, N, D).ops, o.deltas ?? 120);
    const changes = await changeOps(store, 'lines', {
      seed: 42,
      count: o.changes ?? 1_200,
      dimension: D,
      round: 2,
    });
    log(`rounds: round 2, ${fmtN(changes.length)} changes as ${o.changeDeltas ?? 12} deltas`);
    const r2 = await round(2, changes, o.changeDeltas ?? 12);

    const label = `demo twice (${fmtN(N)} × ${D}, then ${fmtN(changes.length)} changes)`;
    const t1 = r1.ingestMs + r1.publishMs;
    const t2 = r2.ingestMs + r2.publishMs;
    const b1 = written(r1);
    const b2 = written(r2);
    const m1 = b1 + r1.bytes.merges.total;
    const m2 = b2 + r2.bytes.merges.total;
    const parts = (r: Round) =>
      `deltas ${fmtMB(r.bytes.ingest.total)}, publish ${fmtMB(r.bytes.publish.total)} (segments ${fmtMB(r.bytes.publish.segments)}, runs ${fmtMB(r.bytes.publish.runs)}, deletion vectors ${fmtMB(r.bytes.publish.deletions)})`;
    rows.push(
      {
        bench: label,
        metric: 'round 2 ingest → published (merges excluded: they run after, in the background)',
        strata: `${fmtMs(t2)} (ingest ${fmtMs(r2.ingestMs)}, publish ${fmtMs(r2.publishMs)})`,
        baseline: `${fmtMs(t1)} round 1 (ingest ${fmtMs(r1.ingestMs)}, publish ${fmtMs(r1.publishMs)})`,
        ratio: fmtPct(t2 / t1),
        goal: '≤ 10 %',
        met: t2 / t1 <= 0.1,
      },
      {
        bench: label,
        metric: 'bytes round 2 adds to the store, ingest + publish',
        strata: `${fmtMB(b2)}: ${parts(r2)}`,
        baseline: `${fmtMB(b1)} round 1: ${parts(r1)}`,
        ratio: fmtPct(b2 / b1),
        goal: '≤ 10 %',
        met: b2 / b1 <= 0.1,
      },
      {
        bench: label,
        metric:
          'bytes incl. the merges the policy ran after each publish (round 1: ' +
          `${r1.merges.join(', ') || 'none'}; round 2: ${r2.merges.join(', ') || 'none'})`,
        strata: `${fmtMB(m2)} (merges ${fmtMB(r2.bytes.merges.total)} in ${fmtMs(r2.mergeMs)})`,
        baseline: `${fmtMB(m1)} (merges ${fmtMB(r1.bytes.merges.total)} in ${fmtMs(r1.mergeMs)})`,
        ratio: fmtPct(m2 / m1),
        goal: '≤ 10 % (if background merges count)',
        met: m2 / m1 <= 0.1,
      },
    );
    const v = await currentVersion(store, 'lines');
    const cmp = await compareWithMerged(store, 'lines', {
      label: "the demo's two rounds",
      queries: queryVectors(42, o.queries ?? 500, D),
      log,
      coldOpen: true,
    });
    rows.push(...cmp.rows);
    return {
      name: 'core:rounds',
      rows,
      data: {
        records: N,
        dimension: D,
        changes: changes.length,
        rounds: [r1, r2],
        ratios: { time: t2 / t1, bytes: b2 / b1, bytesWithMerges: m2 / m1 },
        versionAfterTwoRounds: segmentsOf(v.manifest),
        query: cmp.data,
      },
    };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
