import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../lab/devservers/process.js';
import { main } from '../../src/cli/main.js';
import { ErrorCodes, StrataError } from '../../src/core/errors.js';
import { compact } from '../../src/pipeline/compact.js';
import { readPointer } from '../../src/pipeline/pointer.js';
import type { StepTask } from '../../src/pipeline/steps.js';
import { verifyCollection } from '../../src/pipeline/verify.js';
import { BullMQExecutor } from '../../src/runners/bullmq/executor.js';
import { StepWorker } from '../../src/runners/bullmq/worker.js';
import type { LocalStore } from '../../src/store/local-store.js';
import { ReferenceModel } from '../helpers/model.js';
import { ingestBatches, smallCollection, upserts } from '../helpers/pipeline.js';
import { tempDir, tempStore } from '../helpers/tmp.js';
import { type RedisTestServer, startRedis } from '../servers/redis.js';
import { bullmqHarness, startWorkers } from './bullmq-harness.js';
import { runnerConformance, withRunner } from './conformance.js';

let redis: RedisTestServer | undefined;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
const server = () => {
  if (!redis) throw new Error('redis-server did not start (see beforeAll)');
  return redis;
};

runnerConformance(bullmqHarness(server));

describe('BullMQ runner: a worker killed mid-job', () => {
  it('SIGKILL inside a chunk job: another worker recovers the stalled job; same content hash as an undisturbed run', async () => {
    const ops = upserts(31, 300, 8);
    const prepare = async (t: { store: LocalStore }) => {
      const config = await smallCollection(t.store);
      await ingestBatches(t.store, config, ops, 30); // 10 deltas → 5 chunks → 2 groups
    };

    // undisturbed run
    await using calm = await tempStore();
    await prepare(calm);
    const undisturbed = await withRunner(
      bullmqHarness(server),
      { storeDir: calm.dir, attempts: 3 },
      ({ executor }) => compact(calm.store, 'lines', { executor, chunkSize: 2, groupSize: 3 }),
    );
    expect(undisturbed.status).toBe('published');

    // the same workload, with the first worker to enter a chunk step killed by SIGKILL in the middle of it
    await using t = await tempStore();
    await using marks = await tempDir('strata-failpoints');
    await prepare(t);
    const queue = `strata-kill-${randomUUID().slice(0, 8)}`;
    const workers = await startWorkers(server(), {
      storeDir: t.dir,
      queue,
      count: 2,
      env: { STRATA_FAILPOINTS: 'step.chunk=crash-once', STRATA_FAILPOINT_DIR: marks.dir },
    });
    const stalled: StepTask[] = [];
    const executor = new BullMQExecutor({
      redis: server().url,
      store: t.store,
      queue,
      retry: { attempts: 3, baseMs: 20 },
      onStalled: (task) => stalled.push(task),
    });
    try {
      const r = await compact(t.store, 'lines', { executor, chunkSize: 2, groupSize: 3 });
      expect(existsSync(join(marks.dir, 'fired-step.chunk'))).toBe(true);
      const exits = workers.filter((w) => !w.proc.running);
      expect(exits).toHaveLength(1);
      expect((await exits[0]!.proc.exited).signal).toBe('SIGKILL');
      expect(workers.filter((w) => w.proc.running)).toHaveLength(1);
      // the killed worker's job was found stalled and handed over (not failed, not lost)
      expect(stalled.map((s) => s.kind)).toContain('chunk');
      expect(r).toMatchObject({ status: 'published', groupsFailed: 0, promoted: 10 });
      expect(r.snapshot?.contentHash).toBe(undisturbed.snapshot?.contentHash);
      expect(r.snapshot?.contentHash).toBe(new ReferenceModel().applyAll(ops).contentHash());
    } finally {
      await executor.close();
      await Promise.all(workers.map((w) => w.proc.stop()));
    }
    expect((await verifyCollection(t.store, 'lines')).ok).toBe(true);
  });
});

describe('BullMQ runner: Redis out of reach', () => {
  it('submitting and starting a worker fail fast with E_QUEUE_UNAVAILABLE, and close() still returns', async () => {
    await using t = await tempStore();
    const redis = `redis://127.0.0.1:${await freePort()}`; // nothing listens there
    const executor = new BullMQExecutor({ redis, store: t.store, connectTimeoutMs: 300 });
    const e = await executor
      .run({ kind: 'chunk', collection: 'lines', run: 'r-test', index: 0, deltas: [] })
      .then(
        () => undefined,
        (x: unknown) => x,
      );
    expect(e).toBeInstanceOf(StrataError);
    expect((e as StrataError).code).toBe(ErrorCodes.QUEUE_UNAVAILABLE);
    expect((e as StrataError).context).toMatchObject({ collection: 'lines', chunk: 0, redis });
    await executor.close();

    const w = await StepWorker.start({ redis, store: t.store, storeSpec: t.dir, connectTimeoutMs: 300 }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect((w as StrataError).code).toBe(ErrorCodes.QUEUE_UNAVAILABLE);
  });
});

describe('CLI: strata compact --runner bullmq', () => {
  it('submits the run to `strata worker` processes and publishes; without --redis it is a usage error', async () => {
    await using t = await tempStore();
    const config = await smallCollection(t.store);
    const ops = upserts(51, 90, 8);
    await ingestBatches(t.store, config, ops, 30);
    const queue = `strata-cli-${randomUUID().slice(0, 8)}`;
    const workers = await startWorkers(server(), { storeDir: t.dir, queue, count: 1 });
    const exitCode = process.exitCode;
    try {
      await main([
        'node',
        'strata',
        '--quiet',
        '--dir',
        t.dir,
        'compact',
        '--runner',
        'bullmq',
        '--redis',
        server().url,
        '--queue',
        queue,
      ]);
      expect(process.exitCode ?? 0).toBe(0);
      const p = await readPointer(t.store, 'lines');
      expect(p?.value).toMatchObject({
        version: 1,
        contentHash: new ReferenceModel().applyAll(ops).contentHash(),
      });

      await main(['node', 'strata', '--quiet', '--dir', t.dir, 'compact', '--runner', 'bullmq']);
      expect(process.exitCode).toBe(2);
    } finally {
      process.exitCode = exitCode;
      await Promise.all(workers.map((w) => w.proc.stop()));
    }
  });
});
