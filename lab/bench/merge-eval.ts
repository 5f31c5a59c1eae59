/**
 * Merge steps run in the bench's own process (every core, the same for both paths) on the collection's
 * current version, without publishing — from the largest input's graph ("reuse") or from scratch
 * ("rebuild") — and the quality of a data segment's index: recall@10 of the index alone (the HNSW answer,
 * ef 64, no re-rank: what graph damage shows in) and of the query layer (f16 index + exact f32 re-rank),
 * query p50, and the dead slots its index file carries (removed vectors a reused graph keeps).
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { CollectionConfig } from '../../src/core/types.js';
import { exactNearest, readIndexHeader, SEGMENT_FILES } from '../../src/engine/index.js';
import { baseRefOf, readPointer } from '../../src/pipeline/pointer.js';
import { openStoredSegment, type SegmentRef } from '../../src/pipeline/segments.js';
import { runStep } from '../../src/pipeline/steps.js';
import { readVersion } from '../../src/pipeline/versions.js';
import { knn, SegmentView } from '../../src/query/index.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { median } from './stats.js';

const K = 10;

export interface MergeRun {
  ms: number;
  build: string;
  segment: SegmentRef;
}

/** One merge step over `inputs` (default: every segment) of the current version; nothing is published. */
export async function mergeInProcess(
  store: ObjectStore,
  config: CollectionConfig,
  how: 'reuse' | 'rebuild',
  inputs?: string[],
): Promise<MergeRun> {
  const p = (await readPointer(store, config.name))!;
  const base = baseRefOf(p)!;
  const v = await readVersion(store, base, config.name);
  const r = await runStep(
    { store, config, threads: availableParallelism(), producer: 'strata-bench' },
    {
      kind: 'merge',
      collection: config.name,
      run: `bench-${how}-${Date.now()}`,
      index: 0,
      base,
      inputs: inputs ?? v.manifest.segments.map((s) => s.manifestSha256),
      rebuildAbove: how === 'reuse' ? 1 : -1,
    },
  );
  if (!r.segment) throw new Error('the merge step returned no segment');
  if (r.build !== how) throw new Error(`asked for ${how}, the merge step did ${r.build}`);
  return { ms: r.ms, build: r.build, segment: r.segment };
}

export interface IndexQuality {
  rows: number;
  /** Recall@10 of the index's own answer (no re-rank). */
  indexRecall: number;
  /** Recall@10 of the query layer's plan (index candidates re-ranked by exact f32 distance). */
  recall: number;
  /** Median query-layer latency. */
  p50Ms: number;
  /** Vectors in the index file, live and removed. */
  slots: number;
  deadSlots: number;
  indexBytes: number;
}

/** Recall and latency of one data segment (every row live), against exact search over its vectors. */
export async function indexQuality(
  store: ObjectStore,
  seg: Pick<SegmentRef, 'prefix' | 'manifestSha256'>,
  queries: Float32Array[],
): Promise<IndexQuality> {
  await using opened = await openStoredSegment(store, seg.prefix, seg.manifestSha256, { verify: 'none' });
  const reader = opened.reader;
  if (!reader.hasIndex) throw new Error('segment has no index');
  const view = SegmentView.build(reader, { vectorBudgetBytes: 4 * 2 ** 30 });
  try {
    const vectors = view.vectors!;
    const d = view.dimension;
    const metric = reader.manifest.metric;
    let indexHits = 0;
    let hits = 0;
    const ms: number[] = [];
    for (const q of queries) {
      const truth = new Set(exactNearest(metric, vectors, d, q, K).rows);
      for (const key of reader.searchKeys(q, K).keys) if (truth.has(view.rowOfKey(key))) indexHits++;
      const t = performance.now();
      const r = knn(view, metric, q, K, null, view.size, { exactBelow: 0 });
      ms.push(performance.now() - t);
      for (const row of r.rows) if (truth.has(row)) hits++;
    }
    const indexFile = join(reader.dir, SEGMENT_FILES.index);
    const header = await readIndexHeader(indexFile);
    return {
      rows: view.size,
      indexRecall: indexHits / (queries.length * K),
      recall: hits / (queries.length * K),
      p50Ms: median(ms),
      slots: header.present + header.deleted,
      deadSlots: header.deleted,
      indexBytes: reader.manifest.files.find((f) => f.role === 'index')?.size ?? 0,
    };
  } finally {
    view.release();
  }
}

/** The single segment of the current version (after an optimize). */
export async function onlySegment(store: ObjectStore, collection: string) {
  const p = (await readPointer(store, collection))!;
  const v = await readVersion(store, baseRefOf(p)!, collection);
  if (v.manifest.segments.length !== 1)
    throw new Error(`${collection} has ${v.manifest.segments.length} segments`);
  return v.manifest.segments[0]!;
}
