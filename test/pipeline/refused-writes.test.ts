/**
 * A write refused or failed after its sequence reservation never holds up later deltas.
 * Invalid operations are refused before anything is reserved; a reservation whose write failed is closed
 * at once with a tombstone at its descriptor key, which the planner trusts (no descriptor can ever appear
 * behind it), so the next compaction promotes everything after it with the default 2-minute grace.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes, isStrataError, PreconditionFailedError } from '../../src/core/errors.js';
import { acceptDelta, listDeltas } from '../../src/pipeline/deltas.js';
import { readJson, writeJson } from '../../src/pipeline/json-object.js';
import { Keys } from '../../src/pipeline/layout.js';
import { readLedger } from '../../src/pipeline/ledger.js';
import { promotableDeltas } from '../../src/pipeline/promotable.js';
import { readCounter } from '../../src/pipeline/sequence.js';
import { compactInline, smallCollection, upserts } from '../helpers/pipeline.js';
import { ScriptedStore } from '../helpers/scripted-store.js';
import { tempStore } from '../helpers/tmp.js';

const DATA = /\/deltas\/\d{16}\.arrow$/;
const DESCRIPTOR = /\/deltas\/\d{16}\.json$/;

describe('refused writes never stall later deltas', () => {
  it('an invalid operation is refused before a sequence number is reserved', async () => {
    await using t = await tempStore();
    const config = await smallCollection(t.store);
    await acceptDelta(t.store, config, upserts(1, 3, 8));
    const before = await readCounter(t.store, 'lines');
    const bad = [
      ...upserts(2, 2, 8, 10),
      { op: 'upsert' as const, id: 'lone', embedding: new Float32Array(8).fill(1), document: 'x\ud800y' },
    ];
    const e = await acceptDelta(t.store, config, bad).catch((x: unknown) => x);
    expect(isStrataError(e, ErrorCodes.BAD_RECORD)).toBe(true);
    const wrongDim = [{ op: 'upsert' as const, id: 'w', embedding: new Float32Array(3) }];
    const e2 = await acceptDelta(t.store, config, wrongDim).catch((x: unknown) => x);
    expect(isStrataError(e2, ErrorCodes.DIMENSION_MISMATCH)).toBe(true);
    expect((await readCounter(t.store, 'lines')).next).toBe(before.next);
  });

  it.each([
    ['the data put', DATA],
    ['the descriptor put', DESCRIPTOR],
  ])(
    'a failed %s leaves a tombstone; the next compaction promotes what came after at once',
    async (_, pattern) => {
      await using t = await tempStore();
      const store = new ScriptedStore(t.store);
      const config = await smallCollection(store);
      await acceptDelta(store, config, upserts(1, 4, 8)); // 1..4
      store.failNext(pattern, 'error');
      const failed = await acceptDelta(store, config, upserts(2, 5, 8, 100)).catch((x: unknown) => x);
      expect(isStrataError(failed, ErrorCodes.STORE_IO)).toBe(true);
      const after = await acceptDelta(store, config, upserts(3, 6, 8, 200)); // 10..15
      expect(after.seqStart).toBe(10);

      const tomb = await readJson<{ abandoned?: { code: string } }>(
        t.store,
        Keys.deltaDescriptor('lines', 5),
      );
      expect(tomb?.value.abandoned?.code).toBe(ErrorCodes.STORE_IO);
      expect(await t.store.head(Keys.deltaData('lines', 5))).toBeUndefined();
      expect((await listDeltas(t.store, 'lines')).map((d) => d.seqStart)).toEqual([1, 10]);

      // the default in-flight grace (2 min): nothing waits for the abandoned range
      const p = await promotableDeltas(t.store, await readLedger(t.store, 'lines'));
      expect(p.waitingFor).toBeUndefined();
      expect(p.abandoned).toEqual([5]);
      const r = await compactInline(t.store, 'lines');
      expect(r.status).toBe('published');
      expect((await readLedger(t.store, 'lines')).counts).toMatchObject({ promoted: 2, pending: 0 });

      // the tombstone is final: a late descriptor for that range can never be written
      await expect(
        writeJson(t.store, Keys.deltaDescriptor('lines', 5), { late: true }, { ifNoneMatch: '*' }),
      ).rejects.toBeInstanceOf(PreconditionFailedError);
    },
  );

  it('a descriptor put whose answer was lost is found behind the tombstone attempt: the delta is accepted', async () => {
    await using t = await tempStore();
    const store = new ScriptedStore(t.store);
    const config = await smallCollection(store);
    store.failNext(DESCRIPTOR, 'lost');
    const d = await acceptDelta(store, config, upserts(1, 4, 8));
    expect(store.fired).toBe(1);
    expect(d.seqStart).toBe(1);
    expect((await listDeltas(t.store, 'lines')).map((x) => x.seqStart)).toEqual([1]);
    expect((await compactInline(t.store, 'lines')).status).toBe('published');
  });

  it('a tombstone that cannot be written leaves the in-flight grace as the fallback', async () => {
    await using t = await tempStore();
    const store = new ScriptedStore(t.store);
    const config = await smallCollection(store);
    store.failNext(DATA, 'error');
    for (let i = 0; i < 4; i++) store.failNext(DESCRIPTOR, 'error');
    await expect(acceptDelta(store, config, upserts(1, 2, 8))).rejects.toThrow(/scripted put failure/);
    store.clear();
    await acceptDelta(store, config, upserts(2, 2, 8, 50)); // 3..4
    const young = await promotableDeltas(t.store, await readLedger(t.store, 'lines'));
    expect(young.waitingFor).toBe(1);
    const old = await promotableDeltas(t.store, await readLedger(t.store, 'lines'), {
      now: Date.now() + 3 * 60_000,
    });
    expect(old.deltas.map((x) => x.seqStart)).toEqual([3]);
  });

  it('a producer slower than the grace is closed out by the planner, and told so: nothing applied out of order', async () => {
    await using t = await tempStore();
    const store = new ScriptedStore(t.store);
    const config = await smallCollection(store);
    await acceptDelta(store, config, upserts(1, 3, 8)); // 1..3
    const gate = store.gate(DESCRIPTOR);
    const slow = acceptDelta(store, config, upserts(2, 4, 8, 100)).catch((x: unknown) => x); // 4..7
    await gate.reached; // its data is written, its descriptor not yet
    await acceptDelta(t.store, config, upserts(3, 2, 8, 200)); // 8..9
    // a planner whose clock says the reservation is 3 minutes old (or a producer whose clock ran behind)
    const p = await promotableDeltas(t.store, await readLedger(t.store, 'lines'), {
      now: Date.now() + 3 * 60_000,
    });
    expect(p.abandoned).toEqual([4]);
    expect(p.deltas.map((d) => d.seqStart)).toEqual([1, 8]);
    expect(await t.store.head(Keys.deltaData('lines', 4))).toBeUndefined();
    gate.open();
    expect(isStrataError(await slow, ErrorCodes.RESERVATION_ABANDONED)).toBe(true);
    expect((await listDeltas(t.store, 'lines')).map((d) => d.seqStart)).toEqual([1, 8]);
  });
});
