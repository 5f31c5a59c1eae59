/**
 * The local runner vs the BullMQ runner, side by side in one run on one machine: the local runner (a pool
 * of worker processes on a local store) and the BullMQ runner (`workers` separate `strata worker`
 * processes, a private redis-server, the store named by `bullmqStore` — s3rver in `npm run bench`). Each
 * runner compacts its own store holding the same deltas; both must publish the same content hash.
 *  1. the demo workload (28,454 × 1536, 120 deltas, chunks of 3, groups of 10) published (merge none), as
 *     first measured (goal then ≤ 1.5×);
 *  2. a 1 % change round onto it (285 operations of the demo's mix as 3 deltas, merge none): the
 *     goal, BullMQ on S3 ≤ 1.3× the local runner — with segments a publish moves only what changed.
 * Each runner compacts `repeats` identical collections, in alternating order; the best time of each
 * counts (this 2-core machine is shared, so single runs are noisy). Workers keep a private segment cache
 * (STRATA_CACHE_DIR), as a worker machine would keep its own.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OwnedProcess } from '../../src/core/child-process.js';
import { ErrorCodes, StrataError } from '../../src/core/errors.js';
import { createCollection, getCollection } from '../../src/pipeline/collections.js';
import { type CompactReport, compact } from '../../src/pipeline/compact.js';
import { acceptDelta } from '../../src/pipeline/deltas.js';
import type { StepExecutor } from '../../src/pipeline/executor.js';
import { BullMQExecutor } from '../../src/runners/bullmq/executor.js';
import { LocalPoolExecutor } from '../../src/runners/local/pool.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { openStore } from '../../src/store/open.js';
import { generateRecords } from '../../src/workload/synthetic.js';
import { RedisServerProcess } from '../devservers/redis-server.js';
import { type BenchRow, type BenchSection, round } from './stats.js';
import { changeOps, ingest } from './workload.js';

export interface DistributedBenchOptions {
  records?: number;
  dimension?: number;
  deltas?: number;
  chunkSize?: number;
  groupSize?: number;
  /** BullMQ worker processes, and the local pool's size (default 2). */
  workers?: number;
  /** Compactions per runner, in alternating order (local first, then BullMQ first, …) to cancel drift (default 2). */
  repeats?: number;
  /** Use this Redis instead of starting a private redis-server. */
  redisUrl?: string;
  /** Store spec for the BullMQ side (default: a temp directory). */
  bullmqStore?: string;
  /** Environment for the worker processes (e.g. S3 credentials). */
  workerEnv?: NodeJS.ProcessEnv;
  log?: (msg: string) => void;
}

const fmtS = (ms: number) => `${round(ms / 1000, 2)} s`;

/** The CLI entry the workers run: the TypeScript source under tsx, or the built JavaScript. */
function cliEntry(): string[] {
  const ts = fileURLToPath(import.meta.url).endsWith('.ts');
  const bin = fileURLToPath(new URL(`../../src/cli/bin.${ts ? 'ts' : 'js'}`, import.meta.url));
  return ts ? ['--import', 'tsx', bin] : [bin];
}

/** A `strata worker` process; resolves once it printed its ready line. */
async function startWorker(
  redis: string,
  storeSpec: string,
  queue: string,
  env: NodeJS.ProcessEnv,
): Promise<OwnedProcess> {
  const proc = new OwnedProcess(
    'strata worker',
    process.execPath,
    [...cliEntry(), '--json', '--store', storeSpec, 'worker', '--redis', redis, '--queue', queue],
    { env: { ...process.env, ...env } },
  );
  const ready = await proc.waitForOutput(/"ready": true/, 120_000);
  if (ready.ok) return proc;
  await proc.stop();
  throw new StrataError(
    ErrorCodes.WORKER_CRASHED,
    ready.reason === 'exited'
      ? `strata worker exited before it was ready (code ${ready.exit.code}, signal ${ready.exit.signal}): ${proc.output}`
      : `strata worker was not ready after 120 s: ${proc.output}`,
    {},
  );
}

