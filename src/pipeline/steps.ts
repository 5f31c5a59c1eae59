/**
 * The three compaction steps. Each is a deterministic function of its inputs (store keys + hashes) that
 * writes its output under a fresh attempt prefix and returns a reference to it: any step may be retried,
 * by any worker, any number of times (DESIGN.md invariant 4). Nothing here knows how it is scheduled.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  ErrorCodes,
  type SerializedError,
  StrataError,
  serializeError,
  toStrataError,
} from '../core/errors.js';
import { failpoint } from '../core/failpoints.js';
import { sha256Hex } from '../core/hash.js';
import type { PromotedRange, SegmentManifest } from '../core/manifest.js';
import type { CollectionConfig, SequencedOperation } from '../core/types.js';
import { compareIds } from '../engine/ids.js';
import { SegmentWriter } from '../engine/index.js';
import type { SegmentRow } from '../engine/rows.js';
import { decodeDelta } from '../ingest/delta-format.js';
import type { ObjectStore } from '../store/object-store.js';
import type { DeltaDescriptor } from './deltas.js';
import { applyToBase, foldRows, rowFromOp } from './fold.js';
import { Keys, stepName } from './layout.js';
import { foldSorted, zipSorted } from './merge.js';
import {
  newScratchDir,
  type OpenedSegment,
  openStoredSegment,
  type SegmentRef,
  uploadSegment,
} from './segments.js';

export type DeltaRef = Pick<DeltaDescriptor, 'key' | 'seqStart' | 'seqEnd' | 'sha256' | 'count'>;

export interface ChunkTask {
  kind: 'chunk';
  collection: string;
  run: string;
  index: number;
  /** In sequence order. */
  deltas: DeltaRef[];
}
export interface GroupTask {
  kind: 'group';
  collection: string;
  run: string;
  index: number;
  /** Chunk outputs, in sequence order. */
  inputs: SegmentRef[];
}
export interface BaseRef {
  version: number;
  snapshot: string;
  manifestSha256: string;
}
export interface FinalTask {
  kind: 'final';
  collection: string;
  run: string;
  /** Group outputs, in sequence order. */
  inputs: SegmentRef[];
  base: BaseRef | null;
  /** Deltas this snapshot promotes (from the chunk results). */
  promote: Array<[seqStart: number, seqEnd: number]>;
  /** Incremental build when changed rows ≤ this fraction of the base (default 0.1). */
  incrementalThreshold?: number;
}
export type StepTask = ChunkTask | GroupTask | FinalTask;

export interface RejectedDelta {
  seqStart: number;
  key: string;
  error: SerializedError;
}

export interface StepResult {
  kind: StepTask['kind'];
  index: number;
  /** null when a chunk had no valid delta at all. */
  segment: SegmentRef | null;
  /** Chunk steps: which deltas made it in, and which were refused. */
  included: Array<[number, number]>;
  rejected: RejectedDelta[];
  build?: 'full' | 'incremental';
  ms: number;
  /** Peak resident set size of the process that ran the step, in MB (for capacity planning and the bench). */
  maxRssMb?: number;
  /** host:pid of the process that ran the step (the Console's run timeline shows it). */
  worker?: string;
}

export interface StepEnv {
  store: ObjectStore;
  config: CollectionConfig;
  threads?: number;
  producer?: string;
}

function ctxOf(task: StepTask) {
  return {
    collection: task.collection,
    run: task.run,
    ...(task.kind === 'chunk' ? { chunk: task.index } : task.kind === 'group' ? { group: task.index } : {}),
  };
}

export async function runStep(env: StepEnv, task: StepTask): Promise<StepResult> {
  const t0 = performance.now();
  try {
    const r =
      task.kind === 'chunk'
        ? await chunkStep(env, task)
        : task.kind === 'group'
          ? await groupStep(env, task)
          : await finalStep(env, task);
    return {
      ...r,
      ms: Math.round(performance.now() - t0),
      maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
      worker: `${hostname()}:${process.pid}`,
    };
  } catch (e) {
    throw toStrataError(e, ctxOf(task));
  }
}

