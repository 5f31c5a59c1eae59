/** Safe by default: loopback bind, token auth, body limits, validation with clear 400s, no path escapes. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OwnedProcess } from '../../src/core/child-process.js';
import { startTestServer, type TestServer, TOKEN } from './helpers.js';

const DB = '/api/v2/tenants/default_tenant/databases/default_database';

describe('request validation and auth', () => {
  let t: TestServer;
  let coll: string;
  beforeAll(async () => {
    t = await startTestServer({ bodyLimit: 1 << 20, maxBatchSize: 100 });
    const res = await t.call('POST', `${DB}/collections`, {
      name: 'sec',
      configuration: { hnsw: { space: 'l2' } },
    });
    coll = `${DB}/collections/${((await res.json()) as { id: string }).id}`;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('binds to loopback by default', () => {
    expect(t.server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('refuses writes without the right token (401), with {error, message} bodies', async () => {
    const body = { ids: ['a'], embeddings: [[1, 2]] };
    const none = await t.call('POST', `${coll}/add`, body, { authorization: '' });
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ error: 'AuthenticationError', code: 'E_UNAUTHORIZED' });
    const wrong = await t.call('POST', `${coll}/add`, body, { authorization: 'Bearer nope' });
    expect(wrong.status).toBe(401);
    const chromaHeader = await t.call('POST', `${coll}/add`, body, {
      authorization: '',
      'x-chroma-token': TOKEN,
    });
    expect(chromaHeader.status).toBe(201);
  });

  it('answers malformed input with coded 400s (422 where Chroma cannot deserialize the body)', async () => {
    const cases: Array<[string, unknown, number, RegExp]> = [
      [
        'add',
        {
          ids: ['a', 'a'],
          embeddings: [
            [1, 2],
            [1, 2],
          ],
        },
        400,
        /appears twice/,
      ],
      ['add', { ids: ['b'], embeddings: [[1, 2, 3]] }, 400, /dimension of 2, got 3/],
      ['add', { ids: ['b'], embeddings: ['not base64!'] }, 400, /base64/],
      ['add', { ids: ['b'], embeddings: [[1, 'x']] }, 422, /embeddings\[0\]\[1\]/],
      ['add', { ids: ['b'] }, 422, /missing field `embeddings`/],
      ['add', { ids: ['b'], embeddings: [[1, 2]], metadatas: [{ k: { nested: 1 } }] }, 422, /MetadataValue/],
      ['add', { ids: ['b\u0000'], embeddings: [[1, 2]] }, 400, /control character/],
      ['add', { ids: Array.from({ length: 101 }, (_, i) => `i${i}`), embeddings: [] }, 400, /max_batch_size/],
      ['add', { ids: ['b'], embeddings: [[1, 2]], uris: ['s3://x'] }, 400, /uris/],
      ['query', { query_embeddings: [[1, 2]], n_results: -1 }, 422, /n_results/],
      ['query', { query_embeddings: [[1, 2]], where: { a: { $gt: 'x' } } }, 400, /Invalid where clause/],
      ['query', { query_embeddings: [[1, 2]], where_document: { $regex: '(' } }, 400, /regular expression/],
      ['get', { include: ['nope'] }, 422, /include/],
      ['get', { limit: -1 }, 422, /limit/],
      ['delete', { ids: [] }, 400, /Either ids or where/],
    ];
    for (const [op, body, status, message] of cases) {
      const res = await t.call('POST', `${coll}/${op}`, body);
      const json = (await res.json()) as { error: string; message: string; code: string };
      expect(res.status, `${op} ${JSON.stringify(body).slice(0, 80)}`).toBe(status);
      expect(json.error).toBe(status === 422 ? 'ChromaError' : 'InvalidArgumentError');
      expect(json.code).toMatch(/^E_/);
      expect(json.message).toMatch(message);
    }
    const badJson = await fetch(`${t.url}${coll}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"x":',
    });
    expect(badJson.status).toBe(400);
  });

  it('refuses bodies over the limit (413)', async () => {
    const res = await t.call('POST', `${coll}/add`, {
      ids: ['big'],
      embeddings: [[1, 2]],
      documents: ['x'.repeat(2 << 20)],
    });
    expect(res.status).toBe(413);
  });

  it('refuses tenant, database and collection names that could escape their prefix', async () => {
    for (const path of [
      '/api/v2/tenants/..%2F..%2Fetc/databases/default_database/collections',
      '/api/v2/tenants/default_tenant/databases/a.b/collections',
      '/api/v2/tenants/x%00y/databases/default_database/collections',
    ]) {
      const res = await t.call('GET', path);
      expect(res.status, path).toBe(400);
    }
    for (const name of ['../escape', 'a/b', '..', 'x', `a${'b'.repeat(512)}`, 'sp ace']) {
      const res = await t.call('POST', `${DB}/collections`, { name });
      expect(res.status, name).toBe(400);
    }
    const notFound = await t.call('GET', `${DB}/collections/..%2F..%2Fpointer.json`);
    expect(notFound.status).toBe(404);
    // Every key the server wrote is under its collection's or the pending-collection prefix.
    for (const o of await t.store.list(''))
      expect(o.key).toMatch(/^(collections\/sec\/|serve\/chroma\/pending\/)/);
  });

  it('serves tenants and databases other than the defaults under their own prefix', async () => {
    // a database must exist first, as in Chroma
    expect(
      (await t.call('POST', '/api/v2/tenants/acme/databases/prod/collections', { name: 'items' })).status,
    ).toBe(400);
    expect((await t.call('POST', '/api/v2/tenants', { name: 'acme' })).status).toBe(200);
    expect((await t.call('POST', '/api/v2/tenants/acme/databases', { name: 'prod' })).status).toBe(200);
    const res = await t.call('POST', '/api/v2/tenants/acme/databases/prod/collections', { name: 'items' });
    expect(res.status).toBe(200);
    const { id } = (await res.json()) as { id: string };
    const add = await t.call('POST', `/api/v2/tenants/acme/databases/prod/collections/${id}/add`, {
      ids: ['a'],
      embeddings: [[1, 2, 3]],
    });
    expect(add.status).toBe(201);
    expect(t.server.ctx.catalog.byStrata('acme.prod.items')?.config?.dimension).toBe(3);
    // Not visible from another tenant or database.
    expect((await t.call('GET', `/api/v2/tenants/acme/databases/other/collections/${id}`)).status).toBe(404);
    expect((await t.call('GET', `${DB}/collections/items`)).status).toBe(404);
  });

  it('serves operator endpoints', async () => {
    const status = (await (await t.call('GET', '/strata/v1/status')).json()) as {
      collections: Array<{ collection: string; ledger: { pending: number } | null }>;
    };
    expect(status.collections.find((c) => c.collection === 'sec')?.ledger?.pending).toBeGreaterThan(0);
    const snaps = await t.call('GET', '/strata/v1/snapshots');
    expect(snaps.status).toBe(200);
    expect((await t.call('GET', '/strata/v1/runs/r20200101T000000Z-abcdef')).status).toBe(404);
    expect((await t.call('GET', '/strata/v1/runs/..%2Fx')).status).toBe(400);
  });
});

describe('read auth', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ authReads: true });
  });
  afterAll(async () => {
    await t?.close();
  });
  it('requires the token for reads when configured, never for heartbeat', async () => {
    expect((await t.call('GET', `${DB}/collections`, undefined, { authorization: '' })).status).toBe(401);
    expect((await t.call('GET', '/metrics', undefined, { authorization: '' })).status).toBe(401);
    expect((await t.call('GET', `${DB}/collections`)).status).toBe(200);
    expect((await t.call('GET', '/api/v2/heartbeat', undefined, { authorization: '' })).status).toBe(200);
  });
});

describe('without a token', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ token: undefined });
  });
  afterAll(async () => {
    await t?.close();
  });
  it('refuses every write (403) and serves reads', async () => {
    const res = await t.call('POST', `${DB}/collections`, { name: 'nope' });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { message: string }).message).toMatch(/--token/);
    expect((await t.call('GET', `${DB}/collections`)).status).toBe(200);
  });
});

describe('strata serve (the CLI process)', () => {
  it('starts on a free port, answers, and exits cleanly on SIGTERM', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'strata-cli-serve-'));
    const bin = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));
    const proc = new OwnedProcess(
      'strata serve',
      process.execPath,
      ['--import', 'tsx', bin, '--dir', dir, '--json', '-q', 'serve', '--port', '0'],
      { env: { ...process.env, STRATA_TOKEN: 't0k3n' } },
    );
    try {
      const listening = await proc.waitForOutput(/"url":\s*"(http:\/\/127\.0\.0\.1:\d+)"/, 100_000);
      if (!listening.ok) {
        throw new Error(`strata serve ${listening.reason} before listening: ${proc.output}`);
      }
      const url = listening.match[1]!;
      const hb = await fetch(`${url}/api/v2/heartbeat`);
      expect(hb.status).toBe(200);
      const create = await fetch(`${url}${DB}/collections`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-chroma-token': 't0k3n' },
        body: JSON.stringify({ name: 'cli' }),
      });
      expect(create.status).toBe(200);
      // SIGTERM; SIGKILL only if it has not exited long after (which would fail the assertion)
      expect((await proc.stop(60_000)).code).toBe(0);
    } finally {
      await proc.stop(0);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
