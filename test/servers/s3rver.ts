/**
 * s3rver (npm, devDependency) in a child process on a free 127.0.0.1 port, data in a temp directory.
 * Ready when it prints its listening address and answers an S3 request; a bucket is created at start.
 * s3rver does ordinary operations and multipart, but IGNORES If-None-Match / If-Match (measured): suites
 * that need conditional writes run against Ceph (ceph.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OwnedProcess, waitUntil } from './process.js';
import { createBucket, describeServer, type S3TestServer } from './s3-server.js';

export interface S3rverOptions {
  bucket?: string;
  bootTimeoutMs?: number;
}

/** s3rver's fixed credentials. */
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export async function startS3rver(opts: S3rverOptions = {}): Promise<S3TestServer> {
  let bin: string;
  try {
    bin = createRequire(import.meta.url).resolve('s3rver/bin/s3rver.js');
  } catch {
    throw new Error('s3rver cannot start: the npm package "s3rver" is not installed (run `npm ci`)');
  }
  const dir = await mkdtemp(join(tmpdir(), 'strata-s3rver-'));
  // --openssl-legacy-provider: s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3
  // only has in its legacy provider (without it every paginated listing is a 500)
  const proc = new OwnedProcess('s3rver', process.execPath, [
    '--openssl-legacy-provider',
    bin,
    '-d',
    dir,
    '-a',
    '127.0.0.1',
    '-p',
    '0',
    '-s',
  ]);
  const stop = async () => {
    await proc.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const alive = () => (proc.running ? undefined : `s3rver exited early:\n${proc.output}`);
    const port = await waitUntil(
      's3rver listening',
      async () => {
        const m = /S3rver listening on [^:\s]+:(\d+)/.exec(proc.output);
        return m ? Number(m[1]) : undefined;
      },
      { timeoutMs: opts.bootTimeoutMs ?? 30_000, everyMs: 25, alive },
    );
    const endpoint = `http://127.0.0.1:${port}`;
    const region = 'us-east-1';
    const bucket = opts.bucket ?? 'strata-test';
    await waitUntil(
      's3rver bucket creation',
      async () => {
        await createBucket(endpoint, region, CREDENTIALS, bucket);
        return true;
      },
      { timeoutMs: 10_000, everyMs: 50, alive },
    );
    return describeServer({
      name: 's3rver',
      endpoint,
      region,
      ...CREDENTIALS,
      bucket,
      ifMatchQuoting: 'quoted',
      stop,
    });
  } catch (e) {
    const out = proc.output;
    await stop();
    throw new Error(`s3rver did not start: ${(e as Error).message}\n${out}`, { cause: e });
  }
}
