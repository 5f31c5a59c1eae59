import { randomUUID } from 'node:crypto';
import { ErrorCodes, StrataError, serializeError, toStrataError } from '../core/errors.js';
import { failpoint } from '../core/failpoints.js';
import { sha256Hex } from '../core/hash.js';
import type { SeqRange, SequencedOperation } from '../core/types.js';
import { compareIds, type SegmentRow, SegmentWriter } from '../engine/index.js';
import { decodeDelta } from '../ingest/index.js';
import { foldRows, rowFromOp } from './fold.js';
import { Keys, stepName } from './layout.js';
import { newScratchDir, type SegmentRef, uploadSegment } from './segments.js';
import type { ChunkTask, GroupTask, RejectedDelta, StepEnv, StepResult } from './steps.js';
import { stepContext } from './steps.js';

/** Writes an intermediate segment (chunk, group changes) under the run's step prefix. */
export async function writeIntermediate(
  env: StepEnv,
  task: ChunkTask | GroupTask,
  kind: 'chunk' | 'changes',
  rows: Iterable<SegmentRow>,
  inputs: string[],
  seqRange: SeqRange | null,
): Promise<SegmentRef | null> {
  const name = stepName(task.kind, task.index);
  const dir = await newScratchDir(env.store, `${task.run}-${name}`);
  await using w = await SegmentWriter.create({
    dir,
    kind,
    config: env.config,
    buildIndex: false,
    threads: env.threads,
    producer: env.producer,
  });
  let n = 0;
  for (const r of rows) {
    w.append(r);
    n++;
  }
  if (n === 0) return null;
  const manifest = await w.seal({ seqRange, inputs });
  const prefix = Keys.stepPrefix(
    task.collection,
    task.run,
    kind === 'chunk' ? name : `${name}-changes`,
    randomUUID().slice(0, 8),
  );
  return uploadSegment(env.store, dir, prefix, manifest);
}

/** Deltas → one intermediate segment. Bad deltas are refused alone, with their coded error. */
export async function chunkStep(env: StepEnv, task: ChunkTask): Promise<Omit<StepResult, 'ms'>> {
  failpoint('step.chunk');
  const folded = new Map<string, SegmentRow>();
  const included: SeqRange[] = [];
  const rejected: RejectedDelta[] = [];
  const deltas = [...task.deltas].sort((a, b) => a.seqStart - b.seqStart);
  for (const d of deltas) {
    const ctx = { ...stepContext(task), delta: String(d.seqStart), file: d.key };
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
    for (const op of ops) folded.set(op.id, foldRows(folded.get(op.id), rowFromOp(op)));
    included.push([d.seqStart, d.seqEnd]);
  }
  if (included.length === 0) return { kind: 'chunk', index: task.index, segment: null, included, rejected };
  const rows = [...folded.values()].sort((a, b) => compareIds(a.id, b.id));
  const seqRange: SeqRange = [included[0]![0], included[included.length - 1]![1]];
  const segment = await writeIntermediate(
    env,
    task,
    'chunk',
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
