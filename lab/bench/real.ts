/**
 * Real data (`npm run bench -- --only real`): the workloads of lab/bench/real-data.ts — fashion-mnist (l2),
 * GloVe-100 (angular) and fortunes embedded by a sentence encoder (512-d, cosine), each with real filter
 * attributes at about 0.1 %, 1 %, 10 % and 50 % selectivity — measured three ways in one run, on the same
 * vectors, queries and ground truth:
 *  - Strata in process: deltas accepted, compacted (worker processes) and published, the merges the policy
 *    asks for, then the version's search;
 *  - `strata serve` (its own process, `--compact-every 5s`) through the official `chromadb` client: the
 *    records added as fast as the client can at the server's max batch size, then queried;
 *  - the peers: Chroma 1.0 (its own process, src/interop/chroma/server.ts) through the same client, and
 *    LanceDB in process (IVF_HNSW_SQ, prefiltered `where`).
 * For each: load → all records queryable, plain and filtered k=10 p50/p99 and ann-benchmarks recall@10 (a
 * result counts if its true distance is within the true 10th; filtered: among the matching records).
 * STRATA_REAL_WORKLOADS=fashion-mnist,glove,fortunes and STRATA_REAL_SYSTEMS=inproc,serve,chroma,lancedb
 * narrow a run, STRATA_REAL_RECORDS=N takes the first N records of fashion-mnist and GloVe, STRATA_REAL_QUERIES
 * the number of queries; --quick uses subsets.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChromaClient } from 'chromadb';
import { OwnedProcess } from '../../src/core/child-process.js';
import { freeLoopbackPort } from '../../src/core/net.js';
import type { Metadata, Operation } from '../../src/core/types.js';
import { exactNearest } from '../../src/engine/ann-index.js';
import { ChromaServer } from '../../src/interop/chroma/server.js';
import { createCollection } from '../../src/pipeline/collections.js';
import { openCurrentVersion } from '../../src/pipeline/current.js';
import { LocalStore } from '../../src/store/local-store.js';
import {
  annRecall,
  groundTruth,
  loadFashionMnist,
  loadFortunes,
  loadGlove,
  type RealWorkload,
  rowIndex,
  type Truth,
} from './real-data.js';
import { type BenchRow, type BenchSection, percentile, round } from './stats.js';
import { compactWithPool, ingest, mergeWithPool } from './workload.js';

export type RealSystem = 'inproc' | 'serve' | 'chroma' | 'lancedb';

export interface RealBenchOptions {
  quick?: boolean;
  workloads?: string[];
  systems?: RealSystem[];
  queries?: number;
  log?: (m: string) => void;
}

interface Stat {
  p50: number;
  p99: number;
  recall: number;
}

interface SystemResult {
  system: string;
  loadMs: number;
  loadDetail: Record<string, number | string>;
  plain: Stat;
  filtered: Stat[];
}

interface Prepared {
  w: RealWorkload;
  truth: Truth;
  filtered: Array<{ eligible: Set<number>; truth: Truth }>;
  rowOf: Map<string, number>;
}

const K = 10;
const TOKEN = 'bench-real-token';
type Query = (q: Float32Array, where: Record<string, unknown> | undefined) => Promise<string[]> | string[];

function prepare(w: RealWorkload, log: (m: string) => void): Prepared {
  const d = w.dimension;
  const nearest = (m: Float32Array, q: Float32Array, k: number) => exactNearest(w.metric, m, d, q, k).rows;
  log(`${w.name}: exact ground truth for ${w.queries.length} queries, plain and ${w.filters.length} filters`);
  const truth = groundTruth(w, w.queries, K, null, nearest);
  const filtered = w.filters.map((f) => {
    const rows: number[] = [];
    w.metadatas.forEach((m, i) => {
      if (f.matches(m)) rows.push(i);
    });
    return { eligible: new Set(rows), truth: groundTruth(w, w.queries, K, rows, nearest) };
  });
  return { w, truth, filtered, rowOf: rowIndex(w) };
}

/** Plain, then every filter: p50/p99 and recall, queries timed one at a time after a short warm-up. */
async function measure(p: Prepared, query: Query): Promise<{ plain: Stat; filtered: Stat[] }> {
  const { w } = p;
  const run = async (where: Record<string, unknown> | undefined, truth: Truth, eligible?: Set<number>) => {
    for (let i = 0; i < Math.min(5, w.queries.length); i++) await query(w.queries[i]!, where);
    const times: number[] = [];
    const results: string[][] = [];
    for (const q of w.queries) {
      const t = performance.now();
      results.push(await query(q, where));
      times.push(performance.now() - t);
    }
    const isEligible = eligible ? (r: number) => eligible.has(r) : undefined;
    return {
      p50: percentile(times, 50),
      p99: percentile(times, 99),
      recall: annRecall(w, w.queries, results, truth, K, isEligible, p.rowOf),
    };
  };
  const plain = await run(undefined, p.truth);
  const filtered: Stat[] = [];
  for (const [i, f] of w.filters.entries()) {
    filtered.push(await run(f.where, p.filtered[i]!.truth, p.filtered[i]!.eligible));
  }
  return { plain, filtered };
}

