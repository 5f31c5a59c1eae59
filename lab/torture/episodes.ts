/**
 * Fault episodes: one compaction of one collection under one kind of fault, chosen at random per round.
 * Episodes never decide success; they inject, count what they injected and report what must never happen
 * (a frozen compactor that publishes, a compactor that dies on its own). The invariants are checked after.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FailpointName } from '../../src/core/failpoints.js';
import type { Rng } from '../../src/core/random.js';
import type { CompactOptions } from '../../src/pipeline/compact.js';
import type { StepExecutor } from '../../src/pipeline/executor.js';
import { readLease } from '../../src/pipeline/lease.js';
import { InlineExecutor } from '../../src/runners/inline.js';
import { LocalPoolExecutor } from '../../src/runners/local/pool.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import {
  FAULT_KINDS,
  type FaultKind,
  type FaultProbabilities,
  FaultyStore,
} from '../../src/testing/faulty-store.js';
import type { CompactorJob } from './child-protocol.js';
import { compactWaitingForLease } from './compact-waiting.js';
import { debug } from './debug.js';
import { gcRacesReaders, mergeRacesPublish } from './episodes-segments.js';
import type { Problem } from './invariants.js';
import {
  type CompactorExit,
  type CompactorProcess,
  type OwnedChild,
  spawnBullWorker,
  spawnCompactor,
  waitStoppedOrExit,
} from './processes.js';
import type { TrackedCollection } from './tracked.js';

export const EPISODE_KINDS = [
  'store-faults',
  'kill-compactor-failpoint',
  'kill-compactor-instant',
  'kill-worker-failpoint',
  'kill-worker-instant',
  'race-frozen',
  'kill-s3-server',
  'kill-bullmq-worker',
  'merge-race-publish',
  'gc-race-readers',
  'clock-skew',
  'disk-full',
  'restart-redis',
  'power-loss',
] as const;
export type EpisodeKind = (typeof EPISODE_KINDS)[number];

/** The episodes a run can have: killing the S3 server needs a backend with one, the BullMQ one a Redis. */
export function eligibleEpisodes(
  kinds: readonly EpisodeKind[],
  has: { s3Server: boolean; redis: boolean; smallFs?: boolean; power?: boolean },
): EpisodeKind[] {
  return kinds.filter(
    (k) =>
      (k !== 'kill-s3-server' || has.s3Server) &&
      (k !== 'kill-bullmq-worker' || has.redis) &&
      (k !== 'restart-redis' || has.redis) &&
      (k !== 'disk-full' || has.smallFs === true) &&
      (k !== 'power-loss' || has.power === true),
  );
}

/** Names of injected faults in the final table. */
export const FAULT_NAMES = {
  killCompactorFailpoint: 'SIGKILL compactor at failpoint',
  killCompactorInstant: 'SIGKILL compactor at random instant',
  killWorkerFailpoint: 'SIGKILL worker at failpoint',
  killWorkerInstant: 'SIGKILL worker at random instant',
  frozen: 'SIGSTOP compactor past its lease',
  killProducer: 'SIGKILL producer between data and descriptor',
  killS3Upload: 'SIGKILL S3 server mid-upload',
  killS3Instant: 'SIGKILL S3 server at random instant',
  killBullWorker: 'SIGKILL BullMQ worker at random instant',
  bullStalled: "(effect) a dead worker's BullMQ job taken over",
  racers: 'racing compactors',
  store: (k: string) => `store ${k}`,
  badDelta: 'bad delta written raw',
} as const;

export interface EpisodeContext {
  storeDir: string;
  base: ObjectStore;
  /** Wraps `base`; disabled except during a store-faults episode (deltas are written through it). */
  faulty: FaultyStore;
  t: TrackedCollection;
  rng: Rng;
  leaseTtlMs: number;
  chunkSize: number;
  groupSize: number;
  /** A private directory of the run (failpoint markers). */
  tmp: string;
  count(fault: string, n?: number): void;
  problems: Problem[];
  /** Store fault kinds never injected (e.g. listMiss while a pipeline bug it finds is open). */
  excludeFaults: readonly FaultKind[];
  /** Registers a process so the run kills it if it is still alive at the end. */
  own(p: OwnedChild): void;
  /** What child processes need to open `storeDir` (S3 credentials). */
  env: Record<string, string>;
  /** The run's S3 server: SIGKILL, down `downMs`, start, wait for health (S3 backend only). */
  restartStore?: (downMs: number) => Promise<boolean>;
  /** A Redis for the BullMQ runner (campaigns started with --bullmq). */
  redis?: string;
  /** Run index: names the run's BullMQ queues. */
  run: number;
  /** The size-limited filesystem the run's store lives on (disk-full episodes). */
  smallFs?: import('../devservers/small-fs.js').SmallFs;
}

