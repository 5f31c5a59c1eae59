/**
 * Background merges of a collection's segments: the merge policy picks (pure), merge steps run through the
 * same executor as every other step (worker processes, BullMQ jobs, Lambda), and each merged segment is
 * published by compare-and-swap like any version, fenced by the lease. A merge publishes onto whatever
 * version is current by then: the deletions made since the version it read are carried onto the merged
 * segment through its key map ("re-applies the newer deletion vectors"), so no update is lost or
 * resurrected; a merge whose inputs are no longer listed (another merge, a rollback) is dropped.
 *
 * A merge run, written once: mergeCollection runs it in one process; the Step Functions handlers
 * (runners/lambda) spread it over invocations. Both go through these functions:
 *
 *   beginMerges          the plan on the current version, a merge task per merge, the run record ('running')
 *   resumeMerges         the same run in another invocation, from its plan (keys and addresses only)
 *   runMergeSteps        every step at once → a MergeOutcome each (a failed step is an outcome, not a throw)
 *   publishMergeResults  publishMerge one after the other (obsolete: dropped), the final run record
 */
import { DeletionVector } from '../core/deletion-vector.js';
import { ErrorCodes, isStrataError, StrataError, serializeError, toStrataError } from '../core/errors.js';
import { failpoint } from '../core/failpoints.js';
import { sha256Hex } from '../core/hash.js';
import type { VersionManifest } from '../core/version-manifest.js';
import type { ObjectStore } from '../store/index.js';
import { KeyMap } from './keymap.js';
import { Lease, type LeaseOptions } from './lease.js';
import {
  defaultMergePolicy,
  findMerges,
  type MergePolicyOptions,
  mergeAll,
  type PolicySegment,
} from './merge-policy.js';
import { type BaseRef, baseRefOf, type Pointer, readPointer } from './pointer.js';
import { publishVersion } from './publish.js';
import { newRunId, type RunRecord, readRunRecord, writeRunRecord } from './runs.js';
import { newEntry } from './step-final.js';
import type { MergeTask, StepResult } from './steps.js';
import {
  type ResolvedVersion,
  readDeletionVector,
  readVersion,
  writeDeletionVector,
  writeVersion,
} from './versions.js';

export type MergeMode = 'auto' | 'none' | 'all';

export interface MergeOptions {
  /** Runs one merge step (an executor's run, or the step code in this process). */
  step: (task: MergeTask) => Promise<StepResult>;
  /** auto: what the policy asks for; all: down to one segment (strata optimize); none: nothing. */
  mode: MergeMode;
  policy?: Partial<MergePolicyOptions>;
  rebuildAbove?: number;
  retain?: number;
  /** How often to rebase a merge onto a pointer that moved meanwhile (default 5). */
  publishAttempts?: number;
  onEvent?: (e: MergeEvent) => void;
}

export type MergeEvent =
  | { type: 'merge-planned'; run: string; merges: number; segments: number }
  | {
      type: 'merge-step';
      index: number;
      ok: boolean;
      inputs: number;
      rows: number;
      build?: string;
      ms: number;
      error?: ReturnType<typeof serializeError>;
    }
  | { type: 'merge-published'; index: number; version: number; rebased: boolean }
  | { type: 'merge-dropped'; index: number; reason: string };

export interface MergeReport {
  run: string | null;
  planned: string[][];
  published: Array<{
    index: number;
    version: number;
    segment: string;
    inputs: number;
    rows: number;
    build: string;
    ms: number;
  }>;
  dropped: Array<{ index: number; error: ReturnType<typeof serializeError> }>;
}

export function policySegments(m: VersionManifest): PolicySegment[] {
  return m.segments.map((s) => ({
    id: s.manifestSha256,
    rows: s.rows,
    deleted: s.deleted,
    indexed: s.indexed,
  }));
}

/** The merges the policy (or `mode`) asks for on this version. */
export function planMerges(
  m: VersionManifest,
  mode: MergeMode,
  policy: Partial<MergePolicyOptions> = {},
): string[][] {
  if (mode === 'none') return [];
  const segs = policySegments(m);
  return mode === 'all'
    ? mergeAll(segs)
    : findMerges(segs, { ...defaultMergePolicy(m.dimension), ...policy });
}

/** A merge run's plan as it travels between processes: keys and addresses only (see resumeMerges). */
export interface MergePlan {
  collection: string;
  run: string;
  /** The version the merges read their inputs from (the pointer's when planned). */
  base: BaseRef;
  /** One merge step per planned merge, `index` its position in the plan. */
  tasks: MergeTask[];
}

