/**
 * The compaction run, written once. compact() runs it in one process; the Step Functions handlers
 * (runners/lambda) spread it over invocations. Both go through these functions, so the local, distributed and
 * serverless paths cannot drift apart:
 *
 *   beginRun       the lease, the promotable deltas, the plan, the run record ('running')
 *   runGroup       a group's inputs from its chunks' results, and its step → a GroupOutcome
 *   promotion      which groups the run may promote; groupsFailedError: the "groups failed" outcome
 *   finalMerge     the final step over the promoted groups, onto the version the pointer names right then
 *   publishRun     the fenced publish of the version it wrote (the pointer's next version)
 *   recordRunEnd   the final run record: succeeded / nothing-to-do, or recordRunFailure: failed
 *
 * The callers decide only where the steps run and how the run travels between them.
 */
import { performance } from 'node:perf_hooks';
import {
  ErrorCodes,
  LeaseError,
  PreconditionFailedError,
  type SerializedError,
  StrataError,
} from '../core/errors.js';
import type { SeqRange } from '../core/types.js';
import type { ObjectStore } from '../store/index.js';
import { getCollection } from './collections.js';
import { type Versioned, writeJson } from './json-object.js';
import { Keys } from './layout.js';
import { Lease, type LeaseOptions, readLease } from './lease.js';
import { type QuarantineRecord, readLedger } from './ledger.js';
import { planTree, type TreePlan } from './plan.js';
import { baseRefOf, type Pointer, readPointer } from './pointer.js';
import { promotableDeltas } from './promotable.js';
import { publishVersion } from './publish.js';
import { newRunId, type RunRecord, writeRunRecord } from './runs.js';
import type { SegmentRef } from './segments.js';
import type { DeltaRef, FinalTask, GroupOutput, GroupTask, RejectedDelta, StepResult } from './steps.js';

/** The defaults of a run's options, wherever it runs. */
export const RUN_DEFAULTS = { retain: 4, finalAttempts: 3 } as const;

/** What a run is asked to do, wherever it runs. */
export interface RunOptions {
  /** Deltas per chunk (default 3). */
  chunkSize?: number;
  /** Chunks per group (default 10). */
  groupSize?: number;
  /** A reserved sequence range whose delta is not visible yet blocks later deltas this long (default 2 min). */
  inFlightMs?: number;
  /** Compact at most this many pending deltas in one run (oldest first). */
  maxDeltas?: number;
  /** Versions to keep reachable, the new one included (default 4). */
  retain?: number;
  /** How often to redo the final step when the pointer moves underneath (default 3). */
  finalAttempts?: number;
}

/** Identifies a run: what every step task and every record of it carries. */
export interface RunIds {
  collection: string;
  run: string;
}

export interface BeginRunOptions
  extends Pick<RunOptions, 'chunkSize' | 'groupSize' | 'inFlightMs' | 'maxDeltas'> {
  /** How to take the lease; a function gets the new run's id (for an owner unique to the run). */
  lease?: LeaseOptions | ((run: string) => LeaseOptions);
}

/** A run that has begun: it holds the lease; its deltas are planned into chunks and groups. */
export interface BegunRun extends RunIds {
  lease: Lease;
  deltas: DeltaRef[];
  plan: TreePlan;
  /** The plan stopped below a delta still being written (its sequence start); later deltas wait. */
  waitingFor?: number;
  /** The run record as written ('running'); undefined when nothing is pending (then the lease is released). */
  record: RunRecord | undefined;
  /** Time spent reading the ledger and planning. */
  planMs: number;
}

/**
 * Begins a run: the collection must exist, the lease is taken, the promotable pending deltas are planned
 * and, unless there are none, the run record is written. The lease is released again on nothing to do and
 * on any failure here; otherwise it is the caller's.
 */
export async function beginRun(
  store: ObjectStore,
  collection: string,
  opts: BeginRunOptions = {},
): Promise<BegunRun> {
  await getCollection(store, collection); // fails early, with a coded error, for a missing collection
  const run = newRunId();
  const lease = await Lease.acquire(
    store,
    collection,
    typeof opts.lease === 'function' ? opts.lease(run) : opts.lease,
  );
  try {
    const t0 = performance.now();
    const ledger = await readLedger(store, collection);
    const promotable = await promotableDeltas(store, ledger, { inFlightMs: opts.inFlightMs });
    const deltas =
      opts.maxDeltas === undefined ? promotable.deltas : promotable.deltas.slice(0, opts.maxDeltas);
    const plan = planTree(deltas, { chunkSize: opts.chunkSize, groupSize: opts.groupSize });
    const begun: BegunRun = {
      collection,
      run,
      lease,
      deltas,
      plan,
      waitingFor: promotable.waitingFor,
      record: undefined,
      planMs: Math.round(performance.now() - t0),
    };
    if (deltas.length === 0) {
      await lease.release();
      return begun;
    }
    begun.record = {
      run,
      collection,
      status: 'running',
      owner: lease.owner,
      token: lease.token,
      startedAt: new Date().toISOString(),
      deltas: deltas.map((d) => d.seqStart),
      chunks: plan.chunks.length,
      groups: plan.groups.length,
    };
    await writeRunRecord(store, begun.record);
    return begun;
  } catch (e) {
    await lease.release();
    throw e;
  }
}

