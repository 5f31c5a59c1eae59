/**
 * One compaction run of one collection, under a fenced lease:
 *   pending deltas → chunks → groups → final merge onto the current snapshot → verified → published by CAS.
 * Bad deltas are quarantined alone; a failed group defers itself and everything after it (sequence order is
 * never broken); a moved pointer rebuilds only the final merge; a lost lease publishes nothing.
 */
import { performance } from 'node:perf_hooks';
import {
  ErrorCodes,
  type SerializedError,
  StrataError,
  serializeError,
  toStrataError,
} from '../core/errors.js';
import type { ObjectStore } from '../store/object-store.js';
import { getCollection } from './collections.js';
import type { StepExecutor } from './executor.js';
import { stepName } from './layout.js';
import { Lease, type LeaseOptions } from './lease.js';
import { readLedger } from './ledger.js';
import { type GroupResult, promotion, writeQuarantine } from './outcome.js';
import { planTree } from './plan.js';
import { baseRefOf, type Pointer, readPointer } from './pointer.js';
import { promotableDeltas } from './promotable.js';
import { publishSnapshot } from './publish.js';
import { newRunId, type RunRecord, writeRunRecord } from './runs.js';
import type { SegmentRef } from './segments.js';
import type { DeltaRef, StepResult } from './steps.js';

export type Stage = 'chunks' | 'groups' | 'final' | 'publish';

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
  | { type: 'retry-final'; reason: string };

export interface CompactOptions {
  executor: StepExecutor;
  chunkSize?: number;
  groupSize?: number;
  /** A reserved sequence range whose delta is not visible yet blocks later deltas this long (default 2 min). */
  inFlightMs?: number;
  /** Compact at most this many pending deltas in one run (oldest first). */
  maxDeltas?: number;
  lease?: LeaseOptions;
  retain?: number;
  incrementalThreshold?: number;
  /** How often to rebuild the final merge when the pointer moves underneath (default 3). */
  finalAttempts?: number;
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
  snapshot: { version: number; prefix: string; count: number; contentHash: string; build: string } | null;
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
  await getCollection(store, collection); // fails early, with a coded error, for a missing collection
  const emit = opts.onEvent ?? (() => {});
  await using lease = await Lease.acquire(store, collection, opts.lease);
  const run = newRunId();
  const report: CompactReport = {
    collection,
    run,
    status: 'nothing-to-do',
    deltas: 0,
    chunks: 0,
    groups: 0,
    groupsSucceeded: 0,
    groupsFailed: 0,
    promoted: 0,
    quarantined: [],
    failures: [],
    snapshot: null,
    timingsMs: timings,
    peakRssMb: { compactor: 0, steps: 0 },
  };
  const noteRss = (r: StepResult) => {
    report.peakRssMb.steps = Math.max(report.peakRssMb.steps, r.maxRssMb ?? 0);
    return r;
  };

