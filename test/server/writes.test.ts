/** Writes become deltas: concurrent requests share one delta, each answered once it is durably accepted. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, isStrataError, StoreError } from '../../src/core/errors.js';
import { listDeltas } from '../../src/pipeline/deltas.js';
import { readLedger } from '../../src/pipeline/ledger.js';
import { DeltaWriter } from '../../src/server/delta-writer.js';
import { toHttpError } from '../../src/server/http-errors.js';
import { startTestServer, type TestServer } from './helpers.js';

const DB = '/api/v2/tenants/default_tenant/databases/default_database';

describe('the delta writer behind the API', () => {
  let t: TestServer;
  let coll: string;
  beforeAll(async () => {
    t = await startTestServer({ writes: { maxDelayMs: 200, maxOps: 1_000, maxQueuedOps: 1_500 } });
    const res = await t.call('POST', `${DB}/collections`, { name: 'batched' });
    coll = `${DB}/collections/${((await res.json()) as { id: string }).id}`;
  });
  afterAll(async () => {
    await t?.close();
  });

  const records = (prefix: string, n: number) => ({
    ids: Array.from({ length: n }, (_, i) => `${prefix}-${i}`),
    embeddings: Array.from({ length: n }, (_, i) => [i, 1, 2, 3]),
  });

  it('batches concurrent requests into one delta, pending in the ledger until compaction', async () => {
    const responses = await Promise.all(
      Array.from({ length: 5 }, (_, r) => t.call('POST', `${coll}/upsert`, records(`r${r}`, 10))),
    );
    for (const res of responses) expect(res.status).toBe(200);
    const ranges = new Set(responses.map((r) => r.headers.get('x-strata-delta')));
    expect(ranges.size).toBe(1); // one delta for all five requests
    const deltas = await listDeltas(t.store, 'batched');
    expect(deltas).toHaveLength(1);
    expect(deltas[0]).toMatchObject({ count: 50, source: 'chroma-api' });
    expect((await readLedger(t.store, 'batched')).counts.pending).toBe(1);
  });

  it('refuses work beyond the queue bound (E_BACKPRESSURE → 429), then accepts it again', async () => {
    const config = t.server.ctx.catalog.byStrata('batched')!.config!;
    const writer = new DeltaWriter(t.store, { maxDelayMs: 60_000, maxOps: 100, maxQueuedOps: 10 });
    const op = (id: string) => ({ op: 'delete' as const, id });
    const first = writer.write(config, [
      op('a'),
      op('b'),
      op('c'),
      op('d'),
      op('e'),
      op('f'),
      op('g'),
      op('h'),
    ]);
    let refused: unknown;
    await writer.write(config, [op('x'), op('y'), op('z')]).catch((e: unknown) => {
      refused = e;
    });
    expect(isStrataError(refused, ErrorCodes.BACKPRESSURE)).toBe(true);
    expect(toHttpError(refused)).toMatchObject({ status: 429, body: { error: 'RateLimitError' } });
    // the store unreachable after its retries: 503 (retry later), not 500; a permanent store error stays 500
    const down = new StoreError('get failed: connect ECONNREFUSED', { key: 'k' }, { transient: true });
    expect(toHttpError(down)).toMatchObject({ status: 503, body: { code: ErrorCodes.STORE_IO } });
    expect(toHttpError(new StoreError('get failed: access denied', { key: 'k' }))).toMatchObject({
      status: 500,
    });
    await writer.close(); // flushes the queued batch
    expect((await first).count).toBe(8);
    await expect(writer.write(config, [op('late')])).rejects.toThrow(/shutting down/);
  });
});