/** A compactor (or producer) process that can open the run's store. */
export function spawnFor(
  ctx: EpisodeContext,
  j: CompactorJob,
  env: Record<string, string> = {},
): CompactorProcess {
  const p = spawnCompactor(j, { ...ctx.env, ...env });
  ctx.own(p);
  return p;
}

/** Failpoints a compactor process reaches itself (steps and segments only with the inline executor). */
const COMPACTOR_POINTS: Array<{ fp: FailpointName; inlineOnly: boolean; maxNth: number }> = [
  { fp: 'publish.before-pointer', inlineOnly: false, maxNth: 1 },
  { fp: 'publish.after-pointer', inlineOnly: false, maxNth: 1 },
  { fp: 'step.chunk', inlineOnly: true, maxNth: 3 },
  { fp: 'step.group', inlineOnly: true, maxNth: 2 },
  { fp: 'step.final', inlineOnly: true, maxNth: 1 },
  { fp: 'segment.after-write', inlineOnly: true, maxNth: 3 },
  { fp: 'segment.after-close', inlineOnly: true, maxNth: 3 },
  { fp: 'segment.after-verify', inlineOnly: true, maxNth: 3 },
  { fp: 'store.put.partial', inlineOnly: false, maxNth: 12 },
  { fp: 'step.merge', inlineOnly: true, maxNth: 1 },
  { fp: 'merge.before-pointer', inlineOnly: false, maxNth: 1 },
];
/** Failpoints a worker of the local pool reaches. */
const WORKER_POINTS: FailpointName[] = [
  'step.chunk',
  'step.group',
  'step.final',
  'segment.after-write',
  'segment.after-close',
  'segment.after-verify',
  'store.put.partial',
  'step.merge',
];

export const RETRY = { attempts: 3, baseMs: 20, maxMs: 200 };

export function leaseWaitMs(ctx: EpisodeContext): number {
  return ctx.leaseTtlMs * 4 + 5_000;
}

function copts(ctx: EpisodeContext, executor: StepExecutor): CompactOptions {
  return {
    executor,
    chunkSize: ctx.chunkSize,
    groupSize: ctx.groupSize,
    lease: { ttlMs: ctx.leaseTtlMs },
  };
}

function pool(ctx: EpisodeContext, env: Record<string, string> = {}): LocalPoolExecutor {
  return new LocalPoolExecutor({
    storeSpec: ctx.storeDir,
    concurrency: 2,
    threads: 1,
    retry: RETRY,
    stepTimeoutMs: 60_000,
    env: { ...ctx.env, ...env },
  });
}

function randomProbabilities(ctx: EpisodeContext): FaultProbabilities {
  const { rng } = ctx;
  const p: Record<FaultKind, number> = {
    error: rng.pick([0, 0.02, 0.05, 0.1]),
    timeout: rng.pick([0, 0.01, 0.03]),
    slow: rng.pick([0, 0.05, 0.2]),
    partialPut: rng.pick([0, 0.03, 0.08]),
    listMiss: rng.pick([0, 0.1, 0.3]),
    lostResponse: rng.pick([0, 0.2, 0.5]),
  };
  for (const k of ctx.excludeFaults) p[k] = 0;
  return p;
}

export function job(
  ctx: EpisodeContext,
  owner: string,
  executor: 'inline' | 'local',
  withFaults: boolean,
): CompactorJob {
  return {
    store: ctx.storeDir,
    collection: ctx.t.name,
    executor,
    concurrency: 2,
    chunkSize: ctx.chunkSize,
    groupSize: ctx.groupSize,
    leaseTtlMs: ctx.leaseTtlMs,
    owner,
    leaseWaitMs: leaseWaitMs(ctx),
    ...(withFaults
      ? {
          faults: {
            seed: ctx.rng.uint32(),
            probabilities: randomProbabilities(ctx),
            slowMs: 5,
            timeoutMs: 30,
          },
        }
      : {}),
  };
}

/** A compactor process must end by our signal or with an outcome line; anything else is a crash. */
export function checkExit(ctx: EpisodeContext, label: string, e: CompactorExit, killedByUs: boolean): void {
  if (e.outcome?.faults) for (const k of FAULT_KINDS) ctx.count(FAULT_NAMES.store(k), e.outcome.faults[k]);
  if (killedByUs && e.signal === 'SIGKILL') return;
  if (!e.outcome) {
    ctx.problems.push({
      invariant: 'compactor-exits-cleanly',
      detail: `${label} ended with code ${e.code}, signal ${e.signal} and no outcome; stderr: ${e.stderr.slice(-2000)}`,
    });
  }
}

