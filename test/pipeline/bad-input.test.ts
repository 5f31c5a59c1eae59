/**
 * Bad input is refused loudly, and alone (docs/architecture.md, the invariant of that name): a malformed
 * delta that reached the store (a producer writing straight into it, bit rot, a bug) is quarantined during
 * compaction with a coded error naming the collection, run, chunk and file; the other deltas of the run are
 * promoted; nothing already published changes.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/core/errors.js';
import { sha256Hex } from '../../src/core/hash.js';
import type { CollectionConfig } from '../../src/core/types.js';
import { DeltaKeys, encodeDelta, type RawDeltaRow, writeRawDelta } from '../../src/ingest/index.js';
import { writeJson } from '../../src/pipeline/json-object.js';
import { Keys } from '../../src/pipeline/layout.js';
import { readLedger } from '../../src/pipeline/ledger.js';
import { readPointer } from '../../src/pipeline/pointer.js';
import { allocateSequence } from '../../src/pipeline/sequence.js';
import { verifyCollection } from '../../src/pipeline/verify.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { ReferenceModel } from '../helpers/model.js';
import { compactInline, ingestBatches, smallCollection, upserts } from '../helpers/pipeline.js';
import { tempStore } from '../helpers/tmp.js';

const DIM = 8;

function header(
  config: CollectionConfig,
  seqStart: number,
  count: number,
  over: Record<string, string> = {},
) {
  return new Map<string, string>(
    Object.entries({
      [DeltaKeys.format]: 'strata.delta',
      [DeltaKeys.formatVersion]: '1',
      [DeltaKeys.collection]: config.name,
      [DeltaKeys.dimension]: String(config.dimension),
      [DeltaKeys.metric]: config.metric,
      [DeltaKeys.producer]: 'test',
      [DeltaKeys.seqStart]: String(seqStart),
      [DeltaKeys.seqEnd]: String(seqStart + Math.max(count, 1) - 1),
      [DeltaKeys.count]: String(count),
      [DeltaKeys.createdAt]: '2026-01-01T00:00:00.000Z',
      ...over,
    }),
  );
}

function row(
  id: string,
  seq: number,
  embedding: Float32Array | null,
  metadata: string | null = null,
): RawDeltaRow {
  return {
    op: 'upsert',
    id,
    seq,
    embedding,
    document: 'doc',
    documentSet: true,
    metadata,
    metadataSet: true,
  };
}

const vec = (x = 0.5) => Float32Array.from({ length: DIM }, (_, i) => x + i);

/** Puts bytes into the store as an accepted delta, bypassing ingest-time validation. */
async function plant(
  store: ObjectStore,
  config: CollectionConfig,
  make: (seqStart: number) => { bytes: Uint8Array; count: number; sha256?: string },
) {
  const seqStart = await allocateSequence(store, config.name, 4);
  const { bytes, count, sha256 } = make(seqStart);
  const key = Keys.deltaData(config.name, seqStart);
  await store.put(key, bytes);
  await writeJson(store, Keys.deltaDescriptor(config.name, seqStart), {
    collection: config.name,
    seqStart,
    seqEnd: seqStart + Math.max(count, 1) - 1,
    count,
    key,
    sha256: sha256 ?? sha256Hex(bytes),
    size: bytes.byteLength,
    producer: 'test',
    acceptedAt: new Date().toISOString(),
  });
  return { seqStart, key };
}

type Case = {
  name: string;
  code: string;
  make: (config: CollectionConfig, s: number) => { bytes: Uint8Array; count: number; sha256?: string };
};

const raw = (
  config: CollectionConfig,
  s: number,
  rows: RawDeltaRow[],
  over: Record<string, string> = {},
) => ({
  bytes: writeRawDelta(header(config, s, rows.length, over), rows, config.dimension).bytes,
  count: rows.length,
});

