import { failpoint } from '../core/failpoints.js';
import type { SeqRange } from '../core/types.js';
import type { SegmentRow } from '../engine/index.js';
import { stepName } from './layout.js';
import { foldSorted } from './merge.js';
import {
  dataSegmentWriter,
  newScratchDir,
  type OpenedSegment,
  openStoredSegment,
  type SegmentRef,
  uploadDataSegment,
} from './segments.js';
import { writeIntermediate } from './step-chunk.js';
import type { GroupTask, StepEnv, StepResult } from './steps.js';

export async function openAll(env: StepEnv, refs: SegmentRef[]): Promise<OpenedSegment[]> {
  const opened: OpenedSegment[] = [];
  try {
    for (const r of refs) opened.push(await openStoredSegment(env.store, r.prefix, r.manifestSha256));
    return opened;
  } catch (e) {
    for (const o of opened) await o.close();
    throw e;
  }
}

export function seqSpan(refs: Array<Pick<SegmentRef, 'seqRange'>>): SeqRange | null {
  const rs = refs.map((r) => r.seqRange).filter((r): r is SeqRange => r !== null);
  if (rs.length === 0) return null;
  return [Math.min(...rs.map((r) => r[0])), Math.max(...rs.map((r) => r[1]))];
}

/**
 * Chunk segments → the group's puts as a data segment (with its ANN index when it holds at least the exact
 * search crossover: index builds run here, in parallel across groups and workers, never once at the end)
 * and its tombstones and patches as a changes segment, which the final step resolves against the base.
 */
export async function groupStep(env: StepEnv, task: GroupTask): Promise<Omit<StepResult, 'ms'>> {
  failpoint('step.group');
  const opened = await openAll(env, task.inputs);
  try {
    const span = seqSpan(task.inputs);
    const inputs = task.inputs.map((r) => r.prefix);
    const dir = await newScratchDir(env.store, `${task.run}-${stepName('group', task.index)}-data`);
    await using data = await dataSegmentWriter(env, dir);
    const changes: SegmentRow[] = [];
    let puts = 0;
    for (const row of foldSorted(opened.map((o) => o.reader.scan()))) {
      if (row.kind === 'put') {
        data.append(row);
        puts++;
      } else changes.push(row);
    }
    const segment =
      puts > 0
        ? await uploadDataSegment(
            env.store,
            task.collection,
            dir,
            await data.seal({ seqRange: span, inputs }),
          )
        : null;
    const changesRef = await writeIntermediate(env, task, 'changes', changes, inputs, span);
    return { kind: 'group', index: task.index, segment, changes: changesRef, included: [], rejected: [] };
  } finally {
    for (const o of opened) await o.close();
  }
}
