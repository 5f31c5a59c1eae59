/**
 * S3Store against a real s3rver (child process on a free loopback port): the conformance suite without
 * the precondition/race tests (s3rver ignores If-None-Match and If-Match; those run against Ceph in
 * ceph.test.ts), plus what is specific to S3: recorded SHA-256 checked on every read, multipart with
 * abort, retries of transient errors, permanent errors with bucket and key, pagination, spec parsing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { S3TestServer } from '../../lab/devservers/s3-server.js';
import {
  ClosedError,
  ErrorCodes,
  IntegrityError,
  NotFoundError,
  StoreError,
  UsageError,
} from '../../src/core/errors.js';
import { openStore } from '../../src/store/open.js';
import { resolveS3Options, withS3Endpoint } from '../../src/store/s3/config.js';
import { S3Store } from '../../src/store/s3-store.js';
import { generateRecords } from '../../src/workload/synthetic.js';
import { runCli } from '../helpers/cli.js';
import { type FaultyProxy, startFaultyProxy } from '../servers/faulty-proxy.js';
import { startS3rver } from '../servers/s3rver.js';
import { storeConformance } from './conformance.js';
import { emptyAndClose, s3Fixture, s3Store } from './s3-fixture.js';

let server: S3TestServer;
beforeAll(async () => {
  server = await startS3rver();
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

storeConformance(
  'S3Store on s3rver',
  s3Fixture(() => server),
  { preconditions: false },
);

const sha = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

describe('S3Store on s3rver: specifics', () => {
  let store: S3Store;
  let raw: S3Client;
  let scratch: string;
  beforeEach(async () => {
    store = s3Store(server, { partSize: 5 << 20, partConcurrency: 3 });
    raw = new S3Client({ ...server.storeOptions(''), maxAttempts: 1 });
    scratch = await mkdtemp(join(tmpdir(), 'strata-s3-'));
  });
  afterEach(async () => {
    await emptyAndClose(store);
    raw.destroy();
    await rm(scratch, { recursive: true, force: true });
  });

  const rawPut = (key: string, body: string, sha256?: string) =>
    raw.send(
      new PutObjectCommand({
        Bucket: server.bucket,
        Key: `${store.prefix}/${key}`,
        Body: body,
        ...(sha256 ? { Metadata: { sha256 } } : {}),
      }),
    );

  it('records the SHA-256 with the object, as x-amz-meta-sha256', async () => {
    const info = await store.put('a', 'hello');
    expect(info.sha256).toBe(sha('hello'));
    expect((await store.head('a'))?.sha256).toBe(sha('hello'));
    const res = await raw.send(new HeadObjectCommand({ Bucket: server.bucket, Key: `${store.prefix}/a` }));
    expect(res.Metadata?.sha256).toBe(sha('hello'));
  });

  it('a body that does not match its recorded SHA-256 is refused on every read path, never returned', async () => {
    await rawPut('bad', 'tampered bytes', sha('original bytes'));
    for (const read of [() => store.get('bad'), () => store.getObject('bad')]) {
      const e = await read().catch((err: unknown) => err);
      expect(e).toBeInstanceOf(IntegrityError);
      expect((e as IntegrityError).code).toBe(ErrorCodes.STORE_INTEGRITY);
      expect((e as IntegrityError).context).toMatchObject({ key: 'bad', bucket: server.bucket });
    }
    const out = join(scratch, 'out.bin');
    await expect(store.getToFile('bad', out)).rejects.toBeInstanceOf(IntegrityError);
    expect(existsSync(out)).toBe(false);
    expect(await readdir(scratch)).toEqual([]); // no temp file left behind
  });

  it('an object without a recorded SHA-256 is refused too (not written by Strata)', async () => {
    await rawPut('foreign', 'no checksum here');
    await expect(store.get('foreign')).rejects.toMatchObject({ code: ErrorCodes.STORE_INTEGRITY });
  });

  it('refuses a body whose SHA-256 differs from the one given, single and multipart; nothing stored', async () => {
    await expect(store.put('x', 'abc', { sha256: '0'.repeat(64) })).rejects.toBeInstanceOf(IntegrityError);
    const src = join(scratch, 'big');
    await writeFile(src, randomBytes(12 << 20));
    await expect(store.putFile('y', src, { sha256: '1'.repeat(64) })).rejects.toBeInstanceOf(IntegrityError);
    expect(await store.head('x')).toBeUndefined();
    expect(await store.head('y')).toBeUndefined();
    expect(existsSync(src)).toBe(true);
  });

  it('multipart: 40 MB in 5 MiB parts, 3 in flight; round trip intact, consume removes the source', async () => {
    const data = randomBytes(40 << 20);
    const src = join(scratch, 'big.bin');
    await writeFile(src, data);
    const info = await store.putFile('big/file', src, { consume: true, sha256: sha(data) });
    expect(info).toMatchObject({ size: data.length, sha256: sha(data) });
    expect(info.etag).toBeTruthy();
    expect(existsSync(src)).toBe(false);
    const head = await store.head('big/file');
    expect(head).toMatchObject({ size: data.length, etag: info.etag, sha256: sha(data) });
    const out = join(scratch, 'back.bin');
    expect(await store.getToFile('big/file', out)).toMatchObject({ size: data.length, etag: info.etag });
    expect(sha(await readFile(out))).toBe(sha(data));
  });

  it('list paginates and stays sorted', async () => {
    const paged = s3Store(server, { listPageSize: 7 }, store.prefix);
    try {
      const keys = Array.from({ length: 25 }, (_, i) => `p/${String((i * 7) % 25).padStart(2, '0')}`);
      await Promise.all(keys.map((k) => store.put(k, k)));
      const listed = await paged.list('p/');
      expect(listed.map((o) => o.key)).toEqual([...keys].sort());
    } finally {
      await paged.close();
    }
  });

  it('close destroys the client; later calls throw ClosedError', async () => {
    const s = s3Store(server);
    await s.close();
    await s.close();
    await expect(s.get('k')).rejects.toBeInstanceOf(ClosedError);
    await expect(s.list('')).rejects.toBeInstanceOf(ClosedError);
  });

  it('a missing bucket is a permanent StoreError naming bucket and key', async () => {
    const s = new S3Store({ ...server.storeOptions('x'), bucket: 'no-such-bucket' });
    try {
      const e = await s.put('k', 'v').catch((err: unknown) => err);
      expect(e).toBeInstanceOf(StoreError);
      expect((e as StoreError).transient).toBe(false);
      expect((e as StoreError).context).toMatchObject({ bucket: 'no-such-bucket', key: 'k', status: 404 });
    } finally {
      await s.close();
    }
  });
});

describe('S3Store on s3rver: transient faults (through a fault-injecting proxy)', () => {
  let proxy: FaultyProxy;
  let store: S3Store;
  let scratch: string;
  beforeEach(async () => {
    proxy = await startFaultyProxy(server.endpoint);
    store = new S3Store({
      ...server.storeOptions(`f-${randomBytes(6).toString('hex')}`),
      endpoint: proxy.endpoint,
      partSize: 5 << 20,
      partConcurrency: 2,
      retry: { attempts: 4, baseMs: 5, maxMs: 20 },
    });
    scratch = await mkdtemp(join(tmpdir(), 'strata-s3f-'));
  });
  afterEach(async () => {
    proxy.setRule(() => 'pass');
    await emptyAndClose(store);
    await proxy.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it('retries 503 SlowDown, 500 and connection resets, then succeeds', async () => {
    const faults: Array<'reset' | { status: number; code: string }> = [
      { status: 503, code: 'SlowDown' },
      'reset',
      { status: 500, code: 'InternalError' },
    ];
    let i = 0;
    proxy.setRule(() => (i < faults.length ? faults[i++]! : 'pass'));
    await store.put('k', 'value');
    i = 0;
    expect(Buffer.from(await store.get('k')).toString()).toBe('value');
    expect(proxy.seen.length).toBe(8);
  });

  it('gives up after the bounded attempts with a transient StoreError', async () => {
    proxy.setRule(() => ({ status: 503, code: 'SlowDown' }));
    const e = await store.put('k', 'v').catch((err: unknown) => err);
    expect(e).toBeInstanceOf(StoreError);
    expect((e as StoreError).transient).toBe(true);
    expect((e as StoreError).context).toMatchObject({
      key: 'k',
      bucket: server.bucket,
      status: 503,
      s3Code: 'SlowDown',
    });
    expect(proxy.seen.length).toBe(4);
  });

  it('a server that stops answering times out (idle socket) and is retried', async () => {
    const impatient = new S3Store({
      ...server.storeOptions(store.prefix),
      endpoint: proxy.endpoint,
      idleTimeoutMs: 300,
      retry: { attempts: 3, baseMs: 5, maxMs: 20 },
    });
    try {
      proxy.setRule((r) => (r.n <= 2 ? 'hang' : 'pass'));
      await impatient.put('slow', 'eventually');
      expect(proxy.seen.length).toBe(3);
      proxy.setRule(() => 'hang');
      const e = await impatient.head('slow').catch((err: unknown) => err);
      expect(e).toBeInstanceOf(StoreError);
      expect((e as StoreError).transient).toBe(true);
      expect((e as StoreError).context).toMatchObject({ key: 'slow', bucket: server.bucket });
    } finally {
      await impatient.close();
    }
  });

  it('a permanent error (403) is not retried', async () => {
    proxy.setRule(() => ({ status: 403, code: 'AccessDenied' }));
    const e = await store.get('k').catch((err: unknown) => err);
    expect(e).toBeInstanceOf(StoreError);
    expect((e as StoreError).transient).toBe(false);
    expect(proxy.seen.length).toBe(1);
  });

  it('a part that keeps failing aborts the multipart upload: no object, no upload left', async () => {
    const src = join(scratch, 'big.bin');
    await writeFile(src, randomBytes(16 << 20));
    proxy.setRule((r) =>
      r.method === 'PUT' && /partNumber=3/.test(r.url) ? { status: 400, code: 'InvalidPart' } : 'pass',
    );
    await expect(store.putFile('big', src)).rejects.toBeInstanceOf(StoreError);
    expect(proxy.seen.some((r) => r.method === 'DELETE' && /uploadId=/.test(r.url))).toBe(true);
    proxy.setRule(() => 'pass');
    expect(await store.head('big')).toBeUndefined();
    await expect(store.get('big')).rejects.toBeInstanceOf(NotFoundError);
    // (s3rver cannot list multipart uploads; ceph.test.ts checks that none is left)
  });

  it('a connection refused is transient and bounded', async () => {
    await proxy.close();
    const e = await store.head('k').catch((err: unknown) => err);
    expect(e).toBeInstanceOf(StoreError);
    expect((e as StoreError).transient).toBe(true);
    proxy = await startFaultyProxy(server.endpoint); // for afterEach
    await store.close();
    store = s3Store(server);
  });
});

describe('s3:// specs', () => {
  it('parses bucket, prefix and options; env supplies credentials; overrides win', () => {
    const o = resolveS3Options(
      's3://my-bucket/a/b/?endpoint=http://127.0.0.1:9000/&region=eu-west-1&ifMatchQuoting=unquoted&partSizeMiB=8',
      { region: 'us-west-2' },
      {
        STRATA_S3_ACCESS_KEY_ID: 'id',
        STRATA_S3_SECRET_ACCESS_KEY: 'secret',
        STRATA_S3_FORCE_PATH_STYLE: '0',
      },
    );
    expect(o).toMatchObject({
      bucket: 'my-bucket',
      prefix: 'a/b',
      endpoint: 'http://127.0.0.1:9000',
      region: 'us-west-2',
      forcePathStyle: false,
      ifMatchQuoting: 'unquoted',
      partSize: 8 << 20,
      credentials: { accessKeyId: 'id', secretAccessKey: 'secret' },
    });
    expect(resolveS3Options('s3://bkt', {}, { STRATA_S3_IFMATCH_UNQUOTED: '1' })).toMatchObject({
      bucket: 'bkt',
      prefix: '',
      ifMatchQuoting: 'unquoted',
    });
    expect(resolveS3Options('s3://bkt/p', {}, {}).ifMatchQuoting).toBeUndefined();
    expect(withS3Endpoint('s3://bkt/p?region=x', 'http://h:1')).toBe(
      's3://bkt/p?region=x&endpoint=http%3A%2F%2Fh%3A1',
    );
  });

  it('refuses bad specs with UsageError', () => {
    for (const bad of [
      's3://',
      's3://b/p',
      's3://bkt/p?nope=1',
      's3://bkt/p?endpoint=ftp://x',
      's3://bkt/p?endpoint=http://u:p@h',
      's3://bkt/a/../c',
      's3://bkt/p?ifMatchQuoting=maybe',
    ]) {
      expect(() => resolveS3Options(bad, {}, {}), bad).toThrow(UsageError);
    }
    expect(() => resolveS3Options('s3://bkt/p', {}, { STRATA_S3_ACCESS_KEY_ID: 'only-id' })).toThrow(
      UsageError,
    );
  });

  it('openStore opens an S3Store that reaches the server (worker processes do the same)', async () => {
    const prefix = `spec-${randomBytes(4).toString('hex')}`;
    const saved = { ...process.env };
    Object.assign(process.env, server.env());
    try {
      const s = await openStore(server.storeSpec(prefix));
      try {
        expect(s.kind).toBe('s3');
        expect(s.url).toBe(`s3://${server.bucket}/${prefix}`);
        await s.put('k', 'via spec');
        expect(Buffer.from(await s.get('k')).toString()).toBe('via spec');
        await s.delete('k');
      } finally {
        await s.close();
      }
    } finally {
      for (const k of Object.keys(server.env())) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });
});

describe('strata CLI on an S3 store (--store s3://… --s3-endpoint …)', () => {
  it('ingest → compact in worker processes → status → verify → query, all through s3rver', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'strata-s3cli-'));
    const prefix = `cli-${randomBytes(4).toString('hex')}`;
    const store = `s3://${server.bucket}/${prefix}`;
    const env = server.env();
    const cli = (args: string[]) =>
      runCli(['--store', store, '--s3-endpoint', server.endpoint, '--json', ...args], env);
    try {
      const records = [...generateRecords({ seed: 9, count: 200, dimension: 16 })];
      const file = join(dir, 'in.jsonl');
      await writeFile(
        file,
        `${records.map((r) => JSON.stringify({ id: r.id, embedding: Array.from(r.embedding), document: r.document, metadata: r.metadata })).join('\n')}\n`,
      );
      const ing = await cli(['ingest', file, '-c', 'docs', '--batch', '50']);
      expect(ing.code, ing.stderr).toBe(0);
      // the local runner's worker processes open the same spec: the endpoint travels in it
      const cmp = await cli([
        'compact',
        '-c',
        'docs',
        '--concurrency',
        '2',
        '--chunk-size',
        '2',
        '--group-size',
        '2',
      ]);
      expect(cmp.code, cmp.stderr).toBe(0);
      expect(JSON.parse(cmp.stdout)).toMatchObject({
        status: 'published',
        deltas: 4,
        snapshot: { version: 1, count: 200 },
      });
      const st = JSON.parse((await cli(['status', '-c', 'docs'])).stdout);
      expect(st.store).toBe(store);
      expect(st.collections[0]).toMatchObject({ version: 1, count: 200, pending: 0, promoted: 4 });
      const ver = await cli(['verify']);
      expect(ver.code, ver.stderr).toBe(0);
      expect(JSON.parse(ver.stdout)).toMatchObject({ ok: true });
      const q = JSON.parse((await cli(['query', '-c', 'docs', '--id', records[3]!.id, '-k', '2'])).stdout);
      expect(q.results[0].hits[0].id).toBe(records[3]!.id);
      // --s3-endpoint without an s3:// store is a usage error
      const bad = await runCli(['--dir', dir, '--s3-endpoint', server.endpoint, 'status']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/^E_USAGE: --s3-endpoint needs an s3:\/\/ store/);
    } finally {
      const s = s3Store(server, {}, prefix);
      await emptyAndClose(s);
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
