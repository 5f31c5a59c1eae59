import { type CompactOptions, type CompactReport, compact } from '../pipeline/compact.js';
import { openExecutor, type Runner } from '../runners/open.js';
import type { ObjectStore } from '../store/object-store.js';
import type { CliContext } from './context.js';

export interface CompactionCliOptions {
  runner?: Runner;
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

/** Runs one compaction with progress wired to the CLI's display. */
export async function runCompaction(
  ctx: CliContext,
  store: ObjectStore,
  collection: string,
  o: CompactionCliOptions,
): Promise<CompactReport> {
  const p = ctx.progress;
  await using exec = await openExecutor(o.runner ?? 'local', {
    store,
    storeSpec: ctx.storeSpec,
    concurrency: o.concurrency,
    redis: o.redis,
    queue: o.queue,
    onRetry: (task, e, n) =>
      p.log(`retrying ${task.kind} step after attempt ${n}: ${e.describe()}`, { code: e.code }),
  });
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
