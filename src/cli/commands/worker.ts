/** strata worker: serve compaction steps from a BullMQ queue on Redis until SIGINT/SIGTERM. */
import { once } from 'node:events';
import type { Command } from 'commander';
import { DEFAULT_QUEUE, redactRedisUrl, StepWorker } from '../../runners/index.js';
import { type CliContext, parseDuration, parseIntOption } from '../context.js';

export function registerWorker(program: Command, ctx: () => CliContext): void {
  program
    .command('worker')
    .description(
      'run compaction steps submitted with `strata compact --runner bullmq` (any machine that reaches the store)',
    )
    .requiredOption('--redis <url>', 'Redis URL, e.g. redis://127.0.0.1:6379')
    .option('--queue <name>', 'queue name', DEFAULT_QUEUE)
    .option('--concurrency <n>', 'steps run at once in this process', parseIntOption('--concurrency'), 1)
    .option(
      '--threads <n>',
      'index-build threads per step (default: cores / concurrency)',
      parseIntOption('--threads'),
    )
    .option('--lock-duration <duration>', "a dead worker's job is taken over after about this long", '30s')
    .option('--stalled-interval <duration>', 'how often to look for jobs of dead workers', '30s')
    .action(
      async (o: {
        redis: string;
        queue: string;
        concurrency: number;
        threads?: number;
        lockDuration: string;
        stalledInterval: string;
      }) => {
        const c = ctx();
        const store = await c.openStore();
        try {
          const worker = await StepWorker.start({
            redis: o.redis,
            store,
            storeSpec: c.storeSpec,
            queue: o.queue,
            concurrency: o.concurrency,
            threads: o.threads,
            lockDurationMs: parseDuration(o.lockDuration),
            stalledIntervalMs: parseDuration(o.stalledInterval),
            onJob: (e) => c.logger.debug({ ...e, worker: worker.name }, `${e.kind} step ${e.type}`),
          });
          const ready = {
            ready: true,
            worker: worker.name,
            pid: process.pid,
            queue: o.queue,
            redis: redactRedisUrl(o.redis),
            store: store.url,
          };
          c.out(ready, () => `${worker.name} ready: queue ${o.queue} on ${ready.redis}, store ${store.url}`);
          const ac = new AbortController();
          const signal = await Promise.race([
            once(process, 'SIGINT', { signal: ac.signal }).then(() => 'SIGINT'),
            once(process, 'SIGTERM', { signal: ac.signal }).then(() => 'SIGTERM'),
          ]);
          ac.abort();
          c.logger.info({ signal }, 'stopping: letting running steps finish');
          await worker.close();
        } finally {
          await store.close();
        }
      },
    );
}
