/**
 * S3 benchmark: S3 upload/download throughput of one 200 MB object (a 1536-d snapshot's size class)
 * through S3Store on s3rver (child process, loopback): putFile = multipart, 16 MiB parts, 4 in flight,
 * SHA-256 given by the caller as the pipeline does (uploadSegment); getToFile = one streamed GET, hashed,
 * fsynced, checked. Baseline in the same run: the local store's putFile (copy + fsync) and getToFile of the
 * same file. Best of `repeats` (the machine is shared; single runs are noisy). s3rver is a single-threaded
 * JavaScript server that writes every byte to its own disk: treat the figure as a floor, not as S3's speed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore } from '../../src/store/local-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { S3Store } from '../../src/store/s3-store.js';
import { startS3rverProcess } from '../devservers/s3rver-process.js';
import { type BenchRow, type BenchSection, round } from './stats.js';

export interface S3BenchOptions {
  /** Object size in MB (default 200). */
  sizeMb?: number;
  partSizeMiB?: number;
  partConcurrency?: number;
  repeats?: number;
  log?: (m: string) => void;
}

async function writeRandomFile(path: string, bytes: number): Promise<string> {
  const h = createHash('sha256');
  const fh = await open(path, 'w');
  try {
    for (let left = bytes; left > 0; ) {
      const chunk = randomBytes(Math.min(left, 8 << 20));
      h.update(chunk);
      await fh.write(chunk);
      left -= chunk.length;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

async function timeRoundTrips(
  store: ObjectStore,
  src: string,
  sha256: string,
  scratch: string,
  repeats: number,
): Promise<{ upMs: number[]; downMs: number[] }> {
  const upMs: number[] = [];
  const downMs: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const key = `bench/object-${i}`;
    let t = performance.now();
    await store.putFile(key, src, { sha256 });
    upMs.push(performance.now() - t);
    const out = join(scratch, `down-${i}`);
    t = performance.now();
    const got = await store.getToFile(key, out);
    downMs.push(performance.now() - t);
    if (got.sha256 !== sha256)
      throw new Error(`downloaded object does not match (${got.sha256} != ${sha256})`);
    await unlink(out);
    await store.delete(key);
  }
  return { upMs, downMs };
}

export async function benchS3(o: S3BenchOptions = {}): Promise<BenchSection> {
  const log = o.log ?? (() => undefined);
  const sizeMb = o.sizeMb ?? 200;
  const bytes = sizeMb * 1_000_000;
  const partSizeMiB = o.partSizeMiB ?? 16;
  const partConcurrency = o.partConcurrency ?? 4;
  const repeats = o.repeats ?? 2;
  const scratch = await mkdtemp(join(tmpdir(), 'strata-bench-s3-'));
  await using server = await startS3rverProcess();
  try {
    const src = join(scratch, 'object.bin');
    log(`s3: writing a ${sizeMb} MB file`);
    const sha256 = await writeRandomFile(src, bytes);

    log(`s3: S3Store on s3rver, ${repeats}× put+get (parts ${partSizeMiB} MiB × ${partConcurrency})`);
    const s3 = new S3Store({
      bucket: server.bucket,
      prefix: 'bench',
      endpoint: server.endpoint,
      region: server.region,
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      partSize: partSizeMiB << 20,
      partConcurrency,
    });
    let remote: { upMs: number[]; downMs: number[] };
    try {
      remote = await timeRoundTrips(s3, src, sha256, scratch, repeats);
    } finally {
      await s3.close();
    }

    log(`s3: baseline: local store, ${repeats}× put+get`);
    const local = await LocalStore.open(join(scratch, 'local-store'));
    let base: { upMs: number[]; downMs: number[] };
    try {
      base = await timeRoundTrips(local, src, sha256, scratch, repeats);
    } finally {
      await local.close();
    }

    const mbps = (ms: number) => round(sizeMb / (ms / 1000), 1);
    const best = (xs: number[]) => Math.min(...xs);
    const up = mbps(best(remote.upMs));
    const down = mbps(best(remote.downMs));
    const upBase = mbps(best(base.upMs));
    const downBase = mbps(best(base.downMs));
    const row = (metric: string, v: number, ms: number, b: number, bms: number): BenchRow => ({
      bench: 's3',
      metric,
      strata: `${v} MB/s (${round(ms / 1000, 2)} s)`,
      baseline: `local store ${b} MB/s (${round(bms / 1000, 2)} s)`,
      ratio: `${round(v / b, 2)}×`,
      goal: 'report',
      met: null,
    });
    return {
      name: 's3',
      rows: [
        row(
          `upload ${sizeMb} MB, s3rver, multipart ${partSizeMiB} MiB × ${partConcurrency}`,
          up,
          best(remote.upMs),
          upBase,
          best(base.upMs),
        ),
        row(
          `download ${sizeMb} MB, s3rver, one GET + SHA-256 check`,
          down,
          best(remote.downMs),
          downBase,
          best(base.downMs),
        ),
      ],
      data: {
        sizeMb,
        partSizeMiB,
        partConcurrency,
        repeats,
        s3rver: {
          uploadMs: remote.upMs.map((x) => round(x, 0)),
          downloadMs: remote.downMs.map((x) => round(x, 0)),
        },
        local: {
          uploadMs: base.upMs.map((x) => round(x, 0)),
          downloadMs: base.downMs.map((x) => round(x, 0)),
        },
        uploadMBps: up,
        downloadMBps: down,
      },
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
