/**
 * The compaction as plain async handlers (event in, result out), one per state of the Step Functions
 * definition (state-machine.ts), so each can be deployed as an AWS Lambda function:
 *
 *   plan → [per group: chunk × n → group] → final → publish
 *        → planMerges → [merge × m] → publishMerges                (abort on any unrecoverable failure)
 *
 * The merge steps are runStep, the same code every runner runs. The run itself is compact()'s, through the
 * same functions (pipeline/run.ts), spread over invocations: a failed group defers itself and every later
 * group; bad deltas are quarantined alone; the pointer swap is fenced by the lease token and conditional on
 * the base the final merge was built on; a moved pointer sends the execution back to the final merge.
 *
 * After the publish, the merges the policy asks for on the version just published run as steps of the same
 * execution, under its lease, through pipeline/merges.ts as mergeCollection runs them: planMerges begins the
 * merge run, each merge is a step (runStep), publishMerges publishes them one after the other (an obsolete
 * merge or a failed step is dropped) and finishes the merge run's record.
 *
 * The lease cannot heartbeat between invocations: Plan takes it with a TTL covering the whole execution
 * (PlanEvent.leaseTtlMs) and an owner unique to the execution; Publish, PlanMerges, PublishMerges and Abort
 * resume it only if that owner still holds it unexpired. It is released where the execution ends: by
 * Publish when no merge phase follows (nothing published, or `merge: 'none'`), by PlanMerges when the
 * policy plans nothing, by PublishMerges after the last merge, by Abort on a failure.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCodes, StrataError } from '../../core/errors.js';
import { stepName } from '../../pipeline/layout.js';
import {
  beginMerges,
  type MergeMode,
  type MergeOutcome,
  publishMergeResults,
  resumeMerges,
} from '../../pipeline/merges.js';
import {
  beginRun,
  finalMerge,
  groupsFailedError,
  promotion,
  publishRun,
  RUN_DEFAULTS,
  type RunSummary,
  recordRunEnd,
  recordRunFailure,
  resumeRunLease,
  runGroup,
  writeQuarantine,
} from '../../pipeline/run.js';
import { type RunRecord, readRunRecord } from '../../pipeline/runs.js';
import { runStep, type StepResult } from '../../pipeline/steps.js';
import { type ObjectStore, openStore } from '../../store/index.js';
import { StepEnvCache } from '../step-env.js';
import { lambdaBoundary, parseCause } from './errors.js';
import type {
  AbortEvent,
  ChunkEvent,
  FinalEvent,
  FinalOutcome,
  GroupEvent,
  GroupOutcome,
  MergePlanResult,
  MergeStepEvent,
  MergeStepOutcome,
  PlanEvent,
  PlanMergesEvent,
  PlanResult,
  PublishEvent,
  PublishMergesEvent,
  PublishResult,
  RunState,
} from './events.js';

const DEFAULT_LEASE_TTL_MS = 30 * 60_000;

async function withStore<T>(storeSpec: string, fn: (store: ObjectStore) => Promise<T>): Promise<T> {
  const store = await openStore(storeSpec);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

async function step(store: ObjectStore, task: Parameters<typeof runStep>[1]): Promise<StepResult> {
  return runStep(
    await new StepEnvCache(store, undefined, `strata-lambda@${process.pid}`).env(task.collection),
    task,
  );
}

/** A run's record as written, updated by `end` (nothing if the record is not there). */
async function endRunRecord(
  store: ObjectStore,
  collection: string,
  run: string,
  end: (record: RunRecord) => Promise<void>,
): Promise<void> {
  const record = await readRunRecord(store, collection, run);
  if (record) await end(record);
}

const MERGE_MODES: readonly MergeMode[] = ['auto', 'none', 'all'];

