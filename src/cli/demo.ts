/**
 * The demo pipeline: the seed system's workload and shape, end to end, on the embedded default
 * (local store, worker processes, no servers). Round 1 ingests 28,454 × 1536 as 120 deltas and builds
 * the first snapshot; every later round adds a batch of changes (new records, re-upserts, deletes,
 * metadata updates) and compacts it incrementally onto the previous snapshot.
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Operation } from '../core/types.js';
import { createCollection, findCollection } from '../pipeline/collections.js';
import type { CompactReport } from '../pipeline/compact.js';
import { openCurrentVersion } from '../pipeline/current.js';
import { acceptDelta } from '../pipeline/deltas.js';
import { readPointer } from '../pipeline/pointer.js';
import { verifyCollection } from '../pipeline/verify.js';
import type { ObjectStore } from '../store/index.js';
import { generateChanges, generateRecords } from '../workload/synthetic.js';
import { runCompaction } from './compaction.js';
import type { CliContext } from './context.js';

export interface DemoOptions {
  collection: string;
  records: number;
  dimension: number;
  deltas: number;
  chunkSize: number;
  groupSize: number;
  seed: number;
  concurrency?: number;
  /** Operations per later round, spread over `changeDeltas` deltas. */
  changes: number;
  changeDeltas: number;
  queries: number;
  runner?: 'local' | 'inline';
}

export const DEMO_DEFAULTS: DemoOptions = {
  collection: 'lines',
  records: 28_454,
  dimension: 1536,
  deltas: 120,
  chunkSize: 3,
  groupSize: 10,
  seed: 42,
  changes: 1_200,
  changeDeltas: 12,
  queries: 100,
};

export interface DemoResult {
  store: string;
  collection: string;
  round: number;
  records: number;
  deltas: number;
  chunks: number;
  groups: number;
  groupsSucceeded: number;
  groupsFailed: number;
  quarantined: number;
  snapshot: {
    version: number | null;
    count: number;
    verified: boolean;
    build: string | null;
    contentHash: string | null;
    problems: string[];
  };
  recallAt10: number;
  concurrency: number;
  timingsMs: Record<string, number>;
  compaction: CompactReport;
}

function split<T>(items: T[], parts: number): T[][] {
  const out: T[][] = [];
  const size = Math.ceil(items.length / parts);
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export async function runDemo(ctx: CliContext, store: ObjectStore, o: DemoOptions): Promise<DemoResult> {
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const lap = (name: string, since: number) => {
    timings[name] = Math.round(performance.now() - since);
    return performance.now();
  };
  let config = await findCollection(store, o.collection);
  config ??= await createCollection(store, {
    name: o.collection,
    dimension: o.dimension,
    metric: 'cos',
    quantization: 'f16',
  });
  const base = await readPointer(store, o.collection);
  const round = (base?.value.version ?? 0) + 1;

  // --- generate ---------------------------------------------------------------------------------------
  let t = performance.now();
  let ops: Operation[];
  let deltaCount: number;
  if (!base) {
    ops = [];
    for (const r of generateRecords({ seed: o.seed, count: o.records, dimension: config.dimension })) {
      ops.push({
        op: 'upsert',
        id: r.id,
        embedding: r.embedding,
        document: r.document ?? null,
        metadata: r.metadata ?? null,
      });
    }
    deltaCount = o.deltas;
  } else {
    let existingIds: string[];
    {
      await using v = await openCurrentVersion(store, o.collection, { verify: 'none', vectorBudgetBytes: 0 });
      existingIds = [...v.ids()];
    }
    ops = [
      ...generateChanges({ seed: o.seed, existingIds, count: o.changes, dimension: config.dimension, round }),
    ];
    deltaCount = o.changeDeltas;
  }
  t = lap('generate', t);

  // --- ingest -----------------------------------------------------------------------------------------
  const batches = split(ops, deltaCount);
  ctx.progress.stage('ingest', batches.length);
  for (const [i, b] of batches.entries()) {
    await acceptDelta(store, config, b, {
      producer: 'strata-demo',
      source: `demo-round-${round}-batch-${i}`,
    });
    ctx.progress.tick('ingest', i + 1, batches.length);
  }
  t = lap('ingest', t);

  // --- compact ----------------------------------------------------------------------------------------
  const concurrency = o.concurrency ?? availableParallelism();
  const report = await runCompaction(ctx, store, o.collection, {
    runner: o.runner,
    concurrency,
    chunkSize: o.chunkSize,
    groupSize: o.groupSize,
  });
  for (const [k, v] of Object.entries(report.timingsMs)) if (k !== 'total') timings[k] = v;
  t = lap('compact', t);

  // --- verify -----------------------------------------------------------------------------------------
  const v = await verifyCollection(store, o.collection);
  t = lap('verify', t);

  // --- recall@10 of sample queries vs exact search ------------------------------------------------------
  let recall = 0;
  if (v.version !== null && o.queries > 0) {
    await using cur = await openCurrentVersion(store, o.collection, { verify: 'none' });
    {
      const qs = [
        ...generateRecords({
          seed: o.seed,
          count: o.queries,
          dimension: config.dimension,
          offset: o.records,
        }),
      ];
      let found = 0;
      for (const q of qs) {
        const exact = cur.search(q.embedding, 10, { exactBelow: Number.MAX_SAFE_INTEGER });
        const truth = new Set(exact.hits.map((h) => h.id));
        for (const h of cur.search(q.embedding, 10).hits) if (truth.has(h.id)) found++;
      }
      recall = found / (qs.length * 10);
    }
  }
  lap('recall', t);
  timings.total = Math.round(performance.now() - t0);

  return {
    store: store.url,
    collection: o.collection,
    round,
    records: ops.length,
    deltas: batches.length,
    chunks: report.chunks,
    groups: report.groups,
    groupsSucceeded: report.groupsSucceeded,
    groupsFailed: report.groupsFailed,
    quarantined: report.quarantined.length,
    snapshot: {
      version: v.version,
      count: v.count,
      verified: v.ok,
      build: report.snapshot?.build ?? null,
      contentHash: v.contentHash,
      problems: v.problems,
    },
    recallAt10: recall,
    concurrency,
    timingsMs: timings,
    compaction: report,
  };
}

export function formatDemo(r: DemoResult): string {
  const ms = (n: number | undefined) => (n === undefined ? '-' : `${(n / 1000).toFixed(2)} s`);
  return [
    `Strata demo — round ${r.round} on ${r.store}, collection ${r.collection}`,
    `  records (operations)   ${r.records}`,
    `  deltas                 ${r.deltas}`,
    `  chunks                 ${r.chunks}`,
    `  groups                 ${r.groups}: ${r.groupsSucceeded} succeeded, ${r.groupsFailed} failed`,
    `  quarantined deltas     ${r.quarantined}`,
    `  snapshot               v${r.snapshot.version}, ${r.snapshot.count} records, ${r.snapshot.build} build`,
    `  verification           ${r.snapshot.verified ? 'passed' : `FAILED: ${r.snapshot.problems.join('; ')}`}`,
    `  recall@10 (100 queries vs exact) ${r.recallAt10.toFixed(3)}`,
    `  wall time: generate ${ms(r.timingsMs.generate)}, ingest ${ms(r.timingsMs.ingest)}, chunks ${ms(r.timingsMs.chunks)}, groups ${ms(r.timingsMs.groups)}, final ${ms(r.timingsMs.final)}, publish ${ms(r.timingsMs.publish)}, verify ${ms(r.timingsMs.verify)}, total ${ms(r.timingsMs.total)}`,
    `  workers                ${r.concurrency} processes`,
  ].join('\n');
}