async function inProcess(
  ctx: EpisodeContext,
  store: ObjectStore,
  executor: StepExecutor,
  attempts: number,
): Promise<void> {
  try {
    for (let a = 0; a < attempts; a++) {
      try {
        await compactWaitingForLease(store, ctx.t.name, copts(ctx, executor), leaseWaitMs(ctx));
        return;
      } catch {
        // a failed compaction under faults is expected; the invariants say whether it did harm
      }
    }
  } finally {
    await executor.close();
  }
}

async function storeFaults(ctx: EpisodeContext): Promise<void> {
  const { faulty, rng } = ctx;
  faulty.setProbabilities(randomProbabilities(ctx));
  faulty.resetStats();
  const executor = rng.chance(0.6) ? new InlineExecutor(faulty, { retry: RETRY }) : pool(ctx);
  faulty.enable(true);
  try {
    await inProcess(ctx, faulty, executor, 3);
  } finally {
    faulty.enable(false);
    const s = faulty.stats();
    for (const k of FAULT_KINDS) ctx.count(FAULT_NAMES.store(k), s[k]);
  }
}

async function killCompactorAtFailpoint(ctx: EpisodeContext): Promise<void> {
  const { rng } = ctx;
  const point = rng.pick(COMPACTOR_POINTS);
  const nth = 1 + rng.int(point.maxNth);
  const executor = point.inlineOnly ? 'inline' : rng.pick(['inline', 'local'] as const);
  const p = spawnFor(ctx, job(ctx, `victim-${rng.uint32()}`, executor, rng.chance(0.3)), {
    STRATA_FAILPOINTS: `${point.fp}=crash@${nth}`,
  });
  const e = await p.exited;
  if (e.signal === 'SIGKILL') ctx.count(FAULT_NAMES.killCompactorFailpoint);
  checkExit(ctx, `compactor with ${point.fp}=crash@${nth}`, e, true);
}

async function killCompactorAtInstant(ctx: EpisodeContext): Promise<void> {
  const { rng } = ctx;
  const executor = rng.pick(['inline', 'local'] as const);
  const p = spawnFor(ctx, job(ctx, `victim-${rng.uint32()}`, executor, rng.chance(0.3)));
  const after = 600 + rng.int(2_500);
  const timer = setTimeout(() => {
    if (!p.hasExited) {
      p.kill('SIGKILL');
      ctx.count(FAULT_NAMES.killCompactorInstant);
    }
  }, after);
  const e = await p.exited;
  clearTimeout(timer);
  checkExit(ctx, `compactor killed after ${after} ms`, e, true);
}

async function killWorkerAtFailpoint(ctx: EpisodeContext): Promise<void> {
  const fp = ctx.rng.pick(WORKER_POINTS);
  const dir = join(ctx.tmp, `fp-${ctx.rng.uint32()}`);
  await mkdir(dir, { recursive: true });
  await inProcess(
    ctx,
    ctx.base,
    pool(ctx, { STRATA_FAILPOINTS: `${fp}=crash-once`, STRATA_FAILPOINT_DIR: dir }),
    2,
  );
  if (existsSync(join(dir, `fired-${fp}`))) ctx.count(FAULT_NAMES.killWorkerFailpoint);
}

async function killWorkerAtInstant(ctx: EpisodeContext): Promise<void> {
  const executor = pool(ctx);
  const after = 100 + ctx.rng.int(1_500);
  const pick = ctx.rng.uint32();
  const timer = setTimeout(() => {
    const pids = executor.pids;
    if (pids.length === 0) return;
    try {
      process.kill(pids[pick % pids.length]!, 'SIGKILL');
      ctx.count(FAULT_NAMES.killWorkerInstant);
    } catch {
      // it exited meanwhile
    }
  }, after);
  try {
    await inProcess(ctx, ctx.base, executor, 2);
  } finally {
    clearTimeout(timer);
  }
}

const STOP_POINTS: Array<{ fp: FailpointName; inlineOnly: boolean }> = [
  { fp: 'publish.before-pointer', inlineOnly: false },
  { fp: 'step.final', inlineOnly: true },
  { fp: 'step.group', inlineOnly: true },
  { fp: 'lease.mid-heartbeat', inlineOnly: false },
];

