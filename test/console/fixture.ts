/**
 * A store with everything the Console shows: several versions (retained ones to roll back to), pending
 * deltas, a quarantined delta, a collection made over the Chroma API in another tenant, and data whose
 * strings are markup, right-to-left text and emoji — which must render as text, never as markup.
 */
import type { Operation } from '../../src/core/types.js';
import { createCollection } from '../../src/pipeline/collections.js';
import { type CompactOptions, type CompactReport, compact } from '../../src/pipeline/compact.js';
import { acceptDelta } from '../../src/pipeline/deltas.js';
import { StepJournal } from '../../src/pipeline/step-journal.js';
import { InlineExecutor } from '../../src/runners/inline.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { upserts } from '../helpers/pipeline.js';

/**
 * A compaction as `strata compact` runs it: inline steps, journaled (the Console's run timeline). No merges
 * unless asked (`merge`), so the fixture's versions are its compactions.
 */
export async function compactJournaled(
  store: ObjectStore,
  collection: string,
  opts: Partial<CompactOptions> = {},
): Promise<CompactReport> {
  const executor = new StepJournal(store).wrap(new InlineExecutor(store, { retry: { attempts: 1 } }));
  try {
    return await compact(store, collection, { executor, chunkSize: 3, groupSize: 2, merge: 'none', ...opts });
  } finally {
    await executor.close();
  }
}

export const XSS_SCRIPT = '<script>alert(1)</script>';
export const XSS_IMG = '"><img src=x onerror=alert(1)>';
export const RTL = 'مرحبا بالعالم — שלום עולם';
export const EMOJI = '🧾✨ receipt 👩‍💻';
export const HOSTILE = [XSS_SCRIPT, XSS_IMG, RTL, EMOJI];

export const MAIN = 'receipts';
export const SECOND = 'lines-b';
export const DIM = 8;

function hostileOps(offset: number): Operation[] {
  return HOSTILE.map((s, i) => ({
    op: 'upsert' as const,
    id: `${s}#${offset + i}`,
    embedding: Float32Array.from({ length: DIM }, (_, j) => Math.sin(offset + i * 7 + j) + 1.5),
    document: `${s} document ${i}`,
    metadata: { note: s, [s.slice(0, 12)]: i, tags: [s, 'plain'] },
  }));
}

export interface Fixture {
  /** The hostile ids written into MAIN. */
  hostileIds: string[];
  /** seqStart of the quarantined delta. */
  quarantinedSeq: number;
  quarantinedSource: string;
}

export async function buildFixture(store: ObjectStore): Promise<Fixture> {
  const config = await createCollection(store, {
    name: MAIN,
    dimension: DIM,
    metric: 'cos',
    quantization: 'f32',
  });
  // v1: 3 deltas, one of them hostile
  await acceptDelta(store, config, upserts(1, 40, DIM), { source: 'batch-001.ndjson' });
  await acceptDelta(store, config, upserts(2, 40, DIM, 40), { source: 'batch-002.ndjson' });
  await acceptDelta(store, config, hostileOps(0), { source: `${XSS_IMG}.ndjson` });
  await compactJournaled(store, MAIN, { chunkSize: 1, groupSize: 2 });
  // v2: more records, and a delta whose bytes were damaged after acceptance → quarantined
  await acceptDelta(store, config, upserts(3, 30, DIM, 80), { source: 'batch-003.ndjson' });
  const quarantinedSource = `${XSS_SCRIPT} ${RTL}.ndjson`;
  const bad = await acceptDelta(store, config, upserts(4, 5, DIM, 200), { source: quarantinedSource });
  await store.put(bad.key, new Uint8Array([1, 2, 3, 4]));
  await compactJournaled(store, MAIN, { chunkSize: 1, groupSize: 2 });
  // v3
  await acceptDelta(store, config, upserts(5, 20, DIM, 110), { source: `${EMOJI}.ndjson` });
  await compactJournaled(store, MAIN, { chunkSize: 2, groupSize: 2 });
  // pending (not compacted): freshness lag
  await acceptDelta(store, config, upserts(6, 10, DIM, 300), { source: 'late.ndjson' });
  await acceptDelta(store, config, upserts(7, 10, DIM, 310), { source: 'later.ndjson' });

  const second = await createCollection(store, {
    name: SECOND,
    dimension: DIM,
    metric: 'l2sq',
    quantization: 'f16',
  });
  await acceptDelta(store, second, upserts(8, 25, DIM), { source: 'b.ndjson' });
  await compactJournaled(store, SECOND);
  return {
    hostileIds: hostileOps(0).map((o) => o.id),
    quarantinedSeq: bad.seqStart,
    quarantinedSource,
  };
}
