/**
 * Peer benchmarks: the same vectors, queries and machine for
 *  - Chroma 1.0 (npm chromadb@3.0.14 server) over its HTTP API, loaded at its max_batch_size;
 *  - LanceDB (@lancedb/lancedb 0.31.0, apache-arrow 18.1.0) on a local folder with an IVF_HNSW_SQ index;
 *  - Strata: deltas accepted, compacted in worker processes and published, queried in process.
 * For each: load time (Strata: ingest → published, queryable; LanceDB: add + index), k=10 query p50/p99,
 * recall@10 against exact ground truth, and filtered queries at 10% selectivity (`bucket < 100`) with recall
 * against the exact top-10 among matching records. Chroma's latencies include its HTTP round trip (that is
 * how it is used); Strata's and LanceDB's are in-process calls.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Metadata, Operation } from '../../src/core/types.js';
import { exactNearest } from '../../src/engine/ann-index.js';
import { importChroma } from '../../src/interop/chroma/import.js';
import { ChromaServer } from '../../src/interop/chroma/server.js';
import { createCollection } from '../../src/pipeline/collections.js';
import { openCurrentVersion } from '../../src/pipeline/current.js';
import { acceptDelta } from '../../src/pipeline/deltas.js';
import { LocalStore } from '../../src/store/local-store.js';
import { generateRecords } from '../../src/workload/synthetic.js';
import { describeVersion } from './query-compare.js';
import { type BenchRow, type BenchSection, percentile, round } from './stats.js';
import { compactWithPool, mergeWithPool } from './workload.js';

export interface PeerWorkload {
  name: string;
  records: number;
  dimension: number;
}

export interface PeersOptions {
  workloads?: PeerWorkload[];
  queries?: number;
  /** Filter selectivity in per mille of `bucket` (default 100 = 10%). */
  selectivityPerMille?: number;
  peers?: Array<'chroma' | 'lancedb' | 'strata'>;
  /** HNSW search breadth for Strata's queries (default 128; Chroma's default ef_search is 100). */
  strataEf?: number;
  log?: (m: string) => void;
}

export interface PeerResult {
  system: string;
  loadMs: number;
  loadDetail: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  recallAt10: number;
  filteredP50Ms: number | null;
  filteredP99Ms: number | null;
  filteredRecallAt10: number | null;
  notes: string;
}

export const DEFAULT_WORKLOADS: PeerWorkload[] = [
  { name: 'demo 28,454 × 1536', records: 28_454, dimension: 1536 },
  { name: '200,000 × 384', records: 200_000, dimension: 384 },
];

interface Data {
  ids: string[];
  matrix: Float32Array;
  documents: string[];
  metadatas: Metadata[];
  queries: Float32Array[];
  truth: string[][];
  filteredTruth: string[][];
  selected: (m: Metadata) => boolean;
  bound: number;
}

const K = 10;

function prepare(w: PeerWorkload, queries: number, perMille: number, log: (m: string) => void): Data {
  const { records: n, dimension: d } = w;
  const ids: string[] = [];
  const matrix = new Float32Array(n * d);
  const documents: string[] = [];
  const metadatas: Metadata[] = [];
  let i = 0;
  for (const r of generateRecords({ seed: 42, count: n, dimension: d })) {
    ids.push(r.id);
    matrix.set(r.embedding, i++ * d);
    documents.push(r.document ?? '');
    metadatas.push(r.metadata ?? {});
  }
  const qs = [...generateRecords({ seed: 42, count: queries, dimension: d, offset: 50_000_000 })].map(
    (r) => r.embedding,
  );
  const selected = (m: Metadata) => typeof m.bucket === 'number' && m.bucket < perMille;
  const subsetRows: number[] = [];
  metadatas.forEach((m, j) => {
    if (selected(m)) subsetRows.push(j);
  });
  const subset = new Float32Array(subsetRows.length * d);
  subsetRows.forEach((row, j) => {
    subset.set(matrix.subarray(row * d, (row + 1) * d), j * d);
  });
  log(`${w.name}: exact ground truth for ${queries} queries (and ${subsetRows.length} matching records)`);
  const truth = qs.map((q) => exactNearest('cos', matrix, d, q, K).rows.map((r) => ids[r]!));
  const filteredTruth = qs.map((q) =>
    exactNearest('cos', subset, d, q, K).rows.map((r) => ids[subsetRows[r]!]!),
  );
  return { ids, matrix, documents, metadatas, queries: qs, truth, filteredTruth, selected, bound: perMille };
}