async function writeIntermediate(
  env: StepEnv,
  task: ChunkTask | GroupTask,
  rows: Iterable<SegmentRow>,
  inputs: string[],
  seqRange: [number, number] | null,
): Promise<SegmentRef> {
  const name = stepName(task.kind, task.index);
  const dir = await newScratchDir(env.store, `${task.run}-${name}`);
  await using w = await SegmentWriter.create({
    dir,
    kind: task.kind,
    config: env.config,
    buildIndex: false,
    threads: env.threads,
    producer: env.producer,
  });
  for (const r of rows) w.append(r);
  const manifest = await w.seal({ seqRange, inputs });
  const prefix = Keys.stepPrefix(task.collection, task.run, name, randomUUID().slice(0, 8));
  return uploadSegment(env.store, dir, prefix, manifest);
}

/** Deltas → one intermediate segment. Bad deltas are refused alone, with their coded error. */
async function chunkStep(env: StepEnv, task: ChunkTask): Promise<Omit<StepResult, 'ms'>> {
  failpoint('step.chunk');
  const folded = new Map<string, SegmentRow>();
  const included: Array<[number, number]> = [];
  const rejected: RejectedDelta[] = [];
  const deltas = [...task.deltas].sort((a, b) => a.seqStart - b.seqStart);
  for (const d of deltas) {
    const ctx = { ...ctxOf(task), delta: String(d.seqStart), file: d.key };
    let ops: SequencedOperation[];
    try {
      const bytes = await env.store.get(d.key);
      const actual = sha256Hex(bytes);
      if (actual !== d.sha256) {
        throw new StrataError(
          ErrorCodes.DELTA_CHECKSUM,
          'delta bytes do not match the SHA-256 recorded at acceptance',
          {
            ...ctx,
            expected: d.sha256,
            actual,
          },
        );
      }
      ops = decodeDelta(
        bytes,
        { collection: env.config.name, dimension: env.config.dimension, metric: env.config.metric },
        ctx,
      ).ops;
      if (ops.length !== d.count) {
        throw new StrataError(
          ErrorCodes.DELTA_COUNT_MISMATCH,
          `delta holds ${ops.length} operations, its descriptor says ${d.count}`,
          ctx,
        );
      }
    } catch (e) {
      const err = toStrataError(e, ctx);
      // Only input problems are quarantined; store outages must fail the step so it is retried.
      if (isQuarantinable(err)) {
        rejected.push({ seqStart: d.seqStart, key: d.key, error: serializeError(err) });
        continue;
      }
      throw err;
    }
    for (const op of ops) {
      const row = rowFromOp(op);
      folded.set(op.id, foldRows(folded.get(op.id), row));
    }
    included.push([d.seqStart, d.seqEnd]);
  }
  if (included.length === 0) return { kind: 'chunk', index: task.index, segment: null, included, rejected };
  const rows = [...folded.values()].sort((a, b) => compareIds(a.id, b.id));
  const seqRange: [number, number] = [included[0]![0], included[included.length - 1]![1]];
  const segment = await writeIntermediate(
    env,
    task,
    rows,
    deltas.filter((d) => included.some(([s]) => s === d.seqStart)).map((d) => d.key),
    seqRange,
  );
  return { kind: 'chunk', index: task.index, segment, included, rejected };
}

export function isQuarantinable(e: StrataError): boolean {
  return (
    e.name === 'InvalidInputError' ||
    e.name === 'DeltaFormatError' ||
    e.code === ErrorCodes.DELTA_CHECKSUM ||
    e.code === ErrorCodes.DELTA_COUNT_MISMATCH ||
    e.code === ErrorCodes.NOT_FOUND
  );
}

async function openAll(env: StepEnv, refs: SegmentRef[]): Promise<OpenedSegment[]> {
  const opened: OpenedSegment[] = [];
  try {
    for (const r of refs) opened.push(await openStoredSegment(env.store, r.prefix, r.manifestSha256));
    return opened;
  } catch (e) {
    for (const o of opened) await o.close();
    throw e;
  }
}

function seqSpan(refs: SegmentRef[]): [number, number] | null {
  const rs = refs.map((r) => r.seqRange).filter((r): r is [number, number] => r !== null);
  if (rs.length === 0) return null;
  return [Math.min(...rs.map((r) => r[0])), Math.max(...rs.map((r) => r[1]))];
}

