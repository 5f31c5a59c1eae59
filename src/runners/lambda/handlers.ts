/**
 * The compaction as plain async handlers (event in, result out), one per state of the Step Functions
 * definition (state-machine.ts), so each can be deployed as an AWS Lambda function:
 *
 *   plan → [per group: chunk × n → group] → final → publish        (abort on any unrecoverable failure)
 *
 * The merge steps are runStep, the same code every runner runs. The orchestration rules are compact()'s
 * (pipeline/compact.ts), spread over invocations: a failed group defers itself and every later group; bad
 * deltas are quarantined alone; the pointer swap is fenced by the lease token and conditional on the base
 * the final merge was built on; a moved pointer sends the execution back to the final merge.
 *
 * The lease cannot heartbeat between invocations: Plan takes it with a TTL covering the whole execution
 * (PlanEvent.leaseTtlMs) and an owner unique to the execution; Publish and Abort resume it only if that
 * owner still holds it unexpired.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCodes, LeaseError, StrataError } from '../../core/errors.js';
import { getCollection } from '../../pipeline/collections.js';
import { Lease, readLease } from '../../pipeline/lease.js';
import { readLedger } from '../../pipeline/ledger.js';
import { promotion, writeQuarantine } from '../../pipeline/outcome.js';
import { planTree } from '../../pipeline/plan.js';
import { baseRefOf, readPointer } from '../../pipeline/pointer.js';
import { promotableDeltas } from '../../pipeline/promotable.js';
import { publishSnapshot } from '../../pipeline/publish.js';
import { newRunId, type RunRecord, readRunRecord, writeRunRecord } from '../../pipeline/runs.js';
import type { SegmentRef } from '../../pipeline/segments.js';
import { type DeltaRef, runStep, type StepResult } from '../../pipeline/steps.js';
import type { ObjectStore } from '../../store/object-store.js';
import { openStore } from '../../store/open.js';
import { StepEnvCache } from '../step-env.js';
import { lambdaBoundary, parseCause } from './errors.js';
import type {
  AbortEvent,
  ChunkEvent,
  FinalEvent,
  FinalOutcome,
  GroupEvent,
  GroupOutcome,
  PlanEvent,
  PlanResult,
  PublishEvent,
  PublishResult,
  RunState,
} from './events.js';

const DEFAULT_LEASE_TTL_MS = 30 * 60_000;

async function withStore<T>(spec: string, fn: (store: ObjectStore) => Promise<T>): Promise<T> {
  const store = await openStore(spec);
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

/**
 * Takes the lease back for this execution: only if its own owner (unique per execution) still holds it,
 * unreleased and unexpired. Re-acquiring as the same owner raises the token, which only strengthens fencing.
 */
async function resumeLease(store: ObjectStore, s: RunState): Promise<Lease> {
  const cur = await readLease(store, s.collection);
  const now = Date.now();
  if (
    !cur ||
    cur.owner !== s.lease.owner ||
    cur.token < s.lease.token ||
    cur.released ||
    cur.expiresAt <= now
  ) {
    throw new LeaseError(
      ErrorCodes.LEASE_LOST,
      `execution ${s.run} no longer holds the lease on ${s.collection}`,
      {
        collection: s.collection,
        run: s.run,
        owner: s.lease.owner,
        token: s.lease.token,
      },
    );
  }
  return Lease.acquire(store, s.collection, {
    owner: s.lease.owner,
    ttlMs: Math.max(60_000, cur.expiresAt - now),
    heartbeatMs: 0,
  });
}

async function updateRunRecord(store: ObjectStore, s: RunState, patch: Partial<RunRecord>): Promise<void> {
  const cur = await readRunRecord(store, s.collection, s.run);
  if (!cur) return;
  await writeRunRecord(store, { ...cur, ...patch, finishedAt: new Date().toISOString() });
}