const chromaSpace = (w: RealWorkload) => (w.metric === 'l2sq' ? 'l2' : w.metric === 'ip' ? 'ip' : 'cosine');

function ops(w: RealWorkload): Operation[] {
  const d = w.dimension;
  return w.ids.map((id, i) => ({
    op: 'upsert',
    id,
    embedding: w.matrix.subarray(i * d, (i + 1) * d),
    document: w.documents[i] ?? null,
    metadata: w.metadatas[i]!,
  }));
}

async function benchInProcess(p: Prepared, log: (m: string) => void): Promise<SystemResult> {
  const { w } = p;
  const dir = await mkdtemp(join(tmpdir(), 'strata-real-'));
  const store = await LocalStore.open(dir);
  try {
    const config = await createCollection(store, {
      name: 'real',
      dimension: w.dimension,
      metric: w.metric,
      quantization: 'f16',
    });
    const ingestMs = await ingest(store, config, ops(w), 60);
    const pub = await compactWithPool(store, dir, 'real', { merge: 'none' });
    log(
      `strata in process: ingest ${round(ingestMs / 1000, 1)} s, compact + publish ${round(pub.ms / 1000, 1)} s`,
    );
    const merges = await mergeWithPool(store, dir, 'real', { mode: 'auto' });
    await using v = await openCurrentVersion(store, 'real');
    const m = await measure(p, (q, where) =>
      v.search(q, K, where ? { where: where as never } : {}).hits.map((h) => h.id),
    );
    return {
      system: 'Strata, in process',
      loadMs: ingestMs + pub.ms,
      loadDetail: {
        ingestMs: Math.round(ingestMs),
        compactPublishMs: Math.round(pub.ms),
        backgroundMergesMs: Math.round(merges.ms),
        segments: v.view.parts.length,
      },
      ...m,
    };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Adds every record through the official client at the server's max batch size, as fast as it answers. */
async function loadThroughClient(
  client: ChromaClient,
  p: Prepared,
  log: (m: string) => void,
  label: string,
): Promise<{
  collection: Awaited<ReturnType<ChromaClient['createCollection']>>;
  ackMs: number;
  batch: number;
}> {
  const { w } = p;
  const d = w.dimension;
  const collection = await client.createCollection({
    name: 'real',
    embeddingFunction: null as never,
    configuration: { hnsw: { space: chromaSpace(w) } } as never,
  });
  const batch = Math.min(5_000, await client.getMaxBatchSize());
  const t0 = performance.now();
  for (let s = 0; s < w.ids.length; s += batch) {
    const end = Math.min(w.ids.length, s + batch);
    const embeddings: number[][] = [];
    for (let r = s; r < end; r++) embeddings.push(Array.from(w.matrix.subarray(r * d, (r + 1) * d)));
    const docs = w.documents.slice(s, end);
    await collection.add({
      ids: w.ids.slice(s, end),
      embeddings,
      metadatas: w.metadatas.slice(s, end) as never,
      ...(docs.some((x) => x !== null) ? { documents: docs as string[] } : {}),
    });
  }
  const ackMs = performance.now() - t0;
  log(`${label}: ${w.ids.length} adds acknowledged in ${round(ackMs / 1000, 1)} s (batches of ${batch})`);
  return { collection, ackMs, batch };
}

function clientQuery(collection: Awaited<ReturnType<ChromaClient['createCollection']>>): Query {
  return async (q, where) => {
    const r = await collection.query({
      queryEmbeddings: [Array.from(q)],
      nResults: K,
      ...(where ? { where: where as never } : {}),
    });
    return (r.ids[0] ?? []) as string[];
  };
}

/** Polls until the collection answers `n` records and the last record's own vector finds it. */
async function untilQueryable(
  collection: Awaited<ReturnType<ChromaClient['createCollection']>>,
  p: Prepared,
  deadlineMs: number,
): Promise<void> {
  const { w } = p;
  const last = w.ids.length - 1;
  const q = Array.from(w.matrix.subarray(last * w.dimension, (last + 1) * w.dimension));
  for (;;) {
    const count = await collection.count();
    if (count === w.ids.length) {
      const r = await collection.query({ queryEmbeddings: [q], nResults: 1, include: [] as never });
      if ((r.ids[0] ?? []).includes(w.ids[last]!)) return;
    }
    if (performance.now() > deadlineMs) throw new Error(`not all records queryable (count ${count})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function strataCli(): { command: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  const js = join(here, '..', '..', '..', 'src', 'cli', 'bin.js');
  if (existsSync(js)) return { command: process.execPath, args: [js] };
  const ts = join(here, '..', '..', '..', 'src', 'cli', 'bin.ts');
  return { command: process.execPath, args: ['--import', 'tsx', ts] };
}

async function benchServe(p: Prepared, log: (m: string) => void): Promise<SystemResult> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-real-serve-'));
  const port = await freeLoopbackPort();
  const cli = strataCli();
  const proc = new OwnedProcess(
    'strata-serve',
    cli.command,
    [
      ...cli.args,
      '--dir',
      dir,
      'serve',
      '--port',
      String(port),
      '--token',
      TOKEN,
      '--compact-every',
      '5s',
      '--max-batch-size',
      '5000',
    ],
    { env: { ...process.env }, outputTail: 8192 },
  );
  try {
    return await serveRun(p, log, proc, port, dir);
  } catch (e) {
    throw new Error(
      `${e instanceof Error ? e.message : String(e)} (server ${proc.running ? 'running' : 'exited'}; its last output: ${proc.output.slice(-600).replace(/\s+/g, ' ')})`,
    );
  } finally {
    await proc.stop(20_000);
    await rm(dir, { recursive: true, force: true });
  }
}

async function serveRun(
  p: Prepared,
  log: (m: string) => void,
  proc: OwnedProcess,
  port: number,
  _dir: string,
): Promise<SystemResult> {
  {
    const client = new ChromaClient({ host: '127.0.0.1', port, headers: { 'x-chroma-token': TOKEN } });
    const t0 = Date.now();
    for (;;) {
      try {
        await client.heartbeat();
        break;
      } catch (e) {
        if (!proc.running || Date.now() - t0 > 60_000)
          throw new Error(`strata serve did not start: ${(e as Error).message}\n${proc.output.slice(-800)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const start = performance.now();
    const { collection, ackMs, batch } = await loadThroughClient(client, p, log, 'strata serve');
    await untilQueryable(collection, p, performance.now() + 600_000);
    const queryableMs = performance.now() - start;
    // then until the background compaction has published every write (the tail is empty)
    const status = async () => {
      const r = await fetch(`http://127.0.0.1:${port}/strata/v1/status`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      const j = (await r.json()) as { collections?: Array<{ tail?: { records: number } | null }> };
      return j.collections?.reduce((n, c) => n + (c.tail?.records ?? 0), 0) ?? 0;
    };
    // (waited for at most 2 minutes: the queries then also search what the tail still holds)
    let tail = await status();
    while (tail > 0 && performance.now() - start < queryableMs + 120_000) {
      await new Promise((r) => setTimeout(r, 250));
      tail = await status();
    }
    const compactedMs = performance.now() - start;
    log(
      `strata serve: all queryable after ${round(queryableMs / 1000, 1)} s; ${tail === 0 ? 'compacted (tail empty)' : `${tail} records still in the tail`} after ${round(compactedMs / 1000, 1)} s`,
    );
    const m = await measure(p, clientQuery(collection));
    return {
      system: 'Strata, `strata serve` via chromadb client',
      loadMs: queryableMs,
      loadDetail: {
        ackMs: Math.round(ackMs),
        compactedMs: Math.round(compactedMs),
        tailAtQueries: tail,
        batch,
      },
      ...m,
    };
  }
}

async function benchChroma(p: Prepared, log: (m: string) => void): Promise<SystemResult> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-real-chroma-'));
  const server = await ChromaServer.start({ path: join(dir, 'db') });
  try {
    const client = new ChromaClient({ host: '127.0.0.1', port: server.port });
    const version = await client.version();
    const start = performance.now();
    const { collection, ackMs, batch } = await loadThroughClient(client, p, log, 'chroma');
    await untilQueryable(collection, p, performance.now() + 600_000);
    const queryableMs = performance.now() - start;
    log(`chroma: all queryable after ${round(queryableMs / 1000, 1)} s`);
    const m = await measure(p, clientQuery(collection));
    return {
      system: `Chroma ${version} via chromadb client`,
      loadMs: queryableMs,
      loadDetail: { ackMs: Math.round(ackMs), batch },
      ...m,
    };
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function benchLance(p: Prepared, log: (m: string) => void): Promise<SystemResult> {
  const { w } = p;
  const lancedb = await import('@lancedb/lancedb');
  const arrow = createRequire(import.meta.url)('apache-arrow') as typeof import('apache-arrow');
  const dir = await mkdtemp(join(tmpdir(), 'strata-real-lance-'));
  try {
    const db = await lancedb.connect(dir);
    const d = w.dimension;
    const t0 = performance.now();
    const listType = new arrow.FixedSizeList(d, new arrow.Field('item', new arrow.Float32(), true));
    const child = arrow.makeData({ type: new arrow.Float32(), data: w.matrix.slice() });
    const columns: Record<string, unknown> = {
      id: arrow.vectorFromArray(w.ids, new arrow.Utf8()),
      vector: arrow.makeVector(arrow.makeData({ type: listType, length: w.ids.length, nullCount: 0, child })),
    };
    const keys = new Set<string>();
    for (const m of w.metadatas) for (const k of Object.keys(m)) keys.add(k);
    for (const k of keys) {
      const sample = w.metadatas.find((m) => m[k] !== undefined)?.[k];
      const values = w.metadatas.map((m: Metadata) => m[k] ?? null);
      columns[k] =
        typeof sample === 'number'
          ? arrow.vectorFromArray(values as number[], new arrow.Float64())
          : typeof sample === 'boolean'
            ? arrow.vectorFromArray(values as boolean[], new arrow.Bool())
            : arrow.vectorFromArray(values.map(String), new arrow.Utf8());
    }
    const tbl = await db.createTable('real', new arrow.Table(columns as never) as never);
    const addMs = performance.now() - t0;
    const t1 = performance.now();
    const distanceType = w.metric === 'l2sq' ? 'l2' : w.metric === 'ip' ? 'dot' : 'cosine';
    await tbl.createIndex('vector', { config: lancedb.Index.hnswSq({ distanceType }) });
    const indexMs = performance.now() - t1;
    log(`lancedb: add ${round(addMs / 1000, 1)} s, IVF_HNSW_SQ index ${round(indexMs / 1000, 1)} s`);
    const sqlOf = new Map(w.filters.map((f) => [f.where, f.sql]));
    const m = await measure(p, async (q, where) => {
      let s = tbl.vectorSearch(q).distanceType(distanceType);
      if (where) s = s.where(sqlOf.get(where)!);
      const rows = (await s.select(['id', '_distance']).limit(K).toArray()) as Array<Record<string, unknown>>;
      return rows.map((r) => String(r.id));
    });
    tbl.close();
    db.close();
    return {
      system: 'LanceDB 0.31.0, in process',
      loadMs: addMs + indexMs,
      loadDetail: { addMs: Math.round(addMs), indexMs: Math.round(indexMs) },
      ...m,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const ms = (x: number) => (x >= 1000 ? `${round(x / 1000, 1)} s` : `${round(x, 2)} ms`);
const pct = (x: number) => `${round(100 * x, 2)} %`;

async function loadWorkload(name: string, quick: boolean, queries: number, log: (m: string) => void) {
  const records = Number(process.env.STRATA_REAL_RECORDS ?? 0) || undefined;
  if (name === 'fashion-mnist')
    return loadFashionMnist({ records: records ?? (quick ? 5_000 : 60_000), queries });
  if (name === 'glove') return loadGlove({ records: records ?? (quick ? 10_000 : 60_000), queries });
  if (name === 'fortunes') return loadFortunes({ queries, log });
  throw new Error(`unknown real workload ${name}`);
}

export async function benchReal(o: RealBenchOptions = {}): Promise<BenchSection> {
  const log = o.log ?? (() => {});
  const quick = o.quick ?? false;
  const names = o.workloads ??
    process.env.STRATA_REAL_WORKLOADS?.split(',') ?? ['fashion-mnist', 'glove', 'fortunes'];
  const systems =
    o.systems ??
    (process.env.STRATA_REAL_SYSTEMS?.split(',') as RealSystem[] | undefined) ??
    (['inproc', 'serve', 'chroma', 'lancedb'] as RealSystem[]);
  const queries = o.queries ?? (Number(process.env.STRATA_REAL_QUERIES ?? 0) || (quick ? 50 : 200));
  const rows: BenchRow[] = [];
  const data: Record<string, unknown> = { queries, k: K };
  const tables: string[] = [];
  for (const name of names) {
    const w = await loadWorkload(name, quick, queries, log);
    const p = prepare(w, log);
    const results: SystemResult[] = [];
    const failures: string[] = [];
    for (const s of systems) {
      log(`${w.name}: ${s}`);
      try {
        if (s === 'inproc') results.push(await benchInProcess(p, log));
        else if (s === 'serve') results.push(await benchServe(p, log));
        else if (s === 'chroma') results.push(await benchChroma(p, log));
        else results.push(await benchLance(p, log));
      } catch (e) {
        // one system failing (a peer that will not start, a connection lost) leaves the others' figures
        const msg = `${s} failed: ${e instanceof Error ? e.message : String(e)}`;
        log(`${w.name}: ${msg}`);
        failures.push(msg);
      }
    }
    const sel = w.filters.map((f, i) => ({ f, selectivity: p.filtered[i]!.eligible.size / w.ids.length }));
    data[w.name] = {
      source: w.source,
      metric: w.metric,
      records: w.ids.length,
      filters: sel.map(({ f, selectivity }) => ({ label: f.label, where: f.where, selectivity })),
      results,
      failures,
    };
    const head = [
      `**${w.name}** (${w.source}, ${w.metric === 'l2sq' ? 'l2' : 'angular'}; ${w.queries.length} queries, k = ${K}). Filters: ${sel.map(({ f, selectivity }) => `${pct(selectivity)} \`${JSON.stringify(f.where)}\``).join('; ')}.`,
      '',
      `| system | load → all queryable | plain p50 / p99 / recall | ${sel.map(({ selectivity }) => `filtered ${pct(selectivity)} p50 / p99 / recall`).join(' | ')} |`,
      `| --- | --- | --- | ${sel.map(() => '---').join(' | ')} |`,
    ];
    const cell = (s: Stat) => `${ms(s.p50)} / ${ms(s.p99)} / ${round(s.recall, 4)}`;
    for (const r of results) {
      head.push(`| ${r.system} | ${ms(r.loadMs)} | ${cell(r.plain)} | ${r.filtered.map(cell).join(' | ')} |`);
    }
    for (const f of failures) head.push('', `Failed: ${f.split('\n')[0]}`);
    tables.push(head.join('\n'));
    // each workload's table as soon as it is measured (a long run stopped midway keeps what it measured)
    await mkdir('bench-results', { recursive: true });
    await writeFile(join('bench-results', 'real-partial.md'), `${tables.join('\n\n')}\n`);
    await writeFile(join('bench-results', 'real-partial.json'), `${JSON.stringify(data, null, 2)}\n`);
    log(`\n${head.join('\n')}\n`);
    // goals, Strata through the client vs Chroma through the client (else in process)
    const strata =
      results.find((r) => r.system.includes('serve')) ?? results.find((r) => r.system.includes('in process'));
    const chroma = results.find((r) => r.system.startsWith('Chroma'));
    if (strata) {
      const minRecall = Math.min(...strata.filtered.map((s) => s.recall));
      const worstTail = Math.max(...strata.filtered.map((s) => s.p99 / s.p50));
      const filteredOverPlain = strata.filtered.map((s) => s.p50 / strata.plain.p50);
      rows.push(
        {
          bench: `real ${w.name}`,
          metric: `${strata.system}: filtered recall@10, lowest of ${sel.map(({ selectivity }) => pct(selectivity)).join(', ')}`,
          strata: `${round(minRecall, 4)}`,
          baseline: '-',
          ratio: '-',
          goal: '≥ 0.99',
          met: minRecall >= 0.99,
        },
        {
          bench: `real ${w.name}`,
          metric: `${strata.system}: filtered p50 ÷ plain p50 (${sel.map(({ selectivity }) => pct(selectivity)).join(', ')})`,
          strata: strata.filtered.map((s) => ms(s.p50)).join(', '),
          baseline: ms(strata.plain.p50),
          ratio: filteredOverPlain.map((x) => `${round(x, 2)}×`).join(', '),
          goal: 'report',
          met: null,
        },
        {
          bench: `real ${w.name}`,
          metric: `${strata.system}: filtered p99 ÷ p50, worst selectivity`,
          strata: `${round(worstTail, 2)}×`,
          baseline: '-',
          ratio: '-',
          goal: '≤ 3×',
          met: worstTail <= 3,
        },
      );
      if (chroma) {
        const plainRatio = strata.plain.p50 / chroma.plain.p50;
        const fr = strata.filtered.map((s, i) => s.p50 / chroma.filtered[i]!.p50);
        const loadRatio = strata.loadMs / chroma.loadMs;
        rows.push(
          {
            bench: `real ${w.name}`,
            metric: 'plain p50, Strata ÷ Chroma (both via chromadb client), at recall ≥ 0.99',
            strata: `${ms(strata.plain.p50)} @ ${round(strata.plain.recall, 4)}`,
            baseline: `${ms(chroma.plain.p50)} @ ${round(chroma.plain.recall, 4)}`,
            ratio: `${round(plainRatio, 3)}`,
            goal: '≤ 0.5',
            met: plainRatio <= 0.5 && strata.plain.recall >= 0.99,
          },
          {
            bench: `real ${w.name}`,
            metric: `filtered p50, Strata ÷ Chroma (${sel.map(({ selectivity }) => pct(selectivity)).join(', ')})`,
            strata: strata.filtered.map((s) => `${ms(s.p50)} @ ${round(s.recall, 3)}`).join(', '),
            baseline: chroma.filtered.map((s) => `${ms(s.p50)} @ ${round(s.recall, 3)}`).join(', '),
            ratio: fr.map((x) => round(x, 3)).join(', '),
            goal: '≤ 0.25 each, recall ≥ 0.99',
            met: fr.every((x) => x <= 0.25) && strata.filtered.every((s) => s.recall >= 0.99),
          },
          {
            bench: `real ${w.name}`,
            metric: 'load → all queryable, Strata ÷ Chroma (client adds as fast as it can)',
            strata: ms(strata.loadMs),
            baseline: ms(chroma.loadMs),
            ratio: `${round(loadRatio, 2)}×`,
            goal: '≤ 0.5×',
            met: loadRatio <= 0.5,
          },
        );
      }
    }
  }
  data.markdown = tables.join('\n\n');
  const md = `# Real data — ${new Date().toISOString()}\n\nCommand: \`npm run bench -- --only real\`${quick ? ' --quick' : ''}.\n\n${data.markdown}\n`;
  await mkdir('bench-results', { recursive: true });
  await writeFile(join('bench-results', 'real-latest.md'), md);
  process.stderr.write(`\n${md}\n`);
  return { name: 'real', rows, data };
}