const cases: Case[] = [
  {
    name: 'wrong dimension',
    code: ErrorCodes.DIMENSION_MISMATCH,
    make: (c, s) => ({
      bytes: writeRawDelta(
        header(c, s, 1, { [DeltaKeys.dimension]: '4' }),
        [row('a', s, Float32Array.of(1, 2, 3, 4))],
        4,
      ).bytes,
      count: 1,
    }),
  },
  {
    name: 'NaN in a vector',
    code: ErrorCodes.NON_FINITE,
    make: (c, s) => raw(c, s, [row('a', s, vec(Number.NaN))]),
  },
  {
    name: 'Infinity in a vector',
    code: ErrorCodes.NON_FINITE,
    make: (c, s) => raw(c, s, [row('a', s, vec(Number.POSITIVE_INFINITY))]),
  },
  { name: 'empty id', code: ErrorCodes.ID_EMPTY, make: (c, s) => raw(c, s, [row('', s, vec())]) },
  {
    name: 'over-long id',
    code: ErrorCodes.ID_TOO_LONG,
    make: (c, s) => raw(c, s, [row('x'.repeat(600), s, vec())]),
  },
  {
    name: 'duplicate id with conflicting sequence numbers',
    code: ErrorCodes.DUPLICATE_ID,
    make: (c, s) => raw(c, s, [row('a', s, vec(1)), row('a', s, vec(2))]),
  },
  {
    name: 'metadata of an unsupported type',
    code: ErrorCodes.METADATA_TYPE,
    make: (c, s) => raw(c, s, [row('a', s, vec(), JSON.stringify({ nested: { no: 1 } }))]),
  },
  {
    name: 'truncated delta file',
    code: ErrorCodes.DELTA_TRUNCATED,
    make: (c, s) => {
      const { bytes } = encodeDelta(
        { collection: c.name, dimension: c.dimension, metric: c.metric, producer: 't', seqStart: s },
        [{ op: 'upsert', id: 'a', embedding: vec() }],
      );
      const cut = bytes.subarray(0, bytes.byteLength - 40);
      return { bytes: cut, count: 1 };
    },
  },
  {
    name: 'checksum mismatch (bytes changed after acceptance)',
    code: ErrorCodes.DELTA_CHECKSUM,
    make: (c, s) => {
      const { bytes } = encodeDelta(
        { collection: c.name, dimension: c.dimension, metric: c.metric, producer: 't', seqStart: s },
        [{ op: 'upsert', id: 'a', embedding: vec() }],
      );
      return { bytes, count: 1, sha256: sha256Hex('something else') };
    },
  },
  {
    name: 'delta for another collection',
    code: ErrorCodes.DELTA_COLLECTION,
    make: (c, s) => raw(c, s, [row('a', s, vec())], { [DeltaKeys.collection]: 'words' }),
  },
  {
    name: 'delta for another metric',
    code: ErrorCodes.DELTA_METRIC,
    make: (c, s) => raw(c, s, [row('a', s, vec())], { [DeltaKeys.metric]: 'l2sq' }),
  },
  { name: 'empty delta', code: ErrorCodes.DELTA_EMPTY, make: (c, s) => raw(c, s, []) },
];

describe('bad deltas are quarantined alone, with their own code', () => {
  for (const k of cases) {
    it(k.name, async () => {
      await using t = await tempStore();
      const config = await smallCollection(t.store, 'lines', DIM);
      const good = upserts(3, 120, DIM);
      await ingestBatches(t.store, config, good.slice(0, 60), 30);
      await compactInline(t.store, 'lines');
      const published = await readPointer(t.store, 'lines');

      await ingestBatches(t.store, config, good.slice(60, 90), 30);
      const bad = await plant(t.store, config, (s) => k.make(config, s));
      await ingestBatches(t.store, config, good.slice(90), 30);

      const r = await compactInline(t.store, 'lines', { chunkSize: 1, groupSize: 2 });
      expect(r.quarantined).toHaveLength(1);
      const q = r.quarantined[0]!;
      expect(q.error.code).toBe(k.code);
      expect(q.seqStart).toBe(bad.seqStart);
      expect(q.error.context).toMatchObject({
        collection: 'lines',
        file: bad.key,
        run: r.run,
        delta: String(bad.seqStart),
      });
      expect(q.error.context.chunk).toBeTypeOf('number');

      // the rest of the run continued: the good deltas are promoted, the model holds
      expect(r.status).toBe('published');
      expect(r.snapshot?.contentHash).toBe(new ReferenceModel().applyAll(good).contentHash());
      const ledger = await readLedger(t.store, 'lines');
      expect(ledger.counts).toMatchObject({ promoted: 4, quarantined: 1, pending: 0 });
      expect(ledger.entries.find((e) => e.seqStart === bad.seqStart)?.error?.code).toBe(k.code);

      // nothing already published changed: v1 is still intact (retained) and verifies
      const now = await readPointer(t.store, 'lines');
      expect(now?.value.retained[0]?.snapshot).toBe(published?.value.snapshot);
      expect((await verifyCollection(t.store, 'lines')).ok).toBe(true);

      // and the quarantined delta is not retried forever
      expect((await compactInline(t.store, 'lines')).status).toBe('nothing-to-do');
    });
  }
});
