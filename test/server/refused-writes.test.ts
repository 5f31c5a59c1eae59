/**
 * As a user meets it: random valid and invalid writes through the query server's HTTP
 * API — requests the server refuses (400 or 422) and writes the store fails after their reservation (5xx) — and
 * then the next compaction, with the default 2-minute in-flight grace, must promote every write that was
 * answered 2xx, and nothing that was refused.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compact } from '../../src/pipeline/compact.js';
import { openCurrentVersion } from '../../src/pipeline/current.js';
import { readLedger } from '../../src/pipeline/ledger.js';
import { InlineExecutor } from '../../src/runners/inline.js';
import { StrataServer } from '../../src/server/server.js';
import { LocalStore } from '../../src/store/local-store.js';
import { runCli } from '../helpers/cli.js';
import { ScriptedStore } from '../helpers/scripted-store.js';

const TOKEN = 'refused-writes-token';
const DB = '/api/v2/tenants/default_tenant/databases/default_database';
const DIM = 4;

type Kind = 'valid' | 'lone-surrogate' | 'wrong-dimension' | 'nested-metadata' | 'empty-id';
type StoreFault = 'none' | 'data-error' | 'descriptor-error' | 'descriptor-lost' | 'data-lost';
interface Req {
  kind: Kind;
  n: number;
  fault: StoreFault;
}

const reqArb: fc.Arbitrary<Req> = fc.record({
  kind: fc.constantFrom<Kind>(
    'valid',
    'valid',
    'valid',
    'lone-surrogate',
    'wrong-dimension',
    'nested-metadata',
    'empty-id',
  ),
  n: fc.integer({ min: 1, max: 6 }),
  fault: fc.constantFrom<StoreFault>(
    'none',
    'none',
    'none',
    'data-error',
    'descriptor-error',
    'descriptor-lost',
    'data-lost',
  ),
});

function body(r: Req, prefix: string) {
  const ids = Array.from({ length: r.n }, (_, i) => `${prefix}-${i}`);
  const embeddings = ids.map((_, i) => Array.from({ length: DIM }, (_, d) => (i + 1) * (d + 1)));
  const documents = ids.map((id) => `doc ${id}`);
  const metadatas: Array<Record<string, unknown>> = ids.map(() => ({ k: 1 }));
  const last = r.n - 1;
  if (r.kind === 'lone-surrogate') documents[last] = 'broken \ud800 text';
  if (r.kind === 'wrong-dimension') embeddings[last] = [1, 2];
  if (r.kind === 'nested-metadata') metadatas[last] = { nested: { no: true } };
  if (r.kind === 'empty-id') ids[last] = '';
  return { ids, embeddings, documents, metadatas };
}

async function withServer<T>(
  fn: (s: { url: string; store: LocalStore; scripted: ScriptedStore; dir: string }) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-refused-'));
  const store = await LocalStore.open(dir);
  const scripted = new ScriptedStore(store);
  const server = await StrataServer.start({
    store: scripted,
    port: 0,
    token: TOKEN,
    refreshMs: 60_000,
    writes: { maxDelayMs: 5 },
  });
  try {
    return await fn({ url: `http://127.0.0.1:${server.port}`, store, scripted, dir });
  } finally {
    await server.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const call = (url: string, path: string, b: unknown) =>
  fetch(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(b),
  });

/** Sends the requests in waves (concurrent requests of a wave may share a delta); returns id → answered 2xx. */
async function drive(
  s: { url: string; scripted: ScriptedStore },
  waves: Req[][],
): Promise<{ answered: Map<string, boolean>; statuses: number[] }> {
  const created = await call(s.url, `${DB}/collections`, { name: 'writes' });
  const coll = `${DB}/collections/${((await created.json()) as { id: string }).id}`;
  // the first write gives the collection its dimension
  expect(
    (await call(s.url, `${coll}/upsert`, body({ kind: 'valid', n: 1, fault: 'none' }, 'first'))).status,
  ).toBe(200);
  const answered = new Map<string, boolean>([['first-0', true]]);
  const statuses: number[] = [];
  let k = 0;
  for (const wave of waves) {
    s.scripted.clear();
    for (const r of wave) {
      if (r.fault === 'data-error') s.scripted.failNext(/\/deltas\/\d{16}\.arrow$/, 'error');
      if (r.fault === 'data-lost') s.scripted.failNext(/\/deltas\/\d{16}\.arrow$/, 'lost');
      if (r.fault === 'descriptor-error') s.scripted.failNext(/\/deltas\/\d{16}\.json$/, 'error');
      if (r.fault === 'descriptor-lost') s.scripted.failNext(/\/deltas\/\d{16}\.json$/, 'lost');
    }
    const sent = wave.map((r) => ({ r, prefix: `r${k++}` }));
    const res = await Promise.all(
      sent.map(({ r, prefix }) => call(s.url, `${coll}/upsert`, body(r, prefix))),
    );
    for (const [i, x] of res.entries()) {
      await x.arrayBuffer();
      statuses.push(x.status);
      const { r, prefix } = sent[i]!;
      // 400, or 422 where Chroma cannot deserialize the body either (nested metadata)
      if (r.kind !== 'valid') expect([400, 422]).toContain(x.status);
      // a refused request is refused alone: the valid requests batched with it are accepted
      if (r.kind === 'valid' && wave.every((w) => w.fault === 'none')) expect(x.status).toBe(200);
      for (const id of body(r, prefix).ids) if (id !== '') answered.set(id, x.status === 200);
    }
  }
  s.scripted.clear();
  return { answered, statuses };
}

