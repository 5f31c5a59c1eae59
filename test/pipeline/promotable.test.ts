import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/core/hash.js';
import { encodeDelta } from '../../src/ingest/index.js';
import { acceptDelta } from '../../src/pipeline/deltas.js';
import { writeJson } from '../../src/pipeline/json-object.js';
import { Keys } from '../../src/pipeline/layout.js';
import { readLedger } from '../../src/pipeline/ledger.js';
import { promotableDeltas } from '../../src/pipeline/promotable.js';
import { allocateSequence } from '../../src/pipeline/sequence.js';
import { compactInline, smallCollection, upserts } from '../helpers/pipeline.js';
import { tempStore } from '../helpers/tmp.js';

describe('gap-aware planning: sequence order is never broken', () => {
  it('a reservation still being written blocks the deltas after it; an abandoned one does not', async () => {
    await using t = await tempStore();
    const config = await smallCollection(t.store);
    const ops = upserts(1, 30, 8);
    await acceptDelta(t.store, config, ops.slice(0, 10)); // seq 1..10
    const inFlight = await allocateSequence(t.store, 'lines', 5); // seq 11..15: a producer mid-write
    await acceptDelta(t.store, config, ops.slice(10, 20)); // seq 16..25

    const ledger = await readLedger(t.store, 'lines');
    const young = await promotableDeltas(t.store, ledger, { inFlightMs: 60_000 });
    expect(young.deltas.map((d) => d.seqStart)).toEqual([1]);
    expect(young.waitingFor).toBe(inFlight);

    // a compaction now promotes only delta 1; the later delta stays pending
    const r = await compactInline(t.store, 'lines', { inFlightMs: 60_000 });
    expect(r.waitingFor).toBe(inFlight);
    expect((await readLedger(t.store, 'lines')).counts).toMatchObject({ promoted: 1, pending: 1 });

    // the producer died: once the reservation is older than the grace, it is skipped
    const old = await promotableDeltas(t.store, await readLedger(t.store, 'lines'), {
      now: Date.now() + 120_000,
      inFlightMs: 60_000,
    });
    expect(old.deltas.map((d) => d.seqStart)).toEqual([16]);
    expect(old.waitingFor).toBeUndefined();
  });

  it('a descriptor the listing missed is found by its key and promoted in order', async () => {
    await using t = await tempStore();
    const config = await smallCollection(t.store);
    await acceptDelta(t.store, config, upserts(2, 5, 8)); // 1..5
    // a descriptor that a listing will not show (written under another name, then looked up by key)
    const seqStart = await allocateSequence(t.store, 'lines', 3);
    const { bytes, header } = encodeDelta(
      { collection: 'lines', dimension: 8, metric: 'cos', producer: 't', seqStart },
      upserts(2, 3, 8, 100),
    );
    const desc = {
      collection: 'lines',
      seqStart,
      seqEnd: header.seqEnd,
      count: 3,
      key: Keys.deltaData('lines', seqStart),
      sha256: sha256Hex(bytes),
      size: bytes.byteLength,
      producer: 't',
      acceptedAt: new Date().toISOString(),
    };
    await t.store.put(desc.key, bytes);
    await writeJson(t.store, Keys.deltaDescriptor('lines', seqStart), desc);
    await acceptDelta(t.store, config, upserts(2, 4, 8, 200)); // 9..12
    const ledger = await readLedger(t.store, 'lines');
    // simulate the listing missing it
    ledger.entries = ledger.entries.filter((e) => e.seqStart !== seqStart);
    const p = await promotableDeltas(t.store, ledger, { inFlightMs: 60_000 });
    expect(p.deltas.map((d) => d.seqStart)).toEqual([1, seqStart, 9]);
    expect(p.recovered).toEqual([seqStart]);
  });
});
