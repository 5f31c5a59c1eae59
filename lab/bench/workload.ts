/**
 * What the benchmark sections share: the synthetic workloads (the demo's 28,454 × 1536 and 200,000 × 384),
 * a collection created and fed with deltas, a change round, a compaction or a merge through the local pool
 * (each with a fresh pool, so a step process's peak RSS is its own), and the formatting of figures.
 */
import { availableParallelism } from 'node:os';
import type { CollectionConfig, Operation } from '../../src/core/types.js';
import { createCollection } from '../../src/pipeline/collections.js';
import { type CompactOptions, type CompactReport, compact } from '../../src/pipeline/compact.js';
import { openCurrentVersion } from '../../src/pipeline/current.js';
import { acceptDelta } from '../../src/pipeline/deltas.js';
import { Lease } from '../../src/pipeline/lease.js';
import { type MergeMode, type MergeReport, mergeCollection } from '../../src/pipeline/merges.js';
import { baseRefOf, readPointer } from '../../src/pipeline/pointer.js';
import { type ResolvedVersion, readVersion } from '../../src/pipeline/versions.js';
import { LocalPoolExecutor } from '../../src/runners/local/pool.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { generateChanges, generateRecords } from '../../src/workload/synthetic.js';
import { round } from './stats.js';

export const fmtMs = (ms: number) =>
  ms >= 1000 ? `${round(ms / 1000, 2)} s` : ms >= 10 ? `${round(ms, 1)} ms` : `${round(ms, 3)} ms`;
export const fmtMB = (bytes: number) => `${round(bytes / 2 ** 20, 1)} MB`;
export const fmtPct = (x: number, digits = 1) => `${round(100 * x, digits)} %`;
export const fmtX = (x: number, digits = 2) => `${round(x, digits)}×`;
export const fmtN = (n: number) => n.toLocaleString('en-US');

/** Upserts of records `offset …` of the synthetic workload, and their vectors row-major. */
export interface Upserts {
  ops: Operation[];
  ids: string[];
  matrix: Float32Array;
  dimension: number;
}

export function upserts(seed: number, count: number, dimension: number, offset = 0): Upserts {
  const ops: Operation[] = [];
  const ids: string[] = [];
  const matrix = new Float32Array(count * dimension);
  let i = 0;
  for (const r of generateRecords({ seed, count, dimension, offset })) {
    matrix.set(r.embedding, i++ * dimension);
    ids.push(r.id);
    ops.push({
      op: 'upsert',
      id: r.id,
      embedding: r.embedding,
      document: r.document ?? null,
      metadata: r.metadata ?? null,
    });
  }
  return { ops, ids, matrix, dimension };
}

/** Query vectors: records far beyond any collection's own (same clusters, never stored). */
export function queryVectors(seed: number, count: number, dimension: number): Float32Array[] {
  return [...generateRecords({ seed, count, dimension, offset: 50_000_000 })].map((r) => r.embedding);
}

export function newCollection(
  store: ObjectStore,
  name: string,
  dimension: number,
): Promise<CollectionConfig> {
  return createCollection(store, { name, dimension, metric: 'cos', quantization: 'f16' });
}

/** Accepts `ops` as `deltas` deltas (as even as possible); returns the wall time. */
export async function ingest(
  store: ObjectStore,
  config: CollectionConfig,
  ops: Operation[],
  deltas: number,
): Promise<number> {
  const t = performance.now();
  const per = Math.ceil(ops.length / deltas);
  for (let i = 0; i < ops.length; i += per) {
    await acceptDelta(store, config, ops.slice(i, i + per), { producer: 'strata-bench' });
  }
  return performance.now() - t;
}

/** A change round of `count` operations (the demo's mix) against the collection's live ids. */
export async function changeOps(
  store: ObjectStore,
  collection: string,
  o: {
    seed: number;
    count: number;
    dimension: number;
    round: number;
    mix?: Parameters<typeof generateChanges>[0]['mix'];
  },
): Promise<Operation[]> {
  let existingIds: string[];
  {
    await using v = await openCurrentVersion(store, collection, { verify: 'none', vectorBudgetBytes: 0 });
    existingIds = [...v.ids()];
  }
  return [
    ...generateChanges({
      seed: o.seed,
      existingIds,
      count: o.count,
      dimension: o.dimension,
      round: o.round,
      ...(o.mix ? { mix: o.mix } : {}),
    }),
  ];
}

/** Bytes of the vectors a batch of operations carries (f32). */
export const vectorBytes = (ops: Operation[]) =>
  ops.reduce((n, op) => n + (op.op === 'upsert' ? op.embedding.byteLength : 0), 0);

export interface Timed<T> {
  ms: number;
  value: T;
}

/** A compaction through a fresh local pool of `concurrency` processes (default: every core). */
export async function compactWithPool(
  store: ObjectStore,
  storeSpec: string,
  collection: string,
  opts: Omit<CompactOptions, 'executor'> & { concurrency?: number },
): Promise<Timed<CompactReport>> {
  const { concurrency, ...rest } = opts;
  const executor = new LocalPoolExecutor({ storeSpec, concurrency: concurrency ?? availableParallelism() });
  try {
    const t = performance.now();
    const value = await compact(store, collection, { chunkSize: 3, groupSize: 10, ...rest, executor });
    const ms = performance.now() - t;
    if (value.status !== 'published') {
      throw new Error(
        `compaction of ${collection} did not publish: ${value.status} ${value.error?.message ?? ''}`,
      );
    }
    return { ms, value };
  } finally {
    await executor.close();
  }
}

/**
 * Merges alone (no pending deltas), as a background merge or `strata optimize` runs them: under the
 * collection's lease, merge steps in a fresh local pool, each merged segment published by CAS.
 */
export async function mergeWithPool(
  store: ObjectStore,
  storeSpec: string,
  collection: string,
  opts: { mode: MergeMode; concurrency?: number; rebuildAbove?: number },
): Promise<Timed<MergeReport> & { peakRssMb: number }> {
  const executor = new LocalPoolExecutor({
    storeSpec,
    concurrency: opts.concurrency ?? availableParallelism(),
  });
  let peakRssMb = 0;
  try {
    await using lease = await Lease.acquire(store, collection);
    const t = performance.now();
    const value = await mergeCollection(store, collection, lease, {
      mode: opts.mode,
      ...(opts.rebuildAbove !== undefined ? { rebuildAbove: opts.rebuildAbove } : {}),
      step: async (task) => {
        const r = await executor.run(task);
        peakRssMb = Math.max(peakRssMb, r.maxRssMb ?? 0);
        return r;
      },
    });
    const ms = performance.now() - t;
    if (value.dropped.length > 0) {
      throw new Error(`merges of ${collection} were dropped: ${value.dropped[0]!.error.message}`);
    }
    return { ms, value, peakRssMb };
  } finally {
    await executor.close();
  }
}

/** The version the collection's pointer names now. */
export async function currentVersion(store: ObjectStore, collection: string): Promise<ResolvedVersion> {
  const p = await readPointer(store, collection);
  if (!p) throw new Error(`${collection} has no version`);
  return readVersion(store, baseRefOf(p)!, collection);
}

/** Bytes of the segments a version lists (with their deletion vectors' keys, the whole version). */
export const versionBytes = (v: ResolvedVersion) => v.manifest.segments.reduce((n, s) => n + s.bytes, 0);