/**
 * Two or three compactors on one collection. The first freezes itself (SIGSTOP) at a random point while
 * holding the lease; the others wait for that lease to expire and compact; the frozen one is resumed
 * (SIGCONT) after its lease expired — while another holds the lease, or after the others are done. It must
 * not publish.
 */
async function raceFrozen(ctx: EpisodeContext): Promise<void> {
  const { rng } = ctx;
  const stop = rng.pick(STOP_POINTS);
  const executor = stop.inlineOnly ? 'inline' : rng.pick(['inline', 'local'] as const);
  const frozen = spawnFor(ctx, job(ctx, `frozen-${rng.uint32()}`, executor, false), {
    STRATA_FAILPOINTS: `${stop.fp}=stop@1`,
  });
  debug(`${ctx.t.name}: frozen compactor ${frozen.pid} started (${stop.fp}, ${executor})`);
  const state = await waitStoppedOrExit(frozen);
  debug(`${ctx.t.name}: frozen compactor ${frozen.pid} ${state}`);
  let expiresAt = 0;
  if (state === 'stopped') {
    const lease = await readLease(ctx.base, ctx.t.name);
    expiresAt = lease?.expiresAt ?? 0;
  }
  const n = 1 + rng.int(2);
  ctx.count(FAULT_NAMES.racers, n + 1);
  const others: CompactorProcess[] = [];
  for (let i = 0; i < n; i++) {
    others.push(
      spawnFor(ctx, job(ctx, `racer-${i}-${rng.uint32()}`, rng.pick(['inline', 'local'] as const), false)),
    );
  }
  let frozenPastLease = false;
  if (state === 'stopped') {
    ctx.count(FAULT_NAMES.frozen);
    if (rng.chance(0.5)) {
      // resume while a racer is (likely) at work under its own lease
      await sleep(Math.max(0, expiresAt - Date.now()) + 50 + rng.int(ctx.leaseTtlMs));
    } else {
      await Promise.all(others.map((o) => o.exited));
    }
    frozenPastLease = Date.now() > expiresAt;
    debug(`${ctx.t.name}: SIGCONT ${frozen.pid} (lease expired ${Date.now() - expiresAt} ms ago)`);
    frozen.kill('SIGCONT');
  }
  others.forEach(
    (o, i) =>
      void o.exited.then((e) =>
        debug(
          `${ctx.t.name}: racer ${i} exited after ${e.ms} ms: ${JSON.stringify(e.outcome?.report ?? e.outcome?.error?.code)}`,
        ),
      ),
  );
  const [fe, ...oe] = await Promise.all([frozen.exited, ...others.map((o) => o.exited)]);
  debug(`${ctx.t.name}: frozen exited: ${JSON.stringify(fe!.outcome?.report ?? fe!.outcome?.error?.code)}`);
  checkExit(ctx, `frozen compactor (${stop.fp}=stop)`, fe!, false);
  for (const [i, e] of oe.entries()) checkExit(ctx, `racing compactor ${i}`, e, false);
  if (frozenPastLease && fe!.outcome?.report?.status === 'published') {
    ctx.problems.push({
      invariant: 'frozen-compactor-never-publishes',
      detail: `${ctx.t.name}: a compactor frozen at ${stop.fp} past its lease (expired ${new Date(expiresAt).toISOString()}) published v${fe!.outcome.report.snapshot?.version} after SIGCONT`,
    });
  }
}

/**
 * The run's S3 server is SIGKILLed during a compaction and started again after `downMs`: either while the
 * n-th upload of an in-process compaction is in flight (single PUT or multipart, by size), or at a random
 * instant of a compaction whose steps run in worker processes. Requests in flight are cut; the store's
 * retries may or may not bridge the outage; the invariants say whether anything was harmed. The episode
 * ends with the server healthy again.
 */
