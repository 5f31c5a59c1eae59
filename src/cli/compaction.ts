import { type CompactOptions, type CompactReport, compact } from '../pipeline/compact.js';
import { type MergeEvent, type MergeMode, type MergeReport, mergeCollection } from '../pipeline/merges.js';
import { StepJournal } from '../pipeline/step-journal.js';
import { openExecutor, type Runner } from '../runners/index.js';
import type { ObjectStore } from '../store/index.js';
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
  /** After publishing: merges the policy asks for (auto), none, or down to one segment (all). */
  merge?: MergeMode;
}

function mergeEventLogger(ctx: CliContext): (e: MergeEvent) => void {
  const p = ctx.progress;
  return (e) => {
    switch (e.type) {
      case 'merge-planned':
        p.log(`merge run ${e.run}: ${e.merges} merge(s) over ${e.segments} segments`, { run: e.run });
        p.stage('merge', e.merges);
        break;
      case 'merge-step':
        p.log(
          e.ok
            ? `merge ${e.index}: ${e.inputs} segments, ${e.rows} rows, ${e.build} graph, ${e.ms} ms`
            : `merge ${e.index} failed: ${e.error?.code}: ${e.error?.message}`,
        );
        break;
      case 'merge-published':
        p.tick('merge', e.index + 1, e.index + 1);
        p.log(
          `merge ${e.index} published as version ${e.version}${e.rebased ? ' (rebased onto newer deletions)' : ''}`,
        );
        break;
      case 'merge-dropped':
        p.log(`merge ${e.index} dropped: ${e.reason}`);
        break;
    }
  };
}

/** Runs one compaction with progress wired to the CLI's display. */
export async function runCompaction(
  ctx: CliContext,
  store: ObjectStore,
  collection: string,
  o: CompactionCliOptions,
): Promise<CompactReport> {
  const p = ctx.progress;
  // every step is journaled: the Console's run timeline
  const journal = new StepJournal(store);
  await using runner = await openExecutor(o.runner ?? 'local', {
    store,
    storeSpec: ctx.storeSpec,
    concurrency: o.concurrency,
    redis: o.redis,
    queue: o.queue,
    onRetry: (task, e, n) => {
      journal.onRetry(task, e, n);
      p.log(`retrying ${task.kind} step after attempt ${n}: ${e.describe()}`, { code: e.code });
    },
  });
  const exec = journal.wrap(runner);
  const mergeLog = mergeEventLogger(ctx);
  const copts: CompactOptions = {
    executor: exec,
    chunkSize: o.chunkSize,
    groupSize: o.groupSize,
    maxDeltas: o.maxDeltas,
    retain: o.retain,
    inFlightMs: o.inFlightMs,
    ...(o.merge ? { merge: o.merge } : {}),
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
          p.log(`pointer moved; redoing the final step (${e.reason})`);
          break;
        default:
          mergeLog(e);
      }
    },
  };
  try {
    return await compact(store, collection, copts);
  } finally {
    p.done();
  }
}

/** `strata optimize` / merges on demand: the merges `mode` asks for, under the collection's lease. */
export async function runMerges(
  ctx: CliContext,
  store: ObjectStore,
  collection: string,
  o: CompactionCliOptions & { mode: MergeMode },
): Promise<MergeReport> {
  const journal = new StepJournal(store);
  await using runner = await openExecutor(o.runner ?? 'local', {
    store,
    storeSpec: ctx.storeSpec,
    concurrency: o.concurrency,
    redis: o.redis,
    queue: o.queue,
    onRetry: journal.onRetry,
  });
  const exec = journal.wrap(runner);
  try {
    // the merge steps run without the lease (they read only immutable segments); each publish takes it
    const lease = {
      ...(o.leaseTtlMs ? { ttlMs: o.leaseTtlMs } : {}),
      waitMs: o.leaseWaitMs || 60_000,
    };
    return await mergeCollection(store, collection, lease, {
      step: (t) => exec.run(t),
      mode: o.mode,
      ...(o.retain ? { retain: o.retain } : {}),
      onEvent: mergeEventLogger(ctx),
    });
  } finally {
    ctx.progress.done();
  }
}
