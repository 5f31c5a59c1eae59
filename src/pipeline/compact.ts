/**
 * One compaction run of one collection, under a fenced lease:
 *   pending deltas → chunks → groups → final merge onto the current snapshot → verified → published by CAS.
 * Bad deltas are quarantined alone; a failed group defers itself and everything after it (sequence order is
 * never broken); a moved pointer rebuilds only the final merge; a lost lease publishes nothing.
 */
import { performance } from 'node:perf_hooks';
import {
  ErrorCodes,
  isStrataError,
  type SerializedError,
  type StrataError,
  serializeError,
  toStrataError,
} from '../core/errors.js';
import type { ObjectStore } from '../store/index.js';
import type { StepExecutor } from './executor.js';
import { stepName } from './layout.js';
import type { LeaseOptions } from './lease.js';
import {
  type MergeEvent,
  type MergeMode,
  type MergeOptions,
  type MergeReport,
  mergeCollection,
} from './merges.js';
import {
  beginRun,
  failureOf,
  finalMerge,
  type GroupOutcome,
  groupsFailedError,
  promotion,
  publishRun,
  RUN_DEFAULTS,
  type RunOptions,
  type RunSnapshot,
  recordRunEnd,
  recordRunFailure,
  runGroup,
  writeQuarantine,
} from './run.js';
import type { StepResult, StepTask } from './steps.js';

export type Stage = 'chunks' | 'groups' | 'final' | 'publish' | 'merge';

export type CompactEvent =
  | { type: 'planned'; run: string; deltas: number; chunks: number; groups: number }
  | {
      type: 'step';
      stage: Stage;
      index: number;
      ok: boolean;
      done: number;
      total: number;
      error?: SerializedError;
    }
  | { type: 'quarantined'; seqStart: number; error: SerializedError }
  | { type: 'retry-final'; reason: string }
  | MergeEvent;

export interface CompactOptions extends RunOptions {
  executor: StepExecutor;
  lease?: LeaseOptions;
  /**
   * After publishing: merge segments as the merge policy asks (auto, the default), not at all (none), or
   * down to one segment (all). Merges run as steps on the same executor, under the same lease.
   */
  merge?: MergeMode;
  mergePolicy?: MergeOptions['policy'];
  onEvent?: (e: CompactEvent) => void;
}

export interface CompactReport {
  collection: string;
  run: string;
  status: 'published' | 'nothing-to-do' | 'failed';
  deltas: number;
  chunks: number;
  groups: number;
  groupsSucceeded: number;
  groupsFailed: number;
  /** Deltas promoted by this run. */
  promoted: number;
  quarantined: Array<{ seqStart: number; key: string; error: SerializedError }>;
  failures: Array<{ step: string; error: SerializedError }>;
  snapshot: RunSnapshot | null;
  /** Merges run after the publish (null when none were asked for). */
  merges: MergeReport | null;
  timingsMs: Record<string, number>;
  /** The plan stopped below a delta still being written (its sequence start); later deltas wait. */
  waitingFor?: number;
  /** Peak RSS (MB) of the compactor process and of the busiest step process. */
  peakRssMb: { compactor: number; steps: number };
  error?: SerializedError;
}

