/**
 * Redis-restart episodes: the steps of a compaction run as BullMQ jobs on a private
 * redis-server served by two `strata worker` processes; at a random instant Redis is SIGKILLed and started
 * again on the same port and data directory after 0–1.5 s.
 *
 *   - durable (70 %): Redis as a user runs it for a durable queue — appendonly yes, appendfsync everysec.
 *     The compaction must complete (workers and submitter reconnect; a stalled job is taken over; a job the
 *     last unsynced second lost is submitted again), and the run's invariants then prove the same content
 *     as an undisturbed run (the reference model).
 *   - not persistent (30 %): Redis restarts empty. The compaction must end, never hang: published (the
 *     kill missed every step) or failed with a coded queue error (E_QUEUE_LOST, E_QUEUE_UNAVAILABLE) — its
 *     lease released or expiring, nothing published twice (the run's invariants).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isStrataError } from '../../src/core/errors.js';
import { RedisServerProcess } from '../devservers/redis-server.js';
import { compactWaitingForLease } from './compact-waiting.js';
import { type EpisodeContext, leaseWaitMs } from './episodes.js';
import { spawnBullWorker } from './processes.js';
import { describe } from './readers.js';

export const REDIS_FAULTS = {
  killDurable: 'SIGKILL Redis (appendonly, everysec) mid-run, restarted',
  killVolatile: 'SIGKILL Redis (no persistence) mid-run, restarted empty',
  volatileFailed: '(effect) run on a Redis that lost its data failed with a coded error',
} as const;

export async function restartRedis(ctx: EpisodeContext): Promise<void> {
  const { rng, t } = ctx;
  const durable = rng.chance(0.7);
  const redis = await RedisServerProcess.start({ persistent: durable });
  const queue = `torture-${ctx.run}-${t.name}-${rng.uint32()}`;
  const workers = [0, 1].map(() => {
    const w = spawnBullWorker({ store: ctx.storeDir, redis: redis.url, queue }, ctx.env);
    ctx.own(w);
    return w;
  });
  const afterMs = 100 + rng.int(2_000);
  const downMs = rng.pick([0, 200, 700, 1_500]);
  let restarting: Promise<void> | undefined;
  let failure: unknown;
  let published = false;
  try {
    await Promise.all(workers.map((w) => w.ready));
    const { BullMQExecutor } = await import('../../src/runners/bullmq/executor.js');
    const executor = new BullMQExecutor({
      redis: redis.url,
      store: ctx.base,
      queue,
      concurrency: 2,
      retry: { attempts: 3, baseMs: 50 },
      stepTimeoutMs: 60_000,
      connectTimeoutMs: 5_000,
    });
    const timer = setTimeout(() => {
      restarting = (async () => {
        await redis.kill();
        ctx.count(durable ? REDIS_FAULTS.killDurable : REDIS_FAULTS.killVolatile);
        await sleep(downMs);
        await redis.restart();
      })();
    }, afterMs);
    try {
      const r = await compactWaitingForLease(
        ctx.base,
        t.name,
        { executor, chunkSize: ctx.chunkSize, groupSize: ctx.groupSize, lease: { ttlMs: ctx.leaseTtlMs } },
        leaseWaitMs(ctx),
      );
      published = r.status === 'published';
    } catch (e) {
      failure = e;
    } finally {
      clearTimeout(timer);
      await restarting;
      await executor.close();
    }
  } finally {
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
    await redis.stop();
  }
  if (failure === undefined) return;
  const code = isStrataError(failure) ? failure.code : undefined;
  if (durable) {
    ctx.problems.push({
      invariant: 'durable-queue-run-completes',
      detail: `${t.name}: a compaction on a durable Redis (appendonly, everysec) killed after ${afterMs} ms and down ${downMs} ms failed: ${describe(failure)}`,
    });
  } else if (code === 'E_QUEUE_LOST' || code === 'E_QUEUE_UNAVAILABLE') {
    ctx.count(REDIS_FAULTS.volatileFailed);
  } else if (!published) {
    ctx.problems.push({
      invariant: 'lost-queue-fails-coded',
      detail: `${t.name}: a compaction whose Redis lost its data failed with ${describe(failure)} (expected E_QUEUE_LOST or E_QUEUE_UNAVAILABLE)`,
    });
  }
}