/** A merge run that has begun: its merges planned on `version`, its run record written ('running'). */
export interface MergeRun extends MergePlan {
  version: ResolvedVersion;
  record: RunRecord;
}

/** What became of one merge step: its result, or the (serialized) error it failed with. */
export type MergeOutcome =
  | { ok: true; index: number; result: StepResult }
  | { ok: false; index: number; error: ReturnType<typeof serializeError> };

export interface BeginMergesOptions {
  mode: MergeMode;
  policy?: Partial<MergePolicyOptions>;
  rebuildAbove?: number;
  onEvent?: (e: MergeEvent) => void;
}

function mergeRecord(
  plan: MergePlan,
  lease: Lease | undefined,
  startedAt = new Date().toISOString(),
): RunRecord {
  return {
    run: plan.run,
    collection: plan.collection,
    kind: 'merge',
    status: 'running',
    owner: lease?.owner ?? 'merge (the lease is taken for each publish)',
    token: lease?.token ?? 0,
    startedAt,
    deltas: [],
    chunks: 0,
    groups: 0,
    merges: plan.tasks.map((t) => ({ inputs: t.inputs })),
  };
}

/**
 * Begins a merge run (under a held lease, or none when each publish takes it): the merges the policy (or
 * `mode`) asks for on the version the pointer names now, one merge task each, and the run record
 * ('running'). Undefined when there is nothing to merge (nothing published, a format 1 version, or no merge
 * asked for); then nothing is written.
 */
export async function beginMerges(
  store: ObjectStore,
  collection: string,
  lease: Lease | undefined,
  opts: BeginMergesOptions,
): Promise<MergeRun | undefined> {
  if (opts.mode === 'none') return undefined;
  const pointer = await readPointer(store, collection);
  if (!pointer?.value.manifest) return undefined; // nothing published, or a format 1 version (one segment)
  const base = baseRefOf(pointer)!;
  const version = await readVersion(store, base, collection);
  const merges = planMerges(version.manifest, opts.mode, opts.policy);
  if (merges.length === 0) return undefined;
  const run = newRunId();
  const tasks: MergeTask[] = merges.map((inputs, index) => ({
    kind: 'merge',
    collection,
    run,
    index,
    base,
    inputs,
    ...(opts.rebuildAbove !== undefined ? { rebuildAbove: opts.rebuildAbove } : {}),
  }));
  const plan: MergePlan = { collection, run, base, tasks };
  const record = mergeRecord(plan, lease);
  opts.onEvent?.({
    type: 'merge-planned',
    run,
    merges: merges.length,
    segments: version.manifest.segments.length,
  });
  await writeRunRecord(store, record);
  return { ...plan, version, record };
}

/** A merge run begun elsewhere (another process, another invocation), from its plan. */
export async function resumeMerges(
  store: ObjectStore,
  lease: Lease | undefined,
  plan: MergePlan,
): Promise<MergeRun> {
  const version = await readVersion(store, plan.base, plan.collection);
  const record = (await readRunRecord(store, plan.collection, plan.run)) ?? mergeRecord(plan, lease);
  return { ...plan, version, record };
}

/** Runs every merge step of a run at once (each through `step`); a step that fails is an outcome too. */
export async function runMergeSteps(
  m: MergePlan,
  step: (task: MergeTask) => Promise<StepResult>,
): Promise<MergeOutcome[]> {
  const settled = await Promise.allSettled(m.tasks.map((t) => step(t)));
  return settled.map((s, index) =>
    s.status === 'fulfilled'
      ? { ok: true, index, result: s.value }
      : {
          ok: false,
          index,
          error: serializeError(
            toStrataError(s.reason, { collection: m.collection, run: m.run, merge: index }),
          ),
        },
  );
}

export interface PublishMergesOptions {
  retain?: number;
  /** How often to rebase a merge onto a pointer that moved meanwhile (default 5). */
  publishAttempts?: number;
  onEvent?: (e: MergeEvent) => void;
}

/**
 * Publishes a merge run's results one at a time, in plan order, each onto the version the previous one
 * left (publishMerge), and finishes the run record. A failed step or an obsolete merge is dropped (its
 * inputs stay as they are); any other publish failure fails the run record and is thrown. `lease`: one the
 * caller holds (and keeps), or the options to take one for each publish.
 */