/** SIGTERM: an idle worker closes its queue connections and exits (SIGKILL only if it has not within 30 s). */
async function stopWorker(proc: OwnedProcess): Promise<void> {
  await proc.stop(30_000);
}

async function ingestDemo(
  store: ObjectStore,
  name: string,
  o: Required<Pick<DistributedBenchOptions, 'records' | 'dimension' | 'deltas'>>,
): Promise<void> {
  const config = await createCollection(store, {
    name,
    dimension: o.dimension,
    metric: 'cos',
    quantization: 'f16',
  });
  const per = Math.ceil(o.records / o.deltas);
  let batch = [];
  for (const r of generateRecords({ seed: 42, count: o.records, dimension: o.dimension })) {
    batch.push({
      op: 'upsert' as const,
      id: r.id,
      embedding: r.embedding,
      document: r.document ?? null,
      metadata: r.metadata ?? null,
    });
    if (batch.length === per) {
      await acceptDelta(store, config, batch, { producer: 'strata-bench' });
      batch = [];
    }
  }
  if (batch.length > 0) await acceptDelta(store, config, batch, { producer: 'strata-bench' });
}

async function timed(
  store: ObjectStore,
  name: string,
  executor: StepExecutor,
  o: { chunkSize: number; groupSize: number },
) {
  const t = performance.now();
  try {
    const report: CompactReport = await compact(store, name, { executor, ...o, merge: 'none' });
    if (report.status !== 'published')
      throw new Error(`compaction of ${name} did not publish: ${report.status}`);
    return { ms: performance.now() - t, report };
  } finally {
    await executor.close();
  }
}

type Timed = Awaited<ReturnType<typeof timed>>;