export async function compact(
  store: ObjectStore,
  collection: string,
  opts: CompactOptions,
): Promise<CompactReport> {
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const mark = (name: string, since: number) => {
    timings[name] = Math.round(performance.now() - since);
  };
  const emit = opts.onEvent ?? (() => {});
  const begun = await beginRun(store, collection, opts);
  await using lease = begun.lease;
  const { run, plan, record } = begun;
  const report: CompactReport = {
    collection,
    run,
    status: 'nothing-to-do',
    deltas: begun.deltas.length,
    chunks: plan.chunks.length,
    groups: plan.groups.length,
    groupsSucceeded: 0,
    groupsFailed: 0,
    promoted: 0,
    quarantined: [],
    failures: [],
    snapshot: null,
    merges: null,
    timingsMs: timings,
    peakRssMb: { compactor: 0, steps: 0 },
    waitingFor: begun.waitingFor,
  };
  timings.plan = begun.planMs;
  if (!record) {
    mark('total', t0);
    return report;
  }
  emit({ type: 'planned', run, deltas: report.deltas, chunks: report.chunks, groups: report.groups });
  /** Runs a step on the executor, noting the peak RSS of the process that ran it. */
  const step = async (task: StepTask): Promise<StepResult> => {
    const r = await opts.executor.run(task);
    report.peakRssMb.steps = Math.max(report.peakRssMb.steps, r.maxRssMb ?? 0);
    return r;
  };

  try {
    // --- chunks and groups: a group starts as soon as its own chunks are done -------------------------
    const tTree = performance.now();
    const done = { chunks: 0, groups: 0 };
    const total = { chunks: plan.chunks.length, groups: plan.groups.length };
    /** One finished step: its progress event, and on failure the coded error in the report. */
    const finished = (
      stage: 'chunks' | 'groups',
      index: number,
      failure?: unknown,
    ): StrataError | undefined => {
      const kind = stage === 'chunks' ? 'chunk' : 'group';
      const err =
        failure === undefined ? undefined : toStrataError(failure, { collection, run, [kind]: index });
      if (err) report.failures.push({ step: stepName(kind, index), error: serializeError(err) });
      emit({
        type: 'step',
        stage,
        index,
        ok: err === undefined,
        done: ++done[stage],
        total: total[stage],
        ...(err ? { error: serializeError(err) } : {}),
      });
      return err;
    };
    const chunkResults: Array<Promise<StepResult>> = plan.chunks.map((deltas, index) =>
      step({ kind: 'chunk', collection, run, index, deltas }).then(
        (r) => {
          finished('chunks', index);
          return r;
        },
        (e: unknown) => {
          throw finished('chunks', index, e);
        },
      ),
    );
    let groupStart = 0;
    const groupOutcomes = plan.groups.map(async (chunkIdx, index): Promise<GroupOutcome> => {
      const settled = await Promise.allSettled(chunkIdx.map((i) => chunkResults[i]!));
      const failedChunk = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failedChunk) {
        // its failed chunk is already reported; the group itself just did not run
        emit({ type: 'step', stage: 'groups', index, ok: false, done: ++done.groups, total: total.groups });
        return { ok: false, index, ...failureOf(failedChunk.reason) };
      }
      if (groupStart === 0) groupStart = performance.now();
      const results = settled.map((s) => (s as PromiseFulfilledResult<StepResult>).value);
      try {
        const outcome = await runGroup(step, { collection, run, index }, results);
        finished('groups', index);
        return outcome;
      } catch (e) {
        return { ok: false, index, ...failureOf(finished('groups', index, e)) };
      }
    });
    await Promise.allSettled(chunkResults);
    mark('chunks', tTree);
    const groups = await Promise.all(groupOutcomes);
    timings.groups = groupStart ? Math.round(performance.now() - groupStart) : 0;

    // --- quarantine bad deltas (refused alone, with their coded error); promote the longest prefix of
    // --- succeeded groups (sequence order is never broken) ------------------------------------------------
    const promoted = promotion(groups);
    report.groupsSucceeded = promoted.groupsSucceeded;
    report.groupsFailed = promoted.groupsFailed;
    await writeQuarantine(store, collection, run, promoted.quarantine);
    for (const r of promoted.quarantine) {
      report.quarantined.push({ seqStart: r.seqStart, key: r.key, error: r.error });
      emit({ type: 'quarantined', seqStart: r.seqStart, error: r.error });
    }
    const failed = groupsFailedError(promoted, { collection, run });
    if (failed) {
      report.status = 'failed';
      throw failed;
    }
    if (promoted.promote.length > 0) {
      // --- final merge + publish; rebuild on a moved pointer ------------------------------------------
      const tFinal = performance.now();
      const attempts = opts.finalAttempts ?? RUN_DEFAULTS.finalAttempts;
      for (let attempt = 1; !report.snapshot; attempt++) {
        // Do not build an index for a publish that cannot happen.
        await lease.assertHeld();
        const final = await finalMerge(store, step, { collection, run }, promoted);
        emit({ type: 'step', stage: 'final', index: 0, ok: true, done: 1, total: 1 });
        mark('final', tFinal);
        const tPub = performance.now();
        try {
          report.snapshot = await publishRun(store, lease, { collection, run }, final, opts.retain);
          mark('publish', tPub);
          emit({ type: 'step', stage: 'publish', index: 0, ok: true, done: 1, total: 1 });
        } catch (e) {
          if (isStrataError(e, ErrorCodes.POINTER_CONFLICT) && attempt < attempts) {
            emit({ type: 'retry-final', reason: e.message });
            continue;
          }
          throw e;
        }
      }
      report.promoted = promoted.promote.length;
      report.status = 'published';
      // --- background merges the policy asks for on the new version -----------------------------------
      if ((opts.merge ?? 'auto') !== 'none') {
        const tMerge = performance.now();
        report.merges = await mergeCollection(store, collection, lease, {
          step,
          mode: opts.merge ?? 'auto',
          ...(opts.mergePolicy ? { policy: opts.mergePolicy } : {}),
          retain: opts.retain ?? RUN_DEFAULTS.retain,
          onEvent: emit,
        });
        if (report.merges.planned.length > 0) mark('merge', tMerge);
      }
    }
    mark('total', t0);
    report.peakRssMb.compactor = Math.round(process.resourceUsage().maxRSS / 1024);
    await recordRunEnd(store, record, {
      groupsSucceeded: report.groupsSucceeded,
      groupsFailed: report.groupsFailed,
      quarantined: report.quarantined.map((q) => q.seqStart),
      failures: report.failures,
      snapshot: report.snapshot,
      timingsMs: timings,
    }).catch(() => undefined);
    return report;
  } catch (e) {
    const err = toStrataError(e, { collection, run });
    report.status = 'failed';
    report.error = serializeError(err);
    mark('total', t0);
    await recordRunFailure(store, record, report.error, {
      failures: report.failures,
      timingsMs: timings,
    }).catch(() => undefined);
    throw err;
  }
}
