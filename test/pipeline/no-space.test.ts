/**
 * The store and its scratch directory on a size-limited filesystem (a tmpfs with size=,
 * lab/devservers/small-fs.ts) that fills up. The compaction fails with E_NO_SPACE naming what it was
 * doing, nothing is half-published, the previous version keeps serving (also over HTTP: reads answer,
 * writes get 507), and once space is freed the next run completes. Fails loudly where tmpfs cannot be
 * mounted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmallFs } from '../../lab/devservers/small-fs.js';
import { ErrorCodes, isStrataError, type StrataError } from '../../src/core/errors.js';
import { acceptDelta } from '../../src/pipeline/deltas.js';
import { readLedger } from '../../src/pipeline/ledger.js';
import { readPointer } from '../../src/pipeline/pointer.js';
import { verifyCollection } from '../../src/pipeline/verify.js';
import { StrataServer } from '../../src/server/server.js';
import { LocalStore } from '../../src/store/local-store.js';
import { compactInline, ingestBatches, smallCollection, upserts } from '../helpers/pipeline.js';

let fs: SmallFs;
beforeAll(() => {
  fs = SmallFs.mount(24);
});
afterAll(() => {
  fs?.close();
});

describe('a full disk', () => {
  it('fails the compaction with E_NO_SPACE, keeps the previous version serving, and recovers once space is freed', async () => {
    const store = await LocalStore.open(`${fs.dir}/store`);
    try {
      const config = await smallCollection(store, 'lines', 64);
      await ingestBatches(store, config, upserts(1, 400, 64), 100);
      expect((await compactInline(store, 'lines')).status).toBe('published');
      const before = await readPointer(store, 'lines');
      await ingestBatches(store, config, upserts(2, 3000, 64, 10_000), 500);

      fs.fill(64 << 10);
      const err = (await compactInline(store, 'lines').catch((e: unknown) => e)) as StrataError;
      expect(isStrataError(err, ErrorCodes.NO_SPACE), String(err)).toBe(true);
      expect(err.message).toMatch(/no space left on the device while (building|merging|writing|storing)/);
      // nothing half-published: the pointer did not move and the old version verifies and opens
      expect((await readPointer(store, 'lines'))?.value).toEqual(before?.value);
      const v = await verifyCollection(store, 'lines');
      expect(v.problems).toEqual([]);
      expect(v.version).toBe(before?.value.version);

      // a write on the full disk is refused with the same code, and holds up nobody afterwards
      const w = await acceptDelta(store, config, upserts(3, 2000, 64, 50_000)).catch((e: unknown) => e);
      expect(isStrataError(w, ErrorCodes.NO_SPACE), String(w)).toBe(true);

      // reads over HTTP go on from the open version with the acknowledged writes on top (read-your-writes:
      // the 3,000 accepted before the disk filled); writes answer 507 E_NO_SPACE
      const server = await StrataServer.start({ store, port: 0, token: 't', refreshMs: 60_000 });
      try {
        const base = `http://127.0.0.1:${server.port}/api/v2/tenants/default_tenant/databases/default_database/collections`;
        const headers = { authorization: 'Bearer t', 'content-type': 'application/json' };
        const id = ((await (await fetch(`${base}/lines`, { headers })).json()) as { id: string }).id;
        const count = await fetch(`${base}/${id}/count`, { headers });
        expect(count.status).toBe(200);
        expect(await count.json()).toBe(3400);
        const q = await fetch(`${base}/${id}/query`, {
          method: 'POST',
          headers,
          body: JSON.stringify({
            query_embeddings: [Array.from({ length: 64 }, (_, i) => i % 7)],
            n_results: 3,
          }),
        });
        expect(q.status).toBe(200);
        const big = Array.from({ length: 3000 }, (_, i) => `w-${i}`);
        const put = await fetch(`${base}/${id}/upsert`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ ids: big, embeddings: big.map(() => Array.from({ length: 64 }, () => 1)) }),
        });
        expect(put.status).toBe(507);
        expect(((await put.json()) as { code: string }).code).toBe(ErrorCodes.NO_SPACE);
      } finally {
        await server.close();
      }

      fs.unfill();
      const r = await compactInline(store, 'lines', { inFlightMs: 0 });
      expect(r.status).toBe('published');
      expect((await verifyCollection(store, 'lines')).ok).toBe(true);
      expect((await readLedger(store, 'lines')).counts.pending).toBe(0);
    } finally {
      await store.close();
    }
  });
});
