/**
 * s3rver (npm devDependency: benchmarks and tests only) in a child process on a free 127.0.0.1 port, data
 * in a temp directory, one bucket created at start. Ready when it prints its listening address and the
 * bucket creation through it succeeds (a real S3 round trip). `stop()` ends the process, waits for its
 * exit and removes the data. s3rver honours ordinary operations and multipart, but IGNORES
 * If-None-Match / If-Match: never use it where conditional writes matter.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { OwnedProcess } from '../../src/core/child-process.js';

export interface S3rverProcess extends AsyncDisposable {
  readonly endpoint: string;
  readonly region: string;
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** `s3://bucket/prefix?endpoint=…` for openStore, the CLI and worker processes. */
  storeSpec(prefix: string): string;
  /** Environment carrying the credentials to processes that open storeSpec(). */
  env(): Record<string, string>;
  stop(): Promise<void>;
}

const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export async function startS3rverProcess(
  opts: { bucket?: string; bootTimeoutMs?: number } = {},
): Promise<S3rverProcess> {
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
    const timeoutMs = opts.bootTimeoutMs ?? 30_000;
    const listening = await proc.waitForOutput(/S3rver listening on [^:\s]+:(\d+)/, timeoutMs);
    if (!listening.ok) {
      throw new Error(
        listening.reason === 'exited'
          ? `exited early (${listening.exit.code ?? listening.exit.signal})`
          : `not listening after ${timeoutMs} ms`,
      );
    }
    const port = Number(listening.match[1]);
    const endpoint = `http://127.0.0.1:${port}`;
    const region = 'us-east-1';
    const bucket = opts.bucket ?? 'strata';
    const client = new S3Client({
      endpoint,
      region,
      forcePathStyle: true,
      credentials: CREDENTIALS,
      maxAttempts: 5,
    });
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    } finally {
      client.destroy();
    }
    return {
      endpoint,
      region,
      bucket,
      ...CREDENTIALS,
      storeSpec: (prefix) =>
        `s3://${bucket}/${prefix}?${new URLSearchParams({ endpoint, region, forcePathStyle: 'true' })}`,
      env: () => ({
        STRATA_S3_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
        STRATA_S3_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      }),
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (e) {
    const output = proc.output;
    await stop();
    throw new Error(`s3rver did not start: ${(e as Error).message}\n${output}`, { cause: e });
  }
}