async function servedIds(store: LocalStore): Promise<Set<string>> {
  await using v = await openCurrentVersion(store, 'writes');
  return new Set(v.ids());
}

describe('refused and failed writes through the server never stall the valid ones', () => {
  it('property: every write answered 2xx is promoted by the next compaction (default grace), no other', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(reqArb, { minLength: 1, maxLength: 4 }), { minLength: 2, maxLength: 6 }),
        (waves) =>
          withServer(async (s) => {
            const { answered } = await drive(s, waves);
            const executor = new InlineExecutor(s.store, { retry: { attempts: 1 } });
            try {
              const report = await compact(s.store, 'writes', { executor, chunkSize: 3, groupSize: 2 });
              expect(report.waitingFor).toBeUndefined();
            } finally {
              await executor.close();
            }
            const ledger = await readLedger(s.store, 'writes');
            expect(ledger.counts.pending).toBe(0);
            const have = await servedIds(s.store);
            for (const [id, ok] of answered) expect([id, have.has(id)]).toEqual([id, ok]);
          }),
      ),
      { numRuns: 6 },
    );
  });

  it('the CLI: `strata compact` right after refused and failed writes publishes every accepted one', async () => {
    await withServer(async (s) => {
      const waves: Req[][] = [
        [
          { kind: 'lone-surrogate', n: 3, fault: 'none' },
          { kind: 'valid', n: 4, fault: 'none' },
        ],
        [{ kind: 'valid', n: 2, fault: 'data-error' }],
        [{ kind: 'valid', n: 2, fault: 'descriptor-error' }],
        [
          { kind: 'valid', n: 5, fault: 'none' },
          { kind: 'wrong-dimension', n: 2, fault: 'none' },
        ],
      ];
      const { answered, statuses } = await drive(s, waves);
      expect(statuses.filter((x) => x >= 500)).toHaveLength(2);
      const r = await runCli(['--dir', s.dir, '--json', 'compact', '-c', 'writes']);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as Array<{ status: string }> | { status: string };
      expect(JSON.stringify(out)).toContain('"published"');
      const have = await servedIds(s.store);
      expect([...answered].filter(([, ok]) => ok).every(([id]) => have.has(id))).toBe(true);
      expect([...answered].filter(([, ok]) => !ok).some(([id]) => have.has(id))).toBe(false);
    });
  });
});
