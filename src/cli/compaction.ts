import { availableParallelism } from 'node:os';
import { UsageError } from '../core/errors.js';
import { type CompactOptions, type CompactReport, compact } from '../pipeline/compact.js';
import type { StepExecutor } from '../pipeline/executor.js';
import { StepJournal } from '../pipeline/step-journal.js';
import { BullMQExecutor } from '../runners/bullmq/executor.js';
import { InlineExecutor } from '../runners/inline.js';
import { LocalPoolExecutor } from '../runners/local/pool.js';
import type { ObjectStore } from '../store/object-store.js';
import type { CliContext } from './context.js';

export interface CompactionCliOptions {
  runner?: 'local' | 'inline' | 'bullmq';
  /** --runner bullmq: the Redis URL and queue the workers serve. */
  redis?: string;
  queue?: string;
  concurrency?: number;
  chunkSize?: number;
  groupSize?: number;
  maxDeltas?: number;
  leaseTtlMs?: number;
  leaseWaitMs?: number;
  inFlightMs?: number;
  retain?: number;
}

/** The runner for these options; every step it runs is journaled (the Console's run timeline). */
export function createExecutor(ctx: CliContext, store: ObjectStore, o: CompactionCliOptions): StepExecutor {
  const journal = new StepJournal(store);
  return journal.wrap(createRunner(ctx, store, o, journal));
}

function createRunner(
  ctx: CliContext,
  store: ObjectStore,
  o: CompactionCliOptions,
  journal: StepJournal,
): StepExecutor {
  if (o.runner === 'inline') return new InlineExecutor(store);
  if (o.runner === 'bullmq') {
    if (!o.redis)
      throw new UsageError('--runner bullmq needs --redis URL (and `strata worker` processes serving it)');
    return new BullMQExecutor({
      redis: o.redis,
      queue: o.queue,
      storeUrl: store.url,
      concurrency: o.concurrency,
    });
  }
  if (o.runner !== undefined && o.runner !== 'local')
    throw new UsageError(`unknown runner ${o.runner} (local | inline | bullmq)`);
  return new LocalPoolExecutor({
    store: ctx.storeSpec,
    concurrency: o.concurrency ?? availableParallelism(),
    onRetry: (task, e, n) => {
      journal.onRetry(task, e, n);
      ctx.progress.log(`retrying ${task.kind} step after attempt ${n}: ${e.describe()}`, { code: e.code });
    },
  });
}

/** Runs one compaction with progress wired to the CLI's display. */
export async function runCompaction(
  ctx: CliContext,
  store: ObjectStore,
  collection: string,
  o: CompactionCliOptions,
): Promise<CompactReport> {
  await using exec = Object.assign(createExecutor(ctx, store, o), {
    async [Symbol.asyncDispose](this: StepExecutor) {
      await this.close();
    },
  });
  const p = ctx.progress;
  const copts: CompactOptions = {
    executor: exec,
    chunkSize: o.chunkSize,
    groupSize: o.groupSize,
    maxDeltas: o.maxDeltas,
    retain: o.retain,
    inFlightMs: o.inFlightMs,
    lease: {
      ...(o.leaseTtlMs ? { ttlMs: o.leaseTtlMs } : {}),
      ...(o.leaseWaitMs ? { waitMs: o.leaseWaitMs } : {}),
    },
    onEvent: (e) => {
      switch (e.type) {
        case 'planned':
          p.log(`run ${e.run}: ${e.deltas} deltas → ${e.chunks} chunks → ${e.groups} groups → final merge`, {
            run: e.run,
            collection,
          });
          p.stage('chunks', e.chunks);
          p.stage('groups', e.groups);
          p.stage('final', 1);
          break;
        case 'step':
          p.tick(e.stage === 'publish' ? 'final' : e.stage, e.done, e.total, e.ok ? undefined : 'failures');
          if (!e.ok && e.error) p.log(`${e.stage} ${e.index} failed: ${e.error.code}: ${e.error.message}`);
          break;
        case 'quarantined':
          p.log(`quarantined delta ${e.seqStart}: ${e.error.code}: ${e.error.message}`, {
            code: e.error.code,
          });
          break;
        case 'retry-final':
          p.log(`pointer moved; rebuilding the final merge (${e.reason})`);
          break;
      }
    },
  };
  try {
    return await compact(store, collection, copts);
  } finally {
    p.done();
  }
}