/** Chunk segments → one group segment (record-level merge, no index). */
async function groupStep(env: StepEnv, task: GroupTask): Promise<Omit<StepResult, 'ms'>> {
  failpoint('step.group');
  const opened = await openAll(env, task.inputs);
  try {
    const segment = await writeIntermediate(
      env,
      task,
      foldSorted(opened.map((o) => o.reader.scan())),
      task.inputs.map((r) => r.prefix),
      seqSpan(task.inputs),
    );
    return { kind: 'group', index: task.index, segment, included: [], rejected: [] };
  } finally {
    for (const o of opened) await o.close();
  }
}

export function mergePromoted(
  base: PromotedRange[],
  add: Array<[number, number]>,
  version: number,
): PromotedRange[] {
  const all: PromotedRange[] = [...base, ...add.map(([s, e]) => [s, e, version] as PromotedRange)].sort(
    (a, b) => a[0] - b[0],
  );
  const out: PromotedRange[] = [];
  for (const r of all) {
    const last = out[out.length - 1];
    if (last && last[2] === r[2] && last[1] + 1 === r[0]) last[1] = r[1];
    else out.push([...r] as PromotedRange);
  }
  return out;
}

/** Group segments + base snapshot → the next snapshot (with ANN index), sealed and uploaded. */
async function finalStep(env: StepEnv, task: FinalTask): Promise<Omit<StepResult, 'ms'>> {
  failpoint('step.final');
  const opened = await openAll(env, task.inputs);
  let base: OpenedSegment | undefined;
  try {
    base = task.base
      ? await openStoredSegment(env.store, task.base.snapshot, task.base.manifestSha256)
      : undefined;
    const baseManifest: SegmentManifest | undefined = base?.reader.manifest;
    const version = (task.base?.version ?? 0) + 1;
    const changed = task.inputs.reduce(
      (n, r) => n + r.counts.records + r.counts.tombstones + r.counts.patches,
      0,
    );
    const threshold = task.incrementalThreshold ?? 0.1;
    const incremental =
      base !== undefined && base.reader.count > 0 && changed <= threshold * base.reader.count;
    const dir = await newScratchDir(env.store, `${task.run}-final`);
    await using w = await SegmentWriter.create({
      dir,
      kind: 'snapshot',
      config: env.config,
      buildIndex: true,
      threads: env.threads,
      producer: env.producer,
      ...(incremental && base ? { base: { dir: base.reader.dir, manifest: base.reader.manifest } } : {}),
    });
    const changes = foldSorted(opened.map((o) => o.reader.scan()));
    if (incremental && base) {
      const baseReader = base.reader;
      for (const ch of changes) {
        if (ch.kind === 'put') w.upsert(ch);
        else if (ch.kind === 'tombstone') w.remove(ch.id);
        else {
          const cur = baseReader.getRows([ch.id]).get(ch.id);
          const next = applyToBase(cur, ch);
          if (next) w.upsert(next);
        }
      }
    } else {
      for (const [b, ch] of zipSorted(base ? base.reader.scan() : [], changes)) {
        const next = ch ? applyToBase(b, ch) : b;
        if (next) w.append(next);
      }
    }
    const baseSeq = baseManifest?.seqRange ?? null;
    const span = seqSpan(task.inputs);
    const seqRange: [number, number] | null =
      baseSeq && span ? [Math.min(baseSeq[0], span[0]), Math.max(baseSeq[1], span[1])] : (span ?? baseSeq);
    const promoted = mergePromoted(baseManifest?.snapshot?.promoted ?? [], task.promote, version);
    const manifest = await w.seal({
      seqRange,
      inputs: [...(task.base ? [task.base.snapshot] : []), ...task.inputs.map((r) => r.prefix)],
      snapshot: {
        version,
        parentVersion: task.base?.version ?? null,
        promoted,
        promotedDeltas: (baseManifest?.snapshot?.promotedDeltas ?? 0) + task.promote.length,
        build: incremental ? 'incremental' : 'full',
        run: task.run,
      },
    });
    const prefix = Keys.snapshotPrefix(task.collection, version, `${task.run}-${randomUUID().slice(0, 8)}`);
    const segment = await uploadSegment(env.store, dir, prefix, manifest);
    return {
      kind: 'final',
      index: 0,
      segment,
      included: [],
      rejected: [],
      build: incremental ? 'incremental' : 'full',
    };
  } finally {
    for (const o of opened) await o.close();
    await base?.close();
  }
}
