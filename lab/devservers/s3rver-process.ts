/**
 * s3rver (npm devDependency: benchmarks and tests only) in a child process on a free 127.0.0.1 port, data
 * in a temp directory, one bucket created at start. Ready when it prints its listening address and the
 * bucket creation through it succeeds (a real S3 round trip). `stop()` ends the process, waits for its
 * exit and removes the data. s3rver honours ordinary operations and multipart, but IGNORES
 * If-None-Match / If-Match: never use it where conditional writes matter.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

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

function waitForPort(child: ChildProcess, output: () => string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`not listening after ${timeoutMs} ms`)), timeoutMs);
    const onData = () => {
      const m = /S3rver listening on [^:\s]+:(\d+)/.exec(output());
      if (m) finish(undefined, Number(m[1]));
    };
    const onExit = (code: number | null, signal: string | null) =>
      finish(new Error(`exited early (${code ?? signal})`));
    const finish = (err?: Error, port?: number) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(port!);
    };
    child.stdout?.on('data', onData);
    child.on('exit', onExit);
    onData();
  });
}

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
  const child = spawn(
    process.execPath,
    ['--openssl-legacy-provider', bin, '-d', dir, '-a', '127.0.0.1', '-p', '0', '-s'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (b: Buffer) => {
    output = (output + b.toString('utf8')).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  // if this process exits without stop() (a crash), the server must not outlive it
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    process.off('exit', killOnExit);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const port = await waitForPort(child, () => output, opts.bootTimeoutMs ?? 30_000);
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
    await stop();
    throw new Error(`s3rver did not start: ${(e as Error).message}\n${output}`, { cause: e });
  }
}