export async function publishMergeResults(
  store: ObjectStore,
  lease: Lease | LeaseOptions,
  m: MergeRun,
  outcomes: readonly MergeOutcome[],
  opts: PublishMergesOptions = {},
): Promise<MergeReport> {
  const { collection, run } = m;
  const held = lease instanceof Lease ? lease : undefined;
  const withLease = async <T>(fn: (l: Lease) => Promise<T>): Promise<T> => {
    if (held) return fn(held);
    await using l = await Lease.acquire(store, collection, { waitMs: 60_000, ...(lease as LeaseOptions) });
    return await fn(l); // awaited here: the lease is released only after the publish
  };
  const merges = m.tasks.map((t) => t.inputs);
  const report: MergeReport = { run, planned: merges, published: [], dropped: [] };
  const emit = opts.onEvent ?? (() => {});
  const record = m.record;
  const rowsOf = (inputs: string[]) =>
    inputs.reduce((n, id) => {
      const s = m.version.manifest.segments.find((x) => x.manifestSha256 === id);
      return n + (s ? s.rows - s.deleted : 0);
    }, 0);
  for (let index = 0; index < merges.length; index++) {
    const inputs = merges[index]!;
    const s: MergeOutcome = outcomes.find((o) => o.index === index) ?? {
      ok: false,
      index,
      error: serializeError(
        new StrataError(ErrorCodes.STEP_FAILED, `merge ${index} has no outcome`, { collection, run }),
      ),
    };
    if (!s.ok) {
      report.dropped.push({ index, error: s.error });
      emit({
        type: 'merge-step',
        index,
        ok: false,
        inputs: inputs.length,
        rows: rowsOf(inputs),
        ms: 0,
        error: s.error,
      });
      continue;
    }
    const result = s.result;
    emit({
      type: 'merge-step',
      index,
      ok: true,
      inputs: inputs.length,
      rows: rowsOf(inputs),
      build: result.build ?? 'rebuild',
      ms: result.ms,
    });
    try {
      const { pointer: published, rebased } = await withLease((l) =>
        publishMerge(store, l, {
          collection,
          run,
          base: m.version,
          inputs,
          result,
          retain: opts.retain ?? 4,
          attempts: opts.publishAttempts ?? 5,
        }),
      );
      report.published.push({
        index,
        version: published.version,
        segment: result.segment?.prefix ?? '',
        inputs: inputs.length,
        rows: rowsOf(inputs),
        build: result.build ?? 'rebuild',
        ms: result.ms,
      });
      emit({ type: 'merge-published', index, version: published.version, rebased });
    } catch (e) {
      if (!isStrataError(e, ErrorCodes.MERGE_OBSOLETE)) {
        Object.assign(record, {
          status: 'failed',
          finishedAt: new Date().toISOString(),
          error: serializeError(toStrataError(e)),
        });
        await writeRunRecord(store, record).catch(() => undefined);
        throw e;
      }
      report.dropped.push({ index, error: serializeError(e as StrataError) });
      emit({ type: 'merge-dropped', index, reason: (e as Error).message });
    }
  }
  Object.assign(record, {
    status: 'succeeded',
    finishedAt: new Date().toISOString(),
    merges: merges.map((inputs, i) => {
      const p = report.published.find((x) => x.index === i);
      return {
        inputs,
        ...(p ? { output: p.segment, version: p.version, build: p.build, ms: p.ms } : { dropped: true }),
      };
    }),
  });
  await writeRunRecord(store, record).catch(() => undefined);
  return report;
}

/**
 * Plans, runs and publishes the merges of one collection. Merge steps run in parallel; publishes happen one
 * at a time, each on the version the previous one left. `lease`: a lease the caller holds (compact() merges
 * right after its publish, under its own), or the options to take one for each publish only — then the merge
 * steps, which read nothing that can change, run while other compactions publish, and each merge rebases onto
 * whatever they published.
 */
export async function mergeCollection(
  store: ObjectStore,
  collection: string,
  lease: Lease | LeaseOptions,
  opts: MergeOptions,
): Promise<MergeReport> {
  const m = await beginMerges(store, collection, lease instanceof Lease ? lease : undefined, opts);
  if (!m) return { run: null, planned: [], published: [], dropped: [] };
  const outcomes = await runMergeSteps(m, opts.step);
  return publishMergeResults(store, lease, m, outcomes, opts);
}

export interface PublishMergeInput {
  collection: string;
  run: string;
  /** The version the merge step read. */
  base: ResolvedVersion;
  inputs: string[];
  result: StepResult;
  retain: number;
  attempts: number;
}