/** Plan: take the lease, read the ledger, cut the pending deltas into chunks and groups. */
export function plan(event: PlanEvent): Promise<PlanResult> {
  return lambdaBoundary(() =>
    withStore(event.storeSpec, async (store) => {
      const merge = event.merge ?? 'auto';
      if (!MERGE_MODES.includes(merge)) {
        throw new StrataError(ErrorCodes.USAGE, `merge must be one of ${MERGE_MODES.join(', ')}`, {
          collection: event.collection,
          merge,
        });
      }
      const begun = await beginRun(store, event.collection, {
        ...event,
        lease: (run) => ({
          owner: `sfn-${run}-${randomUUID().slice(0, 8)}`,
          ttlMs: event.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS,
          heartbeatMs: 0,
        }),
      });
      const { run, lease, plan: tree } = begun;
      return {
        storeSpec: event.storeSpec,
        collection: event.collection,
        run,
        lease: { owner: lease.owner, token: lease.token },
        retain: event.retain ?? RUN_DEFAULTS.retain,
        finalAttempts: event.finalAttempts ?? RUN_DEFAULTS.finalAttempts,
        merge,
        ...(event.mergePolicy ? { mergePolicy: event.mergePolicy } : {}),
        empty: begun.deltas.length === 0,
        deltas: begun.deltas.length,
        groups: tree.groups.map((chunkIdx, index) => ({
          index,
          chunks: chunkIdx.map((i) => ({
            kind: 'chunk' as const,
            collection: event.collection,
            run,
            index: i,
            deltas: tree.chunks[i]!,
          })),
        })),
      };
    }),
  );
}

/** One chunk merge: deltas → an intermediate segment (bad deltas are refused alone, in the result). */
export function chunk(event: ChunkEvent): Promise<StepResult> {
  return lambdaBoundary(() => withStore(event.storeSpec, (store) => step(store, event.task)));
}

/** One group merge over its chunks' outputs. */
export function group(event: GroupEvent): Promise<GroupOutcome> {
  return lambdaBoundary(() =>
    withStore(event.storeSpec, (store) => runGroup((task) => step(store, task), event, event.chunkResults)),
  );
}

/** The final merge onto the current snapshot, over the longest prefix of succeeded groups. */
export function final(event: FinalEvent): Promise<FinalOutcome> {
  return lambdaBoundary(() =>
    withStore(event.storeSpec, async (store) => {
      const attempt = (event.final?.attempt ?? 0) + 1;
      const ids = { collection: event.collection, run: event.run };
      if (attempt > event.finalAttempts) {
        throw new StrataError(
          ErrorCodes.STEP_FAILED,
          `the pointer moved under the final merge ${event.finalAttempts} times; giving up (the deltas stay pending)`,
          { ...ids, retryable: false, reason: event.conflict?.Error },
        );
      }
      const p = promotion(event.groupResults);
      const failed = groupsFailedError(p, ids);
      if (failed) throw failed.withContext({ retryable: false });
      const { promote, quarantine, groupsFailed } = p;
      if (promote.length === 0) {
        return { attempt, base: null, result: null, promote, quarantine, groupsFailed };
      }
      const { base, result } = await finalMerge(store, (task) => step(store, task), ids, p);
      return { attempt, base: base ?? null, result, promote, quarantine, groupsFailed };
    }),
  );
}

/**
 * Publish and update the ledger: quarantine markers for refused deltas, the fenced pointer swap (the
 * ledger is derived from it: promoted = in the pointer's snapshot), the run record. The lease is released
 * here unless the merge phase follows (`mergesNext`: something was published and merges are not off).
 * A moved pointer throws E_POINTER_CONFLICT (the state machine goes back to the final merge).
 */
export function publish(event: PublishEvent): Promise<PublishResult> {
  return lambdaBoundary(() =>
    withStore(event.storeSpec, async (store) => {
      const lease = await resumeRunLease(store, event);
      const f = event.final;
      await writeQuarantine(store, event.collection, event.run, f.quarantine);
      const snapshot = f.result?.version
        ? await publishRun(store, lease, event, { base: f.base ?? undefined, result: f.result }, event.retain)
        : null;
      const summary: RunSummary = {
        groupsSucceeded: event.groupResults.filter((g) => g.ok).length,
        groupsFailed: f.groupsFailed,
        quarantined: f.quarantine.map((q) => q.seqStart),
        failures: event.groupResults.flatMap((g) =>
          g.ok
            ? []
            : [
                {
                  step: stepName('group', g.index),
                  error: {
                    name: 'StrataError',
                    ...parseCause(g.error ?? ErrorCodes.STEP_FAILED, g.cause),
                    context: { group: g.index },
                  },
                },
              ],
        ),
        snapshot,
      };
      await endRunRecord(store, event.collection, event.run, (record) =>
        recordRunEnd(store, record, summary),
      );
      const mergesNext = snapshot !== null && (event.merge ?? 'auto') !== 'none';
      if (!mergesNext) await lease.release();
      return {
        status: snapshot ? 'published' : 'nothing-to-do',
        snapshot: snapshot && {
          version: snapshot.version,
          prefix: snapshot.prefix,
          count: snapshot.count,
          contentHash: snapshot.contentHash,
        },
        promoted: snapshot ? f.promote.length : 0,
        quarantined: summary.quarantined,
        groupsFailed: f.groupsFailed,
        mergesNext,
      };
    }),
  );
}