/** A run's lease as it travels between processes that cannot heartbeat it. */
export interface LeaseHandle {
  owner: string;
  token: number;
}

/**
 * Takes a run's lease back in another process: only if the run's own owner (unique per run) still holds
 * it, unreleased and unexpired. Re-acquiring as the same owner raises the token, which only strengthens
 * fencing.
 */
export async function resumeRunLease(store: ObjectStore, r: RunIds & { lease: LeaseHandle }): Promise<Lease> {
  const cur = await readLease(store, r.collection);
  const now = Date.now();
  if (
    !cur ||
    cur.owner !== r.lease.owner ||
    cur.token < r.lease.token ||
    cur.released ||
    cur.expiresAt <= now
  ) {
    throw new LeaseError(
      ErrorCodes.LEASE_LOST,
      `execution ${r.run} no longer holds the lease on ${r.collection}`,
      { collection: r.collection, run: r.run, owner: r.lease.owner, token: r.lease.token },
    );
  }
  return Lease.acquire(store, r.collection, {
    owner: r.lease.owner,
    ttlMs: Math.max(60_000, cur.expiresAt - now),
    heartbeatMs: 0,
  });
}

/** How a caller runs a step (an executor, or the step code in this very process). */
export type RunStepFn<T extends GroupTask | FinalTask> = (task: T) => Promise<StepResult>;

/**
 * The outcome of one group: its data segment and changes segment and the deltas its chunks included or
 * refused, or a failure
 * (`error` and `cause`: the failure's code and serialized detail where it crossed a process boundary as
 * Step Functions' Error and Cause).
 */
export type GroupOutcome =
  | {
      ok: true;
      index: number;
      segment: SegmentRef | null;
      changes: SegmentRef | null;
      included: SeqRange[];
      rejected: Array<RejectedDelta & { chunk: number }>;
    }
  | { ok: false; index: number; error?: string; cause?: string };

/**
 * Runs one group over its chunks' results: the chunks' segments in sequence order are its inputs; the
 * deltas they included and refused are its own. Chunks that produced nothing leave a group without a step.
 */
export async function runGroup(
  step: RunStepFn<GroupTask>,
  group: RunIds & { index: number },
  chunkResults: readonly StepResult[],
): Promise<Extract<GroupOutcome, { ok: true }>> {
  const results = [...chunkResults].sort((a, b) => a.index - b.index);
  const inputs = results.map((r) => r.segment).filter((s): s is SegmentRef => s !== null);
  const included = results.flatMap((r) => r.included);
  const rejected = results.flatMap((r) => r.rejected.map((x) => ({ ...x, chunk: r.index })));
  const { collection, run, index } = group;
  const r = inputs.length === 0 ? null : await step({ kind: 'group', collection, run, index, inputs });
  return { ok: true, index, segment: r?.segment ?? null, changes: r?.changes ?? null, included, rejected };
}

export interface Promotion {
  /** Outputs of the promotable groups, in sequence order (input of the final step). */
  groups: GroupOutput[];
  /** Delta sequence ranges the final merge promotes. */
  promote: SeqRange[];
  /** Refused deltas of every group that ran (they are quarantined whether or not anything is promoted). */
  quarantine: Array<RejectedDelta & { chunk: number }>;
  groupsSucceeded: number;
  groupsFailed: number;
  /** Why the failed groups failed (code and message), in sequence order. */
  failures: Array<{ error?: string; cause?: string }>;
}

/** A failed group's `error` (code) and `cause` (message) from what its step threw. */
export function failureOf(e: unknown): { error?: string; cause?: string } {
  if (e instanceof StrataError) return { error: e.code, cause: e.message };
  return e instanceof Error ? { cause: e.message } : {};
}

/**
 * Only the longest prefix of succeeded groups (in sequence order) is promoted: a later group's operations
 * must never land before an earlier, failed group's, so those stay pending for the next run.
 */
export function promotion(groups: readonly GroupOutcome[]): Promotion {
  const sorted = [...groups].sort((a, b) => a.index - b.index);
  const firstFailed = sorted.findIndex((g) => !g.ok);
  const usable = (firstFailed === -1 ? sorted : sorted.slice(0, firstFailed)).filter(
    (g): g is Extract<GroupOutcome, { ok: true }> => g.ok,
  );
  const groupsSucceeded = sorted.filter((g) => g.ok).length;
  return {
    groups: usable
      .filter((g) => g.segment !== null || g.changes !== null)
      .map((g) => ({ segment: g.segment, changes: g.changes })),
    promote: usable.flatMap((g) => g.included),
    quarantine: sorted.flatMap((g) => (g.ok ? g.rejected : [])),
    groupsSucceeded,
    groupsFailed: sorted.length - groupsSucceeded,
    failures: sorted.flatMap((g) =>
      g.ok ? [] : [{ ...(g.error ? { error: g.error } : {}), ...(g.cause ? { cause: g.cause } : {}) }],
    ),
  };
}

