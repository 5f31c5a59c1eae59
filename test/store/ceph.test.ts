/**
 * S3Store against a real one-node Ceph cluster with radosgw 16 (lab/devservers/ceph.ts): the full
 * conformance suite, including the precondition and race tests (radosgw honours If-None-Match: * and
 * If-Match with 412), plus the radosgw If-Match quirk, multipart with preconditions, and aborted uploads.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCeph } from '../../lab/devservers/ceph.js';
import type { S3TestServer } from '../../lab/devservers/s3-server.js';
import { PreconditionFailedError, StoreError } from '../../src/core/errors.js';
import { storeConformance } from './conformance.js';
import { emptyAndClose, s3Fixture, s3Store } from './s3-fixture.js';

let server: S3TestServer;
beforeAll(async () => {
  server = await startCeph();
}, 120_000);
afterAll(async () => {
  await server?.stop();
}, 60_000);

storeConformance(
  'S3Store on Ceph radosgw (ifMatchQuoting: unquoted)',
  s3Fixture(() => server),
);

const sha = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

describe('S3Store on Ceph radosgw: specifics', () => {
  it('radosgw 16 refuses a correct but quoted If-Match: why the compatibility option exists', async () => {
    const quoted = s3Store(server, { ifMatchQuoting: 'quoted' });
    const unquoted = s3Store(server, { ifMatchQuoting: 'unquoted' }, quoted.prefix);
    try {
      const v1 = await quoted.put('k', 'v1');
      expect(v1.etag).toMatch(/^".*"$/);
      await expect(quoted.put('k', 'v2', { ifMatch: v1.etag! })).rejects.toBeInstanceOf(
        PreconditionFailedError,
      );
      await unquoted.put('k', 'v2', { ifMatch: v1.etag! });
      expect(Buffer.from(await unquoted.get('k')).toString()).toBe('v2');
    } finally {
      await unquoted.close();
      await emptyAndClose(quoted);
    }
  });

  it('list paginates (page of 7) and stays sorted', async () => {
    const store = s3Store(server, { listPageSize: 7 });
    try {
      const keys = Array.from({ length: 25 }, (_, i) => `p/${String((i * 7) % 25).padStart(2, '0')}`);
      await Promise.all(keys.map((k) => store.put(k, k)));
      expect((await store.list('p/')).map((o) => o.key)).toEqual([...keys].sort());
    } finally {
      await emptyAndClose(store);
    }
  });

  it('multipart putFile honours ifNoneMatch and ifMatch, and leaves no upload behind when refused', async () => {
    const store = s3Store(server, { partSize: 5 << 20, partConcurrency: 2 });
    const scratch = await mkdtemp(join(tmpdir(), 'strata-ceph-'));
    const raw = new S3Client({ ...server.storeOptions(''), maxAttempts: 1 });
    try {
      const a = randomBytes(11 << 20);
      const b = randomBytes(11 << 20);
      await writeFile(join(scratch, 'a'), a);
      await writeFile(join(scratch, 'b'), b);
      const first = await store.putFile('mp', join(scratch, 'a'), { ifNoneMatch: '*' });
      expect(first.sha256).toBe(sha(a));
      const e = await store
        .putFile('mp', join(scratch, 'b'), { ifNoneMatch: '*' })
        .catch((err: unknown) => err);
      expect(e).toBeInstanceOf(PreconditionFailedError);
      await expect(store.putFile('mp', join(scratch, 'b'), { ifMatch: '"0123"' })).rejects.toBeInstanceOf(
        PreconditionFailedError,
      );
      expect(sha(await store.get('mp'))).toBe(sha(a));
      await store.putFile('mp', join(scratch, 'b'), { ifMatch: first.etag! });
      expect(sha(await store.get('mp'))).toBe(sha(b));
      const ups = await raw.send(
        new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: store.prefix }),
      );
      expect(ups.Uploads ?? []).toEqual([]);
    } finally {
      raw.destroy();
      await rm(scratch, { recursive: true, force: true });
      await emptyAndClose(store);
    }
  });

  it('a permanent error names bucket and key', async () => {
    const store = s3Store(server, { bucket: 'strata-missing-bucket' });
    try {
      const e = await store.put('k', 'v').catch((err: unknown) => err);
      expect(e).toBeInstanceOf(StoreError);
      expect((e as StoreError).transient).toBe(false);
      expect((e as StoreError).context).toMatchObject({ bucket: 'strata-missing-bucket', key: 'k' });
    } finally {
      await store.close();
    }
  });
});
