import type { CollectionConfig, Operation } from '../../src/core/types.js';
import { createCollection } from '../../src/pipeline/collections.js';
import { type CompactOptions, type CompactReport, compact } from '../../src/pipeline/compact.js';
import { acceptDelta, type DeltaDescriptor } from '../../src/pipeline/deltas.js';
import { type MergeMode, type MergeReport, mergeCollection } from '../../src/pipeline/merges.js';
import { InlineExecutor } from '../../src/runners/inline.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { generateRecords } from '../../src/workload/synthetic.js';

export async function smallCollection(
  store: ObjectStore,
  name = 'lines',
  dimension = 8,
  quantization: 'f16' | 'f32' = 'f32',
): Promise<CollectionConfig> {
  return createCollection(store, { name, dimension, metric: 'cos', quantization });
}

export function upserts(seed: number, count: number, dimension: number, offset = 0): Operation[] {
  return [...generateRecords({ seed, count, dimension, offset })].map((r) => ({
    op: 'upsert' as const,
    id: r.id,
    embedding: r.embedding,
    document: r.document ?? null,
    metadata: r.metadata ?? null,
  }));
}

export async function ingestBatches(
  store: ObjectStore,
  config: CollectionConfig,
  ops: Operation[],
  perDelta: number,
): Promise<DeltaDescriptor[]> {
  const out: DeltaDescriptor[] = [];
  for (let i = 0; i < ops.length; i += perDelta)
    out.push(await acceptDelta(store, config, ops.slice(i, i + perDelta)));
  return out;
}

export async function compactInline(
  store: ObjectStore,
  collection: string,
  opts: Partial<CompactOptions> = {},
): Promise<CompactReport> {
  const executor = new InlineExecutor(store, { retry: { attempts: 1 } });
  try {
    return await compact(store, collection, { executor, chunkSize: 3, groupSize: 2, ...opts });
  } finally {
    await executor.close();
  }
}

/** Merges on demand (as `strata optimize` does for 'all'), under the collection's lease, steps in-process. */
export async function mergeInline(
  store: ObjectStore,
  collection: string,
  mode: MergeMode = 'all',
  retain = 4,
): Promise<MergeReport> {
  const executor = new InlineExecutor(store, { retry: { attempts: 1 } });
  try {
    return await mergeCollection(store, collection, {}, { step: (t) => executor.run(t), mode, retain });
  } finally {
    await executor.close();
  }
}
