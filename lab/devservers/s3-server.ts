/** What a running S3-compatible test server gives its tests. */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3StoreOptions } from '../../src/store/s3-store.js';

export interface S3TestServer extends AsyncDisposable {
  readonly name: string;
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** A bucket created at start. */
  readonly bucket: string;
  /** 'unquoted' for radosgw 16 (it accepts If-Match only with the bare ETag). */
  readonly ifMatchQuoting: 'quoted' | 'unquoted';
  /** S3Store options for `prefix` in the bucket (explicit credentials, path-style). */
  storeOptions(prefix: string): S3StoreOptions;
  /** A store spec for openStore / the CLI / worker processes (credentials go through the environment). */
  storeSpec(prefix: string): string;
  /** The environment that carries the credentials to child processes. */
  env(): NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

export function describeServer(
  s: Omit<S3TestServer, 'storeOptions' | 'storeSpec' | 'env' | typeof Symbol.asyncDispose>,
): S3TestServer {
  return {
    ...s,
    storeOptions: (prefix) => ({
      bucket: s.bucket,
      prefix,
      endpoint: s.endpoint,
      region: s.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
      ifMatchQuoting: s.ifMatchQuoting,
    }),
    storeSpec: (prefix) => {
      const q = new URLSearchParams({ endpoint: s.endpoint, region: s.region, forcePathStyle: 'true' });
      if (s.ifMatchQuoting === 'unquoted') q.set('ifMatchQuoting', 'unquoted');
      return `s3://${s.bucket}/${prefix}?${q}`;
    },
    env: () => ({
      STRATA_S3_ACCESS_KEY_ID: s.accessKeyId,
      STRATA_S3_SECRET_ACCESS_KEY: s.secretAccessKey,
    }),
    [Symbol.asyncDispose]: () => s.stop(),
  };
}

/** Creates a bucket on a freshly started server. */
export async function createBucket(
  endpoint: string,
  region: string,
  credentials: { accessKeyId: string; secretAccessKey: string },
  bucket: string,
): Promise<void> {
  const client = new S3Client({ endpoint, region, forcePathStyle: true, credentials, maxAttempts: 3 });
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
}
