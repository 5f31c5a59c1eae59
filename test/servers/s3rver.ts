/**
 * s3rver for tests: the process launcher of the benchmarks (lab/devservers/s3rver-process.ts: free loopback
 * port, temp data directory, bucket created through it, stop awaits the exit) seen as an S3TestServer.
 * s3rver does ordinary operations and multipart, but IGNORES If-None-Match / If-Match (measured): suites
 * that need conditional writes run against Ceph (ceph.ts).
 */

import { describeServer, type S3TestServer } from '../../lab/devservers/s3-server.js';
import { startS3rverProcess } from '../../lab/devservers/s3rver-process.js';

export async function startS3rver(
  opts: { bucket?: string; bootTimeoutMs?: number } = {},
): Promise<S3TestServer> {
  const p = await startS3rverProcess({
    bucket: opts.bucket ?? 'strata-test',
    bootTimeoutMs: opts.bootTimeoutMs,
  });
  return describeServer({
    name: 's3rver',
    endpoint: p.endpoint,
    region: p.region,
    accessKeyId: p.accessKeyId,
    secretAccessKey: p.secretAccessKey,
    bucket: p.bucket,
    ifMatchQuoting: 'quoted',
    stop: () => p.stop(),
  });
}