  const tPlan = performance.now();
  const ledger = await readLedger(store, collection);
  const promotable = await promotableDeltas(store, ledger, { inFlightMs: opts.inFlightMs });
  let pending: DeltaRef[] = promotable.deltas;
  report.waitingFor = promotable.waitingFor;
  if (opts.maxDeltas !== undefined) pending = pending.slice(0, opts.maxDeltas);
  const plan = planTree(pending, { chunkSize: opts.chunkSize, groupSize: opts.groupSize });
  mark('plan', tPlan);
  report.deltas = pending.length;
  report.chunks = plan.chunks.length;
  report.groups = plan.groups.length;
  const record: RunRecord = {
    run,
    collection,
    status: 'running',
    owner: lease.owner,
    token: lease.token,
    startedAt: new Date().toISOString(),
    deltas: pending.map((d) => d.seqStart),
    chunks: plan.chunks.length,
    groups: plan.groups.length,
  };
  if (pending.length === 0) {
    mark('total', t0);
    return report;
  }
  await writeRunRecord(store, record);
  emit({
    type: 'planned',
    run,
    deltas: pending.length,
    chunks: plan.chunks.length,
    groups: plan.groups.length,
  });

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
      opts.executor
        .run({ kind: 'chunk', collection, run, index, deltas })
        .then(noteRss)
        .then(
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
    const groupOutcomes = plan.groups.map(async (chunkIdx, index): Promise<GroupResult> => {
      const settled = await Promise.allSettled(chunkIdx.map((i) => chunkResults[i]!));
      if (settled.some((s) => s.status === 'rejected')) {
        // its failed chunk is already reported; the group itself just did not run
        emit({ type: 'step', stage: 'groups', index, ok: false, done: ++done.groups, total: total.groups });
        return { ok: false, index };
      }
      if (groupStart === 0) groupStart = performance.now();
      const results = settled.map((s) => (s as PromiseFulfilledResult<StepResult>).value);
      const inputs = results.map((r) => r.segment).filter((s): s is SegmentRef => s !== null);
      const included = results.flatMap((r) => r.included);
      const rejected = results.flatMap((r) => r.rejected.map((x) => ({ ...x, chunk: r.index })));
      try {
        const segment =
          inputs.length === 0
            ? null
            : noteRss(await opts.executor.run({ kind: 'group', collection, run, index, inputs })).segment;
        finished('groups', index);
        return { ok: true, index, segment, included, rejected };
      } catch (e) {
        finished('groups', index, e);
        return { ok: false, index };
      }
    });
    await Promise.allSettled(chunkResults);
    mark('chunks', tTree);
    const groups = await Promise.all(groupOutcomes);
    timings.groups = groupStart ? Math.round(performance.now() - groupStart) : 0;

    // --- quarantine bad deltas (refused alone, with their coded error); promote the longest prefix of
    // --- succeeded groups (sequence order is never broken) ------------------------------------------------
    const { inputs, promote, quarantine, groupsSucceeded, groupsFailed } = promotion(groups);
    report.groupsSucceeded = groupsSucceeded;
    report.groupsFailed = groupsFailed;
    await writeQuarantine(store, collection, run, quarantine);
    for (const r of quarantine) {
      report.quarantined.push({ seqStart: r.seqStart, key: r.key, error: r.error });
      emit({ type: 'quarantined', seqStart: r.seqStart, error: r.error });
    }
    if (promote.length === 0) {
      report.status = report.groupsFailed > 0 ? 'failed' : 'nothing-to-do';
      if (report.groupsFailed > 0) {
        throw new StrataError(
          ErrorCodes.STEP_FAILED,
          `${report.groupsFailed} of ${report.groups} groups failed; nothing to publish`,
          {
            collection,
            run,
          },
        );
      }
    } else {
      // --- final merge + publish; rebuild on a moved pointer ------------------------------------------
      const tFinal = performance.now();
      let published: Pointer | undefined;
      const attempts = opts.finalAttempts ?? 3;
      for (let attempt = 1; !published; attempt++) {
        // Do not build an index for a publish that cannot happen.
        await lease.assertHeld();
        const base = await readPointer(store, collection);
        const finalResult = noteRss(
          await opts.executor.run({
            kind: 'final',
            collection,
            run,
            inputs,
            base: baseRefOf(base),
            promote,
            incrementalThreshold: opts.incrementalThreshold,
          }),
        );
        emit({ type: 'step', stage: 'final', index: 0, ok: true, done: 1, total: 1 });
        mark('final', tFinal);
        const seg = finalResult.segment!;
        const tPub = performance.now();
        try {
          published = await publishSnapshot(store, lease, {
            collection,
            run,
            version: (base?.value.version ?? 0) + 1,
            snapshot: seg,
            count: seg.counts.records,
            base,
            retain: opts.retain ?? 4,
          });
          mark('publish', tPub);
          report.snapshot = {
            version: published.version,
            prefix: published.snapshot,
            count: published.count,
            contentHash: published.contentHash,
            build: finalResult.build ?? 'full',
          };
          emit({ type: 'step', stage: 'publish', index: 0, ok: true, done: 1, total: 1 });
        } catch (e) {
          if (e instanceof StrataError && e.code === ErrorCodes.POINTER_CONFLICT && attempt < attempts) {
            emit({ type: 'retry-final', reason: e.message });
            continue;
          }
          throw e;
        }
      }
      report.promoted = promote.length;
      report.status = 'published';
    }
    mark('total', t0);
    report.peakRssMb.compactor = Math.round(process.resourceUsage().maxRSS / 1024);
    Object.assign(record, {
      status: report.status === 'published' ? 'succeeded' : report.status,
      finishedAt: new Date().toISOString(),
      groupsSucceeded: report.groupsSucceeded,
      groupsFailed: report.groupsFailed,
      quarantined: report.quarantined.map((q) => q.seqStart),
      timingsMs: timings,
      failures: report.failures,
      ...(report.snapshot ? { snapshot: report.snapshot } : {}),
    });
    await writeRunRecord(store, record).catch(() => undefined);
    return report;
  } catch (e) {
    const err = toStrataError(e, { collection, run });
    report.status = 'failed';
    report.error = serializeError(err);
    mark('total', t0);
    Object.assign(record, {
      status: 'failed',
      finishedAt: new Date().toISOString(),
      error: report.error,
      failures: report.failures,
      timingsMs: timings,
    });
    await writeRunRecord(store, record).catch(() => undefined);
    throw err;
  }
}
