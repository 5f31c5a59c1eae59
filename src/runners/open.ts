/**
 * Opens a step executor by runner name, as openStore opens a store by its spec: the one place that knows
 * every runner. The CLI's `--runner` and `strata serve`'s background compaction go through it.
 *
 *   local    worker processes on this machine; they open the store themselves, from its spec
 *   inline   this process, one step at a time
 *   bullmq   `strata worker` processes anywhere, through a queue on Redis (loaded on demand)
 */
import { type StrataError, UsageError } from '../core/errors.js';
import type { StepExecutor } from '../pipeline/executor.js';
import type { StepTask } from '../pipeline/steps.js';
import { type ObjectStore, openStore } from '../store/index.js';
import { InlineExecutor } from './inline.js';
import { LocalPoolExecutor } from './local/pool.js';
import type { RetryPolicy } from './retry-policy.js';

export const RUNNERS = ['local', 'inline', 'bullmq'] as const;
export type Runner = (typeof RUNNERS)[number];

export interface OpenExecutorOptions {
  /**
   * The store the steps read and write (not owned). The inline runner runs them on it; the bullmq runner
   * names it to its workers by its url.
   */
  store?: ObjectStore;
  /**
   * How that store is opened, as openStore takes it. The local runner's worker processes open it (default:
   * `store.url`); the inline and bullmq runners given no `store` open it themselves, and close it with the
   * executor.
   */
  storeSpec?: string;
  /** local: worker processes (default: cores); bullmq: how many steps the worker fleet runs at once. */
  concurrency?: number;
  /** inline, local: index-build threads per step. */
  threads?: number;
  retry?: Partial<RetryPolicy>;
  /** local: a step failed (its process crashed, timed out or threw) and is tried again. */
  onRetry?: (task: StepTask, error: StrataError, attempt: number) => void;
  /** bullmq: the Redis URL the workers serve (required) and the queue. */
  redis?: string;
  queue?: string;
}

export type OpenedExecutor = StepExecutor & AsyncDisposable;

export async function openExecutor(runner: Runner, o: OpenExecutorOptions): Promise<OpenedExecutor> {
  switch (runner) {
    case 'local': {
      const storeSpec = o.storeSpec ?? o.store?.url;
      if (storeSpec === undefined)
        throw new UsageError('the local runner needs the store spec its workers open');
      return new LocalPoolExecutor({
        storeSpec,
        concurrency: o.concurrency,
        threads: o.threads,
        retry: o.retry,
        onRetry: o.onRetry,
      });
    }
    case 'inline':
      return onStore(o, (store) => new InlineExecutor(store, { threads: o.threads, retry: o.retry }));
    case 'bullmq': {
      const redis = o.redis;
      if (!redis)
        throw new UsageError('--runner bullmq needs --redis URL (and `strata worker` processes serving it)');
      // loaded on demand: only the bullmq runner pays for bullmq and ioredis
      const { BullMQExecutor } = await import('./bullmq/executor.js');
      return onStore(
        o,
        (store) =>
          new BullMQExecutor({ redis, store, queue: o.queue, concurrency: o.concurrency, retry: o.retry }),
      );
    }
    default:
      throw new UsageError(`unknown runner ${String(runner)} (${RUNNERS.join(' | ')})`);
  }
}

/** An executor over `o.store`, or over a store it opens from `o.storeSpec` and closes when it closes. */
async function onStore(
  o: OpenExecutorOptions,
  make: (store: ObjectStore) => OpenedExecutor,
): Promise<OpenedExecutor> {
  if (o.store) return make(o.store);
  if (o.storeSpec === undefined) throw new UsageError('an executor needs a store or a store spec');
  const store = await openStore(o.storeSpec);
  let exec: OpenedExecutor;
  try {
    exec = make(store);
  } catch (e) {
    await store.close();
    throw e;
  }
  const close = async () => {
    try {
      await exec.close();
    } finally {
      await store.close();
    }
  };
  return {
    name: exec.name,
    concurrency: exec.concurrency,
    run: (task) => exec.run(task),
    close,
    [Symbol.asyncDispose]: close,
  };
}
