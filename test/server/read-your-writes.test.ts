/**
 * Read-your-writes through the official chromadb client: what `strata serve` acknowledged, its next read
 * sees — before any compaction, across background compactions and swaps (a property test over random
 * interleavings against a model of every acknowledged write), after a SIGKILL and restart of the server, and
 * within the tail's bound (429 with Retry-After past it).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChromaClient, type Collection } from 'chromadb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeLoopbackPort as freePort } from '../../src/core/net.js';
import { listDeltas } from '../../src/pipeline/deltas.js';
import { readLedger } from '../../src/pipeline/ledger.js';
import { compactNow, startTestServer, type TestServer, TOKEN } from './helpers.js';

const DIM = 8;
const vec = (i: number) => Array.from({ length: DIM }, (_, j) => Math.sin(i * 7.1 + j * 1.3));
const client = (port: number) =>
  new ChromaClient({ host: '127.0.0.1', port, headers: { 'x-chroma-token': TOKEN } });
const open = (c: ChromaClient, name: string) => c.getOrCreateCollection({ name, embeddingFunction: null });

type Rec = {
  embedding: number[];
  document: string | null;
  metadata: Record<string, string | number | boolean> | null;
};

/** What every acknowledged write makes of the collection (Strata's own semantics: upsert replaces). */
class Model {
  readonly records = new Map<string, Rec>();
  upsert(id: string, r: Rec) {
    this.records.set(id, r);
  }
  delete(id: string) {
    this.records.delete(id);
  }
  updateMetadata(id: string, patch: Record<string, string | number | boolean>) {
    const cur = this.records.get(id);
    if (!cur) return;
    this.records.set(id, { ...cur, metadata: { ...(cur.metadata ?? {}), ...patch } });
  }
}

async function expectEquals(col: Collection, m: Model): Promise<void> {
  expect(await col.count()).toBe(m.records.size);
  const got = await col.get({ include: ['documents', 'metadatas', 'embeddings'] as never });
  const byId = new Map(got.ids.map((id, i) => [id, i]));
  expect(new Set(got.ids)).toEqual(new Set(m.records.keys()));
  for (const [id, r] of m.records) {
    const i = byId.get(id)!;
    expect(got.documents[i] ?? null, id).toBe(r.document);
    expect(got.metadatas[i] ?? null, id).toEqual(r.metadata);
    expect(Array.from(got.embeddings[i] as number[]), id).toEqual(Array.from(Float32Array.from(r.embedding)));
  }
}