export async function benchDistributed(opts: DistributedBenchOptions = {}): Promise<BenchSection> {
  const o = {
    records: opts.records ?? 28_454,
    dimension: opts.dimension ?? 1536,
    deltas: opts.deltas ?? 120,
    chunkSize: opts.chunkSize ?? 3,
    groupSize: opts.groupSize ?? 10,
    workers: opts.workers ?? 2,
    repeats: opts.repeats ?? 2,
  };
  const log = opts.log ?? (() => {});
  const root = await mkdtemp(join(tmpdir(), 'strata-bench-dist-'));
  const localDir = join(root, 'local');
  const bullmqSpec = opts.bullmqStore ?? join(root, 'bullmq');
  const cacheEnv = { STRATA_CACHE_DIR: join(root, 'segment-cache') };
  const savedCache = process.env.STRATA_CACHE_DIR;
  process.env.STRATA_CACHE_DIR = cacheEnv.STRATA_CACHE_DIR;
  const redis = opts.redisUrl ? undefined : await RedisServerProcess.start();
  const redisUrl = opts.redisUrl ?? redis!.url;
  const workers: OwnedProcess[] = [];
  try {
    const localStore = await openStore(localDir);
    const remoteStore = await openStore(bullmqSpec);
    try {
      const names = Array.from({ length: o.repeats }, (_, i) => `lines-${i}`);
      log(
        `ingesting ${o.repeats} × ${o.records} × ${o.dimension} as ${o.deltas} deltas each into both stores`,
      );
      for (const name of names) {
        await ingestDemo(localStore, name, o);
        await ingestDemo(remoteStore, name, o);
      }
      const queue = `strata-bench-${process.pid}`;
      for (let i = 0; i < o.workers; i++) {
        workers.push(await startWorker(redisUrl, bullmqSpec, queue, { ...opts.workerEnv, ...cacheEnv }));
      }
      const runLocal = (name: string) =>
        timed(localStore, name, new LocalPoolExecutor({ storeSpec: localDir, concurrency: o.workers }), o);
      const runDist = (name: string) =>
        timed(
          remoteStore,
          name,
          new BullMQExecutor({ redis: redisUrl, store: remoteStore, queue, concurrency: o.workers }),
          o,
        );
      /** Each collection compacted by both runners, alternating which goes first. */
      const both = async (stage: string) => {
        const locals: Timed[] = [];
        const dists: Timed[] = [];
        for (const [i, name] of names.entries()) {
          const order = i % 2 === 0 ? (['local', 'bullmq'] as const) : (['bullmq', 'local'] as const);
          for (const which of order) {
            log(`${stage}, ${name}: ${which} runner, ${o.workers} worker processes`);
            if (which === 'local') locals.push(await runLocal(name));
            else dists.push(await runDist(name));
          }
        }
        const hashes = new Set([...locals, ...dists].map((r) => r.report.snapshot?.contentHash));
        if (hashes.size !== 1 || hashes.has(undefined)) {
          throw new StrataError(
            ErrorCodes.VERIFY_FAILED,
            `the two runners published different content (${stage})`,
            {
              hashes: [...hashes],
            },
          );
        }
        const best = (xs: Timed[]) => xs.reduce((a, b) => (b.ms < a.ms ? b : a));
        return { locals, dists, local: best(locals), dist: best(dists) };
      };

      const demo = await both('demo');
      const change = Math.round(o.records / 100);
      for (const name of names) {
        const ops = await changeOps(localStore, name, {
          seed: 42,
          count: change,
          dimension: o.dimension,
          round: 2,
        });
        for (const s of [localStore, remoteStore]) await ingest(s, await getCollection(s, name), ops, 3);
      }
      const changeRound = await both('1 % change');

      const rowsOf = (label: string, r: Awaited<ReturnType<typeof both>>, goal: number): BenchRow[] => {
        const ratio = r.dist.ms / r.local.ms;
        const stage = (name: string): BenchRow => {
          const a = r.local.report.timingsMs[name] ?? 0;
          const b = r.dist.report.timingsMs[name] ?? 0;
          return {
            bench: label,
            metric: `${name} stage`,
            strata: `${fmtS(b)} (BullMQ)`,
            baseline: `${fmtS(a)} (local)`,
            ratio: a > 0 ? `${round2(b / a)}×` : '-',
            goal: '-',
            met: null,
          };
        };
        return [
          {
            bench: label,
            metric: `wall time (best of ${o.repeats}), BullMQ (${o.workers} workers, ${remoteStore.kind} store) vs local runner (${o.workers} processes, local store)`,
            strata: fmtS(r.dist.ms),
            baseline: fmtS(r.local.ms),
            ratio: `${round2(ratio)}×`,
            goal: `≤ ${goal}×`,
            met: ratio <= goal,
          },
          stage('chunks'),
          stage('groups'),
          stage('final'),
          stage('publish'),
        ];
      };
      const rows: BenchRow[] = [
        ...rowsOf(
          `demo publish (${o.records.toLocaleString('en-US')} × ${o.dimension}, ${o.deltas} deltas, merge none)`,
          demo,
          1.5,
        ),
        ...rowsOf(`1 % change round onto the demo (${change} ops as 3 deltas, merge none)`, changeRound, 1.3),
      ];
      const summary = (r: Awaited<ReturnType<typeof both>>) => ({
        local: {
          bestWallMs: Math.round(r.local.ms),
          wallMs: r.locals.map((x) => Math.round(x.ms)),
          timingsMs: r.local.report.timingsMs,
        },
        bullmq: {
          bestWallMs: Math.round(r.dist.ms),
          wallMs: r.dists.map((x) => Math.round(x.ms)),
          timingsMs: r.dist.report.timingsMs,
        },
        ratio: r.dist.ms / r.local.ms,
        contentHash: r.dist.report.snapshot?.contentHash,
      });
      return {
        name: 'distributed',
        rows,
        data: {
          ...o,
          cores: availableParallelism(),
          redis: opts.redisUrl ? 'external' : 'private redis-server',
          bullmqStore: remoteStore.kind,
          demo: summary(demo),
          change: summary(changeRound),
        },
      };
    } finally {
      await localStore.close();
      await remoteStore.close();
    }
  } finally {
    await Promise.all(workers.map(stopWorker));
    await redis?.stop();
    if (savedCache === undefined) delete process.env.STRATA_CACHE_DIR;
    else process.env.STRATA_CACHE_DIR = savedCache;
    await rm(root, { recursive: true, force: true });
  }
}

const round2 = (x: number) => round(x, 2);