/** Step failures whose code the run's own error keeps: they name what the operator must fix. */
const ENVIRONMENT_FAILURES = [
  ErrorCodes.NO_SPACE,
  ErrorCodes.QUEUE_LOST,
  ErrorCodes.QUEUE_UNAVAILABLE,
] as const;

/** The "groups failed" outcome: groups failed and nothing before them can be promoted, so the run fails. */
export function groupsFailedError(p: Promotion, ids: RunIds): StrataError | undefined {
  if (p.promote.length > 0 || p.groupsFailed === 0) return undefined;
  // A full disk or a lost step queue is said as such: the operator's fix is space or a durable Redis.
  const first = p.failures[0];
  const passOn = ENVIRONMENT_FAILURES.find((c) => c === first?.error);
  return new StrataError(
    passOn ?? ErrorCodes.STEP_FAILED,
    `${p.groupsFailed} of ${p.groupsSucceeded + p.groupsFailed} groups failed; nothing to publish${first?.cause ? `: ${first.cause}` : ''}`,
    { collection: ids.collection, run: ids.run },
  );
}

/** Records refused deltas as quarantine markers (create-once: a marker, once written, never changes). */
export async function writeQuarantine(
  store: ObjectStore,
  collection: string,
  run: string,
  rejected: ReadonlyArray<RejectedDelta & { chunk: number }>,
): Promise<void> {
  for (const r of rejected) {
    const q: QuarantineRecord = {
      seqStart: r.seqStart,
      key: r.key,
      run,
      chunk: r.chunk,
      error: r.error,
      at: new Date().toISOString(),
    };
    await writeJson(store, Keys.quarantine(collection, r.seqStart), q, { ifNoneMatch: '*' }).catch((e) => {
      if (!(e instanceof PreconditionFailedError)) throw e;
    });
  }
}

/** A final step and the pointer it was built on (undefined: the first version). */
export interface FinalMerge {
  base: Versioned<Pointer> | undefined;
  result: StepResult;
}

/** The final step over the promoted groups, onto the current version as the pointer names it right now. */
export async function finalMerge(
  store: ObjectStore,
  step: RunStepFn<FinalTask>,
  ids: RunIds,
  p: Pick<Promotion, 'groups' | 'promote'>,
): Promise<FinalMerge> {
  const base = await readPointer(store, ids.collection);
  const result = await step({
    kind: 'final',
    collection: ids.collection,
    run: ids.run,
    groups: p.groups,
    base: baseRefOf(base),
    promote: p.promote,
  });
  return { base, result };
}

/** A published version as a run reports and records it. */
export interface RunSnapshot {
  version: number;
  /** Key of the version manifest. */
  prefix: string;
  count: number;
  contentHash: string;
  /** Segments the version lists, and the bytes of the segments this run added. */
  segments: number;
  newBytes: number;
  build: string;
}

/**
 * Publishes the version a final step wrote as the pointer's next version, fenced by the lease and
 * conditional on the base it was built on (E_POINTER_CONFLICT when the pointer moved: redo the final step).
 */
export async function publishRun(
  store: ObjectStore,
  lease: Lease,
  ids: RunIds,
  final: FinalMerge,
  retain: number = RUN_DEFAULTS.retain,
): Promise<RunSnapshot> {
  const v = final.result.version;
  if (!v) throw new StrataError(ErrorCodes.INTERNAL, 'the final step returned no version', { ...ids });
  const p = await publishVersion(store, lease, {
    collection: ids.collection,
    run: ids.run,
    version: v,
    base: final.base,
    retain,
  });
  return {
    version: p.version,
    prefix: v.key,
    count: p.count,
    contentHash: p.contentHash,
    segments: v.segments,
    newBytes: v.newBytes,
    build: 'segments',
  };
}

/** What a run that ended without an error leaves in its record. */
export interface RunSummary {
  groupsSucceeded: number;
  groupsFailed: number;
  /** seqStart of every delta the run quarantined. */
  quarantined: number[];
  failures: Array<{ step: string; error: SerializedError }>;
  /** The published snapshot; null: nothing to publish. */
  snapshot: RunSnapshot | null;
  timingsMs?: Record<string, number>;
}

/** The final run record of a run that ended: succeeded (it published) or nothing-to-do. */
export async function recordRunEnd(store: ObjectStore, record: RunRecord, s: RunSummary): Promise<void> {
  const { snapshot, ...rest } = s;
  await writeRunRecord(store, {
    ...record,
    status: snapshot ? 'succeeded' : 'nothing-to-do',
    finishedAt: new Date().toISOString(),
    ...rest,
    ...(snapshot ? { snapshot } : {}),
  });
}

/** The final run record of a run that failed, with its coded error. */
export async function recordRunFailure(
  store: ObjectStore,
  record: RunRecord,
  error: SerializedError,
  more: Pick<RunRecord, 'failures' | 'timingsMs'> = {},
): Promise<void> {
  await writeRunRecord(store, {
    ...record,
    status: 'failed',
    finishedAt: new Date().toISOString(),
    error,
    ...more,
  });
}