describe('read-your-writes: what the server acknowledged, its next read sees', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('add → query / get / count at once; delete → gone at once; update and upsert → the next read shows them', async () => {
    const col = await open(client(t.port), 'ryw');
    await col.add({
      ids: ['a', 'b'],
      embeddings: [vec(1), vec(2)],
      documents: ['alpha', 'beta'],
      metadatas: [{ n: 1 }, { n: 2 }],
    });
    expect(await col.count()).toBe(2); // no compaction has run: the tail answers
    const q = await col.query({ queryEmbeddings: [vec(2)], nResults: 1 });
    expect(q.ids[0]).toEqual(['b']);
    expect((await col.get({ ids: ['a'] })).documents).toEqual(['alpha']);
    expect((await col.get({ where: { n: 2 } })).ids).toEqual(['b']);

    await col.delete({ ids: ['a'] });
    expect(await col.count()).toBe(1);
    expect((await col.get({ ids: ['a'] })).ids).toEqual([]);

    await col.update({ ids: ['b'], metadatas: [{ n: 3 }] });
    expect((await col.get({ ids: ['b'] })).metadatas).toEqual([{ n: 3 }]);
    await col.upsert({ ids: ['b', 'c'], embeddings: [vec(5), vec(6)], documents: ['b2', 'gamma'] });
    expect((await col.get({ ids: ['b', 'c'], include: ['documents'] as never })).documents).toEqual([
      'b2',
      'gamma',
    ]);
    expect((await col.query({ queryEmbeddings: [vec(5)], nResults: 1 })).ids[0]).toEqual(['b']);

    // compaction publishes it all: the same answers, now from the version, and the tail is empty
    await compactNow(t, 'ryw');
    expect(await col.count()).toBe(2);
    expect((await col.get({ ids: ['b'], include: ['documents'] as never })).documents).toEqual(['b2']);
    expect(t.server.ctx.tails!.get('ryw')!.records).toBe(0);
    const writes = await t.call(
      'POST',
      `/api/v2/tenants/default_tenant/databases/default_database/collections/${col.id}/add`,
      {
        ids: ['d'],
        embeddings: [vec(9)],
      },
    );
    expect(writes.headers.get('x-strata-visibility')).toBe('immediate');
  });

  it('property: random writes, reads and background compactions; every read equals the model of all acknowledged writes', async () => {
    const bg = await startTestServer({ compactEveryMs: 150 });
    try {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.oneof(
              fc.record({
                kind: fc.constant('upsert' as const),
                id: fc.integer({ min: 0, max: 15 }),
                v: fc.integer({ min: 0, max: 1000 }),
              }),
              fc.record({ kind: fc.constant('delete' as const), id: fc.integer({ min: 0, max: 15 }) }),
              fc.record({
                kind: fc.constant('update' as const),
                id: fc.integer({ min: 0, max: 15 }),
                v: fc.integer({ min: 0, max: 9 }),
              }),
              fc.record({ kind: fc.constant('read' as const) }),
              fc.record({ kind: fc.constant('compact' as const) }),
            ),
            { minLength: 5, maxLength: 20 },
          ),
          async (cmds) => {
            const col = await open(client(bg.port), `prop${n++}`);
            const m = new Model();
            let written = false;
            for (const c of cmds) {
              if (c.kind === 'upsert') {
                written = true;
                const r: Rec = { embedding: vec(c.v), document: `d${c.v}`, metadata: { v: c.v } };
                await col.upsert({
                  ids: [`id${c.id}`],
                  embeddings: [r.embedding],
                  documents: [r.document!],
                  metadatas: [r.metadata!],
                });
                m.upsert(`id${c.id}`, r);
              } else if (c.kind === 'delete') {
                await col.delete({ ids: [`id${c.id}`] });
                m.delete(`id${c.id}`);
              } else if (c.kind === 'update') {
                await col.update({ ids: [`id${c.id}`], metadatas: [{ u: c.v }] });
                m.updateMetadata(`id${c.id}`, { u: c.v });
              } else if (c.kind === 'compact') {
                if (written) await compactNow(bg, col.name); // a collection is a Strata collection from its first write
              } else {
                await expectEquals(col, m);
              }
            }
            await expectEquals(col, m);
          },
        ),
        { numRuns: 5, seed: 20261130 },
      );
    } finally {
      await bg.close();
    }
  });

  it('is bounded: past the tail limit writes get 429 with Retry-After until compaction catches up', async () => {
    const small = await startTestServer({ tail: { maxRecords: 10 } });
    try {
      const col = await open(client(small.port), 'bounded');
      await col.add({
        ids: Array.from({ length: 10 }, (_, i) => `x${i}`),
        embeddings: Array.from({ length: 10 }, (_, i) => vec(i)),
      });
      const path = `/api/v2/tenants/default_tenant/databases/default_database/collections/${col.id}/add`;
      const over = await small.call('POST', path, { ids: ['y'], embeddings: [vec(99)] });
      expect(over.status).toBe(429);
      expect(over.headers.get('retry-after')).toBe('1');
      expect(((await over.json()) as { code: string }).code).toBe('E_BACKPRESSURE');
      // an update of an id already in the tail takes no new room
      expect(
        (await small.call('POST', path.replace('/add', '/upsert'), { ids: ['x1'], embeddings: [vec(7)] }))
          .status,
      ).toBe(200);
      await compactNow(small, 'bounded');
      expect((await small.call('POST', path, { ids: ['y'], embeddings: [vec(99)] })).status).toBe(201);
      const status = (await (await small.call('GET', '/strata/v1/status')).json()) as {
        collections: Array<{ collection: string; tail: { records: number } }>;
      };
      expect(status.collections.find((c) => c.collection === 'bounded')?.tail.records).toBe(1);
      const metrics = await (await small.call('GET', '/metrics')).text();
      expect(metrics).toMatch(/strata_tail_records\{collection="bounded"\} 1/);
    } finally {
      await small.close();
    }
  });

  it('a delta compaction quarantines leaves the tail, and the server says so', async () => {
    const q = await startTestServer();
    try {
      const col = await open(client(q.port), 'quar');
      await col.add({ ids: ['ok'], embeddings: [vec(1)] });
      await col.add({ ids: ['doomed'], embeddings: [vec(2)] });
      expect(await col.count()).toBe(2);
      // the second delta's bytes rot after acceptance: compaction refuses it (E_DELTA_CHECKSUM)
      const [, doomed] = await listDeltas(q.store, 'quar');
      const path = q.store.localPath(doomed!.key)!;
      await writeFile(path, Buffer.from('not an arrow file'));
      await compactNow(q, 'quar');
      expect((await readLedger(q.store, 'quar')).counts.quarantined).toBe(1);
      expect(await col.count()).toBe(1);
      expect((await col.get({ ids: ['doomed'] })).ids).toEqual([]);
      const metrics = await (await q.call('GET', '/metrics')).text();
      expect(metrics).toMatch(/strata_tail_quarantined_total\{collection="quar"\} 1/);
    } finally {
      await q.close();
    }
  });
});

describe('read-your-writes survives a crash: a restarted server shows every acknowledged write before its first read', () => {
  it('SIGKILL after acknowledging writes, restart, read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'strata-ryw-crash-'));
    const bin = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));
    const start = async () => {
      const port = await freePort();
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', bin, '--dir', dir, 'serve', '--port', String(port), '--token', TOKEN],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        out += d.toString();
      });
      for (;;) {
        if (out.includes('strata serve:')) break;
        if (child.exitCode !== null) throw new Error(`strata serve exited: ${out}`);
        await once(child.stdout, 'data');
      }
      return { child, port };
    };
    try {
      const a = await start();
      const col = await open(client(a.port), 'crashy');
      const ids = Array.from({ length: 50 }, (_, i) => `r${i}`);
      await col.add({ ids, embeddings: ids.map((_, i) => vec(i)), metadatas: ids.map((_, i) => ({ i })) });
      await col.delete({ ids: ['r7'] });
      await col.update({ ids: ['r8'], metadatas: [{ i: 800 }] });
      a.child.kill('SIGKILL');
      await once(a.child, 'exit');
      expect(await readdir(join(dir, 'objects', 'collections', 'crashy'))).not.toContain('pointer.json'); // nothing published

      const b = await start();
      try {
        const again = await open(client(b.port), 'crashy');
        expect(await again.count()).toBe(49);
        expect((await again.get({ ids: ['r7'] })).ids).toEqual([]);
        expect((await again.get({ ids: ['r8'] })).metadatas).toEqual([{ i: 800 }]);
        expect((await again.query({ queryEmbeddings: [vec(20)], nResults: 1 })).ids[0]).toEqual(['r20']);
      } finally {
        b.child.kill('SIGTERM');
        await once(b.child, 'exit');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
