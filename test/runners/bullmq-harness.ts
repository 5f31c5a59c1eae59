/**
 * Test harness for the BullMQ runner: a real redis-server (test/servers/redis.ts) and real `strata worker`
 * processes started through the CLI, each on its own queue per test so tests never see each other's jobs.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { OwnedProcess } from '../../src/core/child-process.js';
import { BullMQExecutor, type BullMQExecutorOptions } from '../../src/runners/bullmq/executor.js';
import { LocalStore } from '../../src/store/local-store.js';
import type { RedisTestServer } from '../servers/redis.js';
import type { RunnerHarness, RunnerUnderTest } from './conformance.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface WorkerProcess {
  proc: OwnedProcess;
  pid: number;
}

/** Starts `strata worker` processes and waits until each has said it is ready. */
export async function startWorkers(
  redis: RedisTestServer,
  o: { storeDir: string; queue: string; count: number; env?: NodeJS.ProcessEnv },
): Promise<WorkerProcess[]> {
  const workers = Array.from({ length: o.count }, (_, i) => {
    const proc = new OwnedProcess(
      `strata worker ${i}`,
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/bin.ts',
        '--json',
        '--dir',
        o.storeDir,
        'worker',
        '--redis',
        redis.url,
        '--queue',
        o.queue,
        '--concurrency',
        '1',
        '--threads',
        '1',
        '--lock-duration',
        '3s',
        '--stalled-interval',
        '1s',
      ],
      { cwd: root, env: { ...process.env, ...o.env } },
    );
    return { proc, pid: proc.child.pid ?? 0 };
  });
  try {
    await Promise.all(
      workers.map(async (w) => {
        const r = await w.proc.waitForOutput(/"ready": true/, 30_000);
        if (r.ok) return;
        throw new Error(
          r.reason === 'exited'
            ? `${w.proc.name}: exited before it was ready: ${w.proc.output}`
            : `${w.proc.name}: not ready after 30000 ms`,
        );
      }),
    );
  } catch (e) {
    await Promise.all(workers.map((w) => w.proc.stop()));
    throw e;
  }
  return workers;
}

/** Connections the executor holds: its named submit connection and its queue-events connection. */
export async function submitterConnections(redis: RedisTestServer, queue: string): Promise<number> {
  const c = redis.client();
  try {
    const names = String(await c.client('LIST'))
      .split('\n')
      .map((l) => / name=(\S*)/.exec(l)?.[1] ?? '');
    const qe = `bull:${Buffer.from(queue).toString('base64')}:qe`;
    return names.filter((n) => n.startsWith('strata-submit@') || n === qe).length;
  } finally {
    c.disconnect();
  }
}

export function bullmqHarness(
  redis: () => RedisTestServer,
  workers = 2,
  extra: Partial<BullMQExecutorOptions> = {},
): RunnerHarness {
  return {
    name: `BullMQ on redis-server, ${workers} worker processes`,
    async open({ storeDir, attempts, env }): Promise<RunnerUnderTest> {
      const queue = `strata-test-${randomUUID().slice(0, 8)}`;
      const procs = await startWorkers(redis(), { storeDir, queue, count: workers, env });
      const store = await LocalStore.open(storeDir);
      const executor = new BullMQExecutor({
        redis: redis().url,
        store,
        queue,
        concurrency: workers,
        retry: { attempts, baseMs: 20 },
        ...extra,
      });
      return {
        executor,
        held: () => submitterConnections(redis(), queue),
        stop: async () => {
          await executor.close();
          await store.close();
          await Promise.all(procs.map((p) => p.proc.stop()));
        },
      };
    },
  };
}