/** Plan: take the lease, read the ledger, cut the pending deltas into chunks and groups. */
export function plan(event: PlanEvent): Promise<PlanResult> {
  return lambdaBoundary(() =>
    withStore(event.store, async (store) => {
      await getCollection(store, event.collection);
      const run = newRunId();
      const lease = await Lease.acquire(store, event.collection, {
        owner: `sfn-${run}-${randomUUID().slice(0, 8)}`,
        ttlMs: event.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS,
        heartbeatMs: 0,
      });
      try {
        const ledger = await readLedger(store, event.collection);
        let pending: DeltaRef[] = (await promotableDeltas(store, ledger)).deltas;
        if (event.maxDeltas !== undefined) pending = pending.slice(0, event.maxDeltas);
        const tree = planTree(pending, { chunkSize: event.chunkSize, groupSize: event.groupSize });
        const state: PlanResult = {
          store: event.store,
          collection: event.collection,
          run,
          lease: { owner: lease.owner, token: lease.token },
          retain: event.retain ?? 4,
          ...(event.incrementalThreshold !== undefined
            ? { incrementalThreshold: event.incrementalThreshold }
            : {}),
          finalAttempts: event.finalAttempts ?? 3,
          empty: pending.length === 0,
          deltas: pending.length,
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
        if (state.empty) {
          await lease.release();
          return state;
        }
        await writeRunRecord(store, {
          run,
          collection: event.collection,
          status: 'running',
          owner: lease.owner,
          token: lease.token,
          startedAt: new Date().toISOString(),
          deltas: pending.map((d) => d.seqStart),
          chunks: tree.chunks.length,
          groups: tree.groups.length,
        });
        return state;
      } catch (e) {
        await lease.release();
        throw e;
      }
    }),
  );
}

/** One chunk merge: deltas → an intermediate segment (bad deltas are refused alone, in the result). */
export function chunk(event: ChunkEvent): Promise<StepResult> {
  return lambdaBoundary(() => withStore(event.store, (store) => step(store, event.task)));
}

/** One group merge over its chunks' outputs. */
export function group(event: GroupEvent): Promise<GroupOutcome> {
  return lambdaBoundary(() =>
    withStore(event.store, async (store) => {
      const results = [...event.chunkResults].sort((a, b) => a.index - b.index);
      const inputs = results.map((r) => r.segment).filter((s): s is SegmentRef => s !== null);
      const included = results.flatMap((r) => r.included);
      const rejected = results.flatMap((r) => r.rejected.map((x) => ({ ...x, chunk: r.index })));
      const segment =
        inputs.length === 0
          ? null
          : (
              await step(store, {
                kind: 'group',
                collection: event.collection,
                run: event.run,
                index: event.index,
                inputs,
              })
            ).segment;
      return { ok: true, index: event.index, segment, included, rejected };
    }),
  );
}

/** The final merge onto the current snapshot, over the longest prefix of succeeded groups. */
export function final(event: FinalEvent): Promise<FinalOutcome> {
  return lambdaBoundary(() =>
    withStore(event.store, async (store) => {
      const attempt = (event.final?.attempt ?? 0) + 1;
      const ctx = { collection: event.collection, run: event.run };
      if (attempt > event.finalAttempts) {
        throw new StrataError(
          ErrorCodes.STEP_FAILED,
          `the pointer moved under the final merge ${event.finalAttempts} times; giving up (the deltas stay pending)`,
          { ...ctx, retryable: false, reason: event.conflict?.Error },
        );
      }
      const groups = event.groupResults;
      const { inputs, promote, quarantine, groupsFailed } = promotion(groups);
      if (promote.length === 0) {
        if (groupsFailed > 0) {
          throw new StrataError(
            ErrorCodes.STEP_FAILED,
            `${groupsFailed} of ${groups.length} groups failed; nothing to publish`,
            {
              ...ctx,
              retryable: false,
            },
          );
        }
        return { attempt, base: null, result: null, promote, quarantine, groupsFailed };
      }
      const base = (await readPointer(store, event.collection)) ?? null;
      const result = await step(store, {
        kind: 'final',
        collection: event.collection,
        run: event.run,
        inputs,
        base: baseRefOf(base),
        promote,
        incrementalThreshold: event.incrementalThreshold,
      });
      return { attempt, base, result, promote, quarantine, groupsFailed };
    }),
  );
}

/**
 * Publish and update the ledger: quarantine markers for refused deltas, the fenced pointer swap (the
 * ledger is derived from it: promoted = in the pointer's snapshot), the run record, and the lease released.
 * A moved pointer throws E_POINTER_CONFLICT (the state machine goes back to the final merge).
 */
export function publish(event: PublishEvent): Promise<PublishResult> {
  return lambdaBoundary(() =>
    withStore(event.store, async (store) => {
      const lease = await resumeLease(store, event);
      const f = event.final;
      await writeQuarantine(store, event.collection, event.run, f.quarantine);
      const out: PublishResult = {
        status: 'nothing-to-do',
        snapshot: null,
        promoted: 0,
        quarantined: f.quarantine.map((q) => q.seqStart),
        groupsFailed: f.groupsFailed,
      };
      if (f.result?.segment) {
        const seg = f.result.segment;
        const p = await publishSnapshot(store, lease, {
          collection: event.collection,
          run: event.run,
          version: (f.base?.value.version ?? 0) + 1,
          snapshot: seg,
          count: seg.counts.records,
          base: f.base ?? undefined,
          retain: event.retain,
        });
        out.status = 'published';
        out.promoted = f.promote.length;
        out.snapshot = { version: p.version, prefix: p.snapshot, count: p.count, contentHash: p.contentHash };
      }
      await updateRunRecord(store, event, {
        status: out.status === 'published' ? 'succeeded' : 'nothing-to-do',
        groupsSucceeded: event.groupResults.filter((g) => g.ok).length,
        groupsFailed: f.groupsFailed,
        quarantined: out.quarantined,
        failures: event.groupResults.flatMap((g) =>
          g.ok
            ? []
            : [
                {
                  step: `group-${String(g.index).padStart(4, '0')}`,
                  error: {
                    name: 'StrataError',
                    ...parseCause(g.error, g.cause),
                    context: { group: g.index },
                  },
                },
              ],
        ),
        ...(out.snapshot ? { snapshot: { ...out.snapshot, build: f.result?.build ?? 'full' } } : {}),
      });
      await lease.release();
      return out;
    }),
  );
}

/** The run failed: record why, and give the lease back if this execution still holds it. */
export function abort(event: AbortEvent): Promise<{ status: 'failed'; code: string; message: string }> {
  return lambdaBoundary(async () => {
    const why = event.error
      ? parseCause(event.error.Error, event.error.Cause)
      : { code: ErrorCodes.STEP_FAILED, message: 'aborted' };
    if (!event.store || !event.collection || !event.run || !event.lease) return { status: 'failed', ...why };
    const s = event as RunState;
    await withStore(s.store, async (store) => {
      await updateRunRecord(store, s, {
        status: 'failed',
        error: {
          name: 'StrataError',
          code: why.code,
          message: why.message,
          context: { collection: s.collection, run: s.run },
        },
      });
      const lease = await resumeLease(store, s).catch(() => undefined);
      await lease?.release();
    });
    return { status: 'failed', ...why };
  });
}

/** Every handler by step name (the state machine's Task names map onto these). */
export const handlers = { plan, chunk, group, final, publish, abort } as const;
export type StepName = keyof typeof handlers;