function recall(got: string[][], truth: string[][]): number {
  let hit = 0;
  let total = 0;
  got.forEach((g, i) => {
    const t = new Set(truth[i]);
    total += t.size;
    for (const id of g.slice(0, K)) if (t.has(id)) hit++;
  });
  return total === 0 ? 1 : hit / total;
}

async function timeQueries(
  n: number,
  fn: (i: number) => Promise<string[]> | string[],
): Promise<{ times: number[]; results: string[][] }> {
  const times: number[] = [];
  const results: string[][] = [];
  for (let i = 0; i < Math.min(5, n); i++) await fn(i); // warm-up
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    results.push(await fn(i));
    times.push(performance.now() - t);
  }
  return { times, results };
}

function vectorOf(data: Data, row: number, d: number): Float32Array {
  return data.matrix.subarray(row * d, (row + 1) * d);
}

async function benchChroma(w: PeerWorkload, data: Data, log: (m: string) => void): Promise<PeerResult> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-peer-chroma-'));
  const server = await ChromaServer.start({ path: join(dir, 'db') });
  try {
    const http = server.http;
    const batch = await http.maxBatchSize();
    const c = await http.createCollection({ name: 'peers', space: 'cosine' });
    const t0 = performance.now();
    const rows = data.ids.map((_, r) => r);
    const used = await http.addBatched(
      c,
      {
        ids: data.ids,
        embeddings: rows.map((r) => vectorOf(data, r, w.dimension)),
        documents: data.documents,
        metadatas: data.metadatas,
      },
      batch,
    );
    const loadMs = performance.now() - t0;
    log(`chroma: loaded in ${round(loadMs / 1000, 1)} s (batches of ${used}; max_batch_size ${batch})`);
    const plain = await timeQueries(
      data.queries.length,
      async (i) => (await http.query(c, [data.queries[i]!], K)).ids[0] ?? [],
    );
    const filtered = await timeQueries(
      data.queries.length,
      async (i) =>
        (await http.query(c, [data.queries[i]!], K, { where: { bucket: { $lt: data.bound } } })).ids[0] ?? [],
    );
    const version = await http.version();
    // the directory Chroma wrote, imported by Strata read-only (server stopped and exited first)
    await server.stop();
    const importDir = await mkdtemp(join(tmpdir(), 'strata-peer-import-'));
    let importMs = 0;
    try {
      const store = await LocalStore.open(importDir);
      try {
        const t2 = performance.now();
        const rep = await importChroma(store, join(dir, 'db'));
        importMs = performance.now() - t2;
        const n = rep.collections[0]?.records ?? 0;
        if (n !== data.ids.length)
          throw new Error(`import of the Chroma directory gave ${n} records, expected ${data.ids.length}`);
        log(`strata import of Chroma's directory: ${round(importMs / 1000, 1)} s`);
      } finally {
        await store.close();
      }
    } finally {
      await rm(importDir, { recursive: true, force: true });
    }
    return {
      system: `Chroma ${version} (HTTP)`,
      loadMs,
      loadDetail: {
        maxBatchSize: batch,
        batchSize: used,
        strataImportOfItsDirectoryMs: Math.round(importMs),
      },
      p50Ms: percentile(plain.times, 50),
      p99Ms: percentile(plain.times, 99),
      recallAt10: recall(plain.results, data.truth),
      filteredP50Ms: percentile(filtered.times, 50),
      filteredP99Ms: percentile(filtered.times, 99),
      filteredRecallAt10: recall(filtered.results, data.filteredTruth),
      notes: `HTTP API, batches of ${used} (max_batch_size ${batch}${used < batch ? '; larger requests answered 413' : ''}), default HNSW (M 16, ef 100); strata import chroma of its directory ${round(importMs / 1000, 1)} s`,
    };
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function benchLance(w: PeerWorkload, data: Data, log: (m: string) => void): Promise<PeerResult> {
  const lancedb = await import('@lancedb/lancedb');
  // the CommonJS build: LanceDB requires apache-arrow, and Arrow classes from the ESM build are other classes
  const arrow = createRequire(import.meta.url)('apache-arrow') as typeof import('apache-arrow');
  const dir = await mkdtemp(join(tmpdir(), 'strata-peer-lance-'));
  try {
    const db = await lancedb.connect(dir);
    const d = w.dimension;
    const t0 = performance.now();
    const listType = new arrow.FixedSizeList(d, new arrow.Field('item', new arrow.Float32(), true));
    const child = arrow.makeData({ type: new arrow.Float32(), data: data.matrix });
    const vectors = arrow.makeVector(
      arrow.makeData({ type: listType, length: data.ids.length, nullCount: 0, child }),
    );
    const table = new arrow.Table({
      id: arrow.vectorFromArray(data.ids, new arrow.Utf8()),
      vector: vectors,
      document: arrow.vectorFromArray(data.documents, new arrow.Utf8()),
      bucket: arrow.vectorFromArray(
        data.metadatas.map((m) => m.bucket as number),
        new arrow.Int32(),
      ),
      category: arrow.vectorFromArray(
        data.metadatas.map((m) => String(m.category)),
        new arrow.Utf8(),
      ),
    });
    const tbl = await db.createTable('peers', table as never);
    const addMs = performance.now() - t0;
    const t1 = performance.now();
    await tbl.createIndex('vector', { config: lancedb.Index.hnswSq({ distanceType: 'cosine' }) });
    const indexMs = performance.now() - t1;
    log(`lancedb: add ${round(addMs / 1000, 1)} s, IVF_HNSW_SQ index ${round(indexMs / 1000, 1)} s`);
    const ids = (rows: Array<Record<string, unknown>>) => rows.map((r) => String(r.id));
    const plain = await timeQueries(data.queries.length, async (i) =>
      ids(
        await tbl
          .vectorSearch(data.queries[i]!)
          .distanceType('cosine')
          .select(['id', '_distance'])
          .limit(K)
          .toArray(),
      ),
    );
    const filtered = await timeQueries(data.queries.length, async (i) =>
      ids(
        await tbl
          .vectorSearch(data.queries[i]!)
          .distanceType('cosine')
          .where(`bucket < ${data.bound}`)
          .select(['id'])
          .limit(K)
          .toArray(),
      ),
    );
    tbl.close();
    db.close();
    return {
      system: 'LanceDB 0.31.0 (in process)',
      loadMs: addMs + indexMs,
      loadDetail: { addMs: Math.round(addMs), indexMs: Math.round(indexMs) },
      p50Ms: percentile(plain.times, 50),
      p99Ms: percentile(plain.times, 99),
      recallAt10: recall(plain.results, data.truth),
      filteredP50Ms: percentile(filtered.times, 50),
      filteredP99Ms: percentile(filtered.times, 99),
      filteredRecallAt10: recall(filtered.results, data.filteredTruth),
      notes: 'IVF_HNSW_SQ (defaults), prefiltered where',
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function benchStrata(
  w: PeerWorkload,
  data: Data,
  log: (m: string) => void,
  ef: number,
): Promise<PeerResult> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-peer-strata-'));
  const store = await LocalStore.open(dir);
  try {
    const config = await createCollection(store, {
      name: 'peers',
      dimension: w.dimension,
      metric: 'cos',
      quantization: 'f16',
    });
    const deltas = 120;
    const per = Math.ceil(data.ids.length / deltas);
    const t0 = performance.now();
    for (let s = 0; s < data.ids.length; s += per) {
      const ops: Operation[] = [];
      for (let r = s; r < Math.min(data.ids.length, s + per); r++) {
        ops.push({
          op: 'upsert',
          id: data.ids[r]!,
          embedding: vectorOf(data, r, w.dimension),
          document: data.documents[r]!,
          metadata: data.metadatas[r]!,
        });
      }
      await acceptDelta(store, config, ops, { producer: 'bench-peers' });
    }
    const ingestMs = performance.now() - t0;
    // ingest → queryable: the version is published (and a server swaps it in) before any merge runs
    const pub = await compactWithPool(store, dir, 'peers', { merge: 'none' });
    log(`strata: ingest ${round(ingestMs / 1000, 1)} s, compact + publish ${round(pub.ms / 1000, 1)} s`);
    const where = { bucket: { $lt: data.bound } };
    const measure = async () => {
      // what the query server searches: the version's views (rows, metadata columns, vectors) built on open
      const tView = performance.now();
      await using v = await openCurrentVersion(store, 'peers');
      const viewMs = performance.now() - tView;
      const plain = await timeQueries(data.queries.length, (i) =>
        v.search(data.queries[i]!, K, { ef }).hits.map((h) => h.id),
      );
      const filtered = await timeQueries(data.queries.length, (i) =>
        v.search(data.queries[i]!, K, { where, ef }).hits.map((h) => h.id),
      );
      return { viewMs, plain, filtered, version: describeVersion(v.opened.resolved.manifest) };
    };
    const atPublish = await measure();
    // then the merges the policy asks for, in the background (timed apart); the steady state is queried
    const merges = await mergeWithPool(store, dir, 'peers', { mode: 'auto' });
    const steady = merges.value.published.length > 0 ? await measure() : atPublish;
    return {
      system: 'Strata (in process)',
      loadMs: ingestMs + pub.ms,
      loadDetail: {
        ingestMs: Math.round(ingestMs),
        compactPublishMs: Math.round(pub.ms),
        deltas,
        backgroundMergesMs: Math.round(merges.ms),
        p50AtPublishMs: percentile(atPublish.plain.times, 50),
        recallAtPublish: recall(atPublish.plain.results, data.truth),
      },
      p50Ms: percentile(steady.plain.times, 50),
      p99Ms: percentile(steady.plain.times, 99),
      recallAt10: recall(steady.plain.results, data.truth),
      filteredP50Ms: percentile(steady.filtered.times, 50),
      filteredP99Ms: percentile(steady.filtered.times, 99),
      filteredRecallAt10: recall(steady.filtered.results, data.filteredTruth),
      notes: `load = ingest (${deltas} deltas) + compaction to the published version (merge none, ${availableParallelism()} worker processes): queryable then; the merges the policy asks for ran after, in ${round(merges.ms / 1000, 1)} s, and queries ran on the version they left (${steady.version}; at publish, ${atPublish.version}: p50 ${round(percentile(atPublish.plain.times, 50), 2)} ms, recall ${round(recall(atPublish.plain.results, data.truth), 3)}); f16 index + f32 re-rank, ef ${ef}, views built on open in ${Math.round(steady.viewMs)} ms`,
    };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const ms = (x: number | null) =>
  x === null ? '-' : x >= 1000 ? `${round(x / 1000, 1)} s` : `${round(x, 2)} ms`;

export async function benchPeers(o: PeersOptions = {}): Promise<BenchSection & { markdown: string }> {
  const log = o.log ?? (() => {});
  const workloads = o.workloads ?? DEFAULT_WORKLOADS;
  const peers = o.peers ?? ['chroma', 'lancedb', 'strata'];
  const queries = o.queries ?? 200;
  const rows: BenchRow[] = [];
  const results: Record<string, PeerResult[]> = {};
  const table = [
    '| workload | system | load | query p50 | query p99 | recall@10 | filtered p50 (10%) | filtered p99 | filtered recall@10 |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const w of workloads) {
    const data = prepare(w, queries, o.selectivityPerMille ?? 100, log);
    const out: PeerResult[] = [];
    for (const p of peers) {
      log(`${w.name}: ${p}`);
      if (p === 'chroma') out.push(await benchChroma(w, data, log));
      else if (p === 'lancedb') out.push(await benchLance(w, data, log));
      else out.push(await benchStrata(w, data, log, o.strataEf ?? 128));
    }
    results[w.name] = out;
    for (const r of out) {
      table.push(
        `| ${w.name} | ${r.system} | ${ms(r.loadMs)} | ${ms(r.p50Ms)} | ${ms(r.p99Ms)} | ${round(r.recallAt10, 3)} | ${ms(r.filteredP50Ms)} | ${ms(r.filteredP99Ms)} | ${r.filteredRecallAt10 === null ? '-' : round(r.filteredRecallAt10, 3)} |`,
      );
    }
    const chroma = out.find((r) => r.system.startsWith('Chroma'));
    const strata = out.find((r) => r.system.startsWith('Strata'));
    if (chroma && strata) {
      const speedup = chroma.loadMs / strata.loadMs;
      const q = strata.p50Ms / chroma.p50Ms;
      const fq = strata.filteredP50Ms! / chroma.filteredP50Ms!;
      rows.push(
        {
          bench: `peers ${w.name}`,
          metric: 'load: Chroma ÷ Strata (Strata: ingest → published version, queryable)',
          strata: ms(strata.loadMs),
          baseline: ms(chroma.loadMs),
          ratio: `${round(speedup, 2)}×`,
          goal: '≥ 3×',
          met: speedup >= 3,
        },
        {
          bench: `peers ${w.name}`,
          metric: 'query p50 (Strata ÷ Chroma) at recall@10 ≥ 0.99',
          strata: `${ms(strata.p50Ms)} @ ${round(strata.recallAt10, 3)}`,
          baseline: `${ms(chroma.p50Ms)} @ ${round(chroma.recallAt10, 3)}`,
          ratio: `${round(q, 3)}`,
          goal: '≤ 0.25',
          met: q <= 0.25 && strata.recallAt10 >= 0.99,
        },
        {
          bench: `peers ${w.name}`,
          metric: 'filtered (10%) p50 (Strata ÷ Chroma) at recall ≥ 0.99',
          strata: `${ms(strata.filteredP50Ms)} @ ${round(strata.filteredRecallAt10 ?? 0, 3)}`,
          baseline: `${ms(chroma.filteredP50Ms)} @ ${round(chroma.filteredRecallAt10 ?? 0, 3)}`,
          ratio: `${round(fq, 3)}`,
          goal: '≤ 0.25',
          met: fq <= 0.25 && (strata.filteredRecallAt10 ?? 0) >= 0.99,
        },
      );
    }
  }
  const goals = [
    '| workload | goal | Strata | Chroma | ratio | target | met |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows)
    goals.push(
      `| ${r.bench.replace('peers ', '')} | ${r.metric} | ${r.strata} | ${r.baseline} | ${r.ratio} | ${r.goal} | ${r.met ? 'yes' : 'no'} |`,
    );
  const notes = Object.entries(results).flatMap(([w, rs]) =>
    rs.map((r) => `- ${w}, ${r.system}: ${r.notes}`),
  );
  const markdown = `${table.join('\n')}\n\n${goals.join('\n')}\n\n${notes.join('\n')}\n`;
  return { name: 'peers', rows, data: { queries, results }, markdown };
}