/**
 * Plans the merges the policy (or `merge`) asks for on the version just published, under the execution's
 * lease, and begins the merge run (its record, 'running'). Nothing to merge: the lease is released and the
 * execution ends.
 */
export function planMerges(event: PlanMergesEvent): Promise<MergePlanResult> {
  return lambdaBoundary(() =>
    withStore(event.storeSpec, async (store) => {
      const lease = await resumeRunLease(store, event);
      const m = await beginMerges(store, event.collection, lease, {
        mode: event.merge ?? 'auto',
        ...(event.mergePolicy ? { policy: event.mergePolicy } : {}),
      });
      if (!m) {
        await lease.release();
        return { run: null, base: null, tasks: [], count: 0 };
      }
      return { run: m.run, base: m.base, tasks: m.tasks, count: m.tasks.length };
    }),
  );
}

/** One merge step: some segments of the base version → one merged segment and its key map. */
export function merge(event: MergeStepEvent): Promise<MergeStepOutcome> {
  return lambdaBoundary(() =>
    withStore(event.storeSpec, async (store) => ({
      ok: true as const,
      index: event.task.index,
      result: await step(store, event.task),
    })),
  );
}

/**
 * Publishes the merge steps' results one after the other (each rebased onto the deletions made since its
 * base; an obsolete merge or a failed step is dropped, not a failure), finishes the merge run's record and
 * releases the lease: the execution ends here.
 */
export function publishMerges(event: PublishMergesEvent): Promise<PublishResult['merges']> {
  return lambdaBoundary(() =>
    withStore(event.storeSpec, async (store) => {
      const { collection } = event;
      const { run, base, tasks } = event.merging;
      if (!run || !base) {
        throw new StrataError(ErrorCodes.INTERNAL, 'publishMerges without a merge run', {
          collection,
          run: event.run,
          retryable: false,
        });
      }
      const lease = await resumeRunLease(store, event);
      const m = await resumeMerges(store, lease, { collection, run, base, tasks });
      const outcomes: MergeOutcome[] = event.mergeResults.map((o) =>
        o.ok
          ? o
          : {
              ok: false,
              index: o.index,
              error: {
                name: 'StrataError',
                ...parseCause(o.error ?? ErrorCodes.STEP_FAILED, o.cause),
                context: { collection, run, merge: o.index },
              },
            },
      );
      const report = await publishMergeResults(store, lease, m, outcomes, { retain: event.retain });
      await lease.release();
      return report;
    }),
  );
}

/**
 * The run failed: record why, and give the lease back if this execution still holds it. A failure after
 * Publish is the merge phase's: the run record (final by then, the version published) stays, the merge
 * run's record (if PlanMerges began one) records the failure.
 */
export function abort(event: AbortEvent): Promise<{ status: 'failed'; code: string; message: string }> {
  return lambdaBoundary(async () => {
    const why = event.error
      ? parseCause(event.error.Error, event.error.Cause)
      : { code: ErrorCodes.STEP_FAILED, message: 'aborted' };
    if (!event.storeSpec || !event.collection || !event.run || !event.lease)
      return { status: 'failed', ...why };
    const s = event as RunState;
    await withStore(s.storeSpec, async (store) => {
      const failed = (run: string) =>
        endRunRecord(store, s.collection, run, (record) =>
          recordRunFailure(store, record, {
            name: 'StrataError',
            code: why.code,
            message: why.message,
            context: { collection: s.collection, run },
          }),
        );
      if (!event.published) await failed(s.run);
      if (event.merging?.run) await failed(event.merging.run);
      const lease = await resumeRunLease(store, s).catch(() => undefined);
      await lease?.release();
    });
    return { status: 'failed', ...why };
  });
}

/** Every handler by step name (the state machine's Task names map onto these). */
export const handlers = {
  plan,
  chunk,
  group,
  final,
  publish,
  planMerges,
  merge,
  publishMerges,
  abort,
} as const;
export type StepName = keyof typeof handlers;