async function killS3Server(ctx: EpisodeContext): Promise<void> {
  const restart = ctx.restartStore;
  if (!restart) throw new Error('kill-s3-server needs a backend with a server (--backend ceph)');
  const { rng } = ctx;
  const downMs = rng.pick([0, 50, 300, 1_000, 2_500]);
  let restarting: Promise<void> | undefined;
  const kill = (fault: string, afterMs = 0) => {
    // a kill joined to one already under way (the run's other collection) is not counted twice
    restarting ??= sleep(afterMs)
      .then(() => restart(downMs))
      .then((killed) => (killed ? ctx.count(fault) : undefined));
  };
  if (rng.chance(0.6)) {
    const nth = 1 + rng.int(6);
    const afterMs = rng.int(20);
    let uploads = 0;
    const observed = new FaultyStore(ctx.base, {
      enabled: false,
      onCall: (op) => {
        // the request is on its way: let a few bytes go, then cut it
        if ((op === 'put' || op === 'putFile') && ++uploads === nth) kill(FAULT_NAMES.killS3Upload, afterMs);
      },
    });
    await inProcess(ctx, observed, new InlineExecutor(observed, { retry: RETRY }), 2);
  } else {
    const timer = setTimeout(() => kill(FAULT_NAMES.killS3Instant), 100 + rng.int(1_500));
    try {
      await inProcess(ctx, ctx.base, pool(ctx), 2);
    } finally {
      clearTimeout(timer);
    }
  }
  await restarting;
}

/**
 * The steps run as BullMQ jobs on Redis, served by two `strata worker` processes (lock 2 s, stalled check
 * every 1 s). At a random instant one worker is SIGKILLed, mid-step or idle; half of the time a fresh one
 * replaces it. The dead worker's job must be taken over (stalled recovery) or retried; the compaction
 * may also fail, and the invariants say whether that did harm.
 */
async function killBullWorker(ctx: EpisodeContext): Promise<void> {
  const redis = ctx.redis;
  if (!redis) throw new Error('kill-bullmq-worker needs a Redis (--bullmq)');
  const { rng } = ctx;
  const queue = `torture-${ctx.run}-${ctx.t.name}-${rng.uint32()}`;
  const start = () => {
    const w = spawnBullWorker({ store: ctx.storeDir, redis, queue }, ctx.env);
    ctx.own(w);
    return w;
  };
  const workers = [start(), start()];
  const after = 100 + rng.int(2_000);
  const victim = rng.int(2);
  const replace = rng.chance(0.5);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.all(workers.map((w) => w.ready));
    // loaded on demand: only campaigns started with --bullmq pay for bullmq and ioredis
    const { BullMQExecutor } = await import('../../src/runners/bullmq/executor.js');
    const executor = new BullMQExecutor({
      redis,
      store: ctx.base,
      queue,
      concurrency: 2,
      retry: { attempts: 3, baseMs: 50 },
      stepTimeoutMs: 60_000,
      onStalled: () => ctx.count(FAULT_NAMES.bullStalled),
    });
    timer = setTimeout(() => {
      const w = workers[victim]!;
      if (w.hasExited) return;
      w.kill('SIGKILL');
      ctx.count(FAULT_NAMES.killBullWorker);
      if (replace) workers.push(start());
    }, after);
    await inProcess(ctx, ctx.base, executor, 2);
  } finally {
    clearTimeout(timer);
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
  }
}

export async function runEpisode(kind: EpisodeKind, ctx: EpisodeContext): Promise<void> {
  debug(`${ctx.t.name}: episode ${kind}`);
  switch (kind) {
    case 'store-faults':
      return storeFaults(ctx);
    case 'kill-compactor-failpoint':
      return killCompactorAtFailpoint(ctx);
    case 'kill-compactor-instant':
      return killCompactorAtInstant(ctx);
    case 'kill-worker-failpoint':
      return killWorkerAtFailpoint(ctx);
    case 'kill-worker-instant':
      return killWorkerAtInstant(ctx);
    case 'race-frozen':
      return raceFrozen(ctx);
    case 'kill-s3-server':
      return killS3Server(ctx);
    case 'kill-bullmq-worker':
      return killBullWorker(ctx);
    case 'merge-race-publish':
      return mergeRacesPublish(ctx, async () => {
        const p = spawnFor(
          ctx,
          job(ctx, `publisher-${ctx.rng.uint32()}`, ctx.rng.pick(['inline', 'local'] as const), false),
        );
        checkExit(ctx, 'compactor racing a merge', await p.exited, false);
      });
    case 'gc-race-readers':
      return gcRacesReaders(ctx, () =>
        inProcess(ctx, ctx.base, new InlineExecutor(ctx.base, { retry: RETRY }), 2),
      );
    case 'clock-skew':
      return (await import('./episodes-clock.js')).clockSkew(ctx);
    case 'disk-full':
      return (await import('./episodes-disk.js')).diskFull(ctx);
    case 'restart-redis':
      return (await import('./episodes-redis.js')).restartRedis(ctx);
    case 'power-loss':
      // a power cut takes down every collection of the run at once: run.ts runs powerLossRound instead
      throw new Error('power-loss is a round of its own (episodes-power.ts), not a per-collection episode');
  }
}