/** Publishes one merged segment onto the current version, carrying over deletions made since its base. */
export async function publishMerge(
  store: ObjectStore,
  lease: Lease,
  p: PublishMergeInput,
): Promise<{ pointer: Pointer; rebased: boolean }> {
  const { collection } = p;
  const ctx = { collection, run: p.run };
  const obsolete = (why: string) => new StrataError(ErrorCodes.MERGE_OBSOLETE, `merge dropped: ${why}`, ctx);
  const seg = p.result.segment;
  if (!seg || !p.result.keymap)
    throw new StrataError(ErrorCodes.INTERNAL, 'merge step returned no segment', ctx);
  const kmBytes = await store.get(p.result.keymap.key);
  if (sha256Hex(kmBytes) !== p.result.keymap.sha256) {
    throw new StrataError(ErrorCodes.STORE_INTEGRITY, 'merge key map does not match its hash', {
      ...ctx,
      key: p.result.keymap.key,
    });
  }
  const keymap = KeyMap.decode(kmBytes, { ...ctx, key: p.result.keymap.key });
  for (let attempt = 1; ; attempt++) {
    await lease.assertHeld();
    const cur = await readPointer(store, collection);
    if (!cur?.value.manifest) throw obsolete('the collection has no format 2 version');
    const curV = await readVersion(store, baseRefOf(cur)!, collection);
    const m = curV.manifest;
    const positions = p.inputs.map((id) => m.segments.findIndex((s) => s.manifestSha256 === id));
    if (positions.some((i) => i < 0))
      throw obsolete(`version ${m.version} no longer lists all of its inputs`);
    const deleted: number[] = [];
    let liveBefore = 0;
    for (const id of p.inputs) {
      const now = m.segments.find((s) => s.manifestSha256 === id)!;
      const then = p.base.manifest.segments.find((s) => s.manifestSha256 === id)!;
      liveBefore += now.rows - now.deleted;
      const dvNow = await readDeletionVector(store, collection, now);
      const dvThen = await readDeletionVector(store, collection, then);
      if (dvThen.since(dvNow).length > 0)
        throw obsolete(`rows of ${id} deleted at its base are live again (a rollback)`);
      const since = dvNow.since(dvThen);
      const mapped = keymap.map(id, since);
      if (mapped.length !== since.length) {
        throw new StrataError(
          ErrorCodes.INTERNAL,
          `merge key map lacks ${since.length - mapped.length} live rows of ${id}`,
          ctx,
        );
      }
      deleted.push(...mapped);
    }
    const entry = newEntry(seg);
    if (deleted.length > 0) {
      const dv = DeletionVector.of(entry.maxKey, deleted, { ...ctx, segment: seg.prefix });
      entry.deleted = dv.count;
      entry.dv = await writeDeletionVector(store, collection, dv);
    }
    if (entry.rows - entry.deleted !== liveBefore) {
      throw new StrataError(
        ErrorCodes.INTERNAL,
        `merged segment would hold ${entry.rows - entry.deleted} live rows, its inputs hold ${liveBefore}`,
        ctx,
      );
    }
    const first = Math.min(...positions);
    const segments = m.segments.flatMap((s, i) =>
      i === first ? (entry.rows - entry.deleted > 0 ? [entry] : []) : positions.includes(i) ? [] : [s],
    );
    const manifest: VersionManifest = {
      ...m,
      version: m.version + 1,
      parentVersion: m.version,
      cause: 'merge',
      run: p.run,
      segments,
      merged: { inputs: p.inputs, output: seg.manifestSha256 },
      createdAt: new Date().toISOString(),
    };
    delete manifest.restores;
    const written = await writeVersion(store, manifest);
    failpoint('merge.before-pointer');
    try {
      const pointer = await publishVersion(store, lease, {
        collection,
        run: p.run,
        version: {
          version: manifest.version,
          key: written.key,
          sha256: written.sha256,
          count: manifest.count,
          contentHash: manifest.contentHash,
          segments: segments.length,
          newBytes: seg.bytes ?? 0,
        },
        base: cur,
        retain: p.retain,
      });
      return { pointer, rebased: cur.value.manifestSha256 !== p.base.sha256 };
    } catch (e) {
      if (isStrataError(e, ErrorCodes.POINTER_CONFLICT) && attempt < p.attempts) continue;
      throw e;
    }
  }
}
