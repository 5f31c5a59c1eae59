/**
 * The compaction steps. Each is a deterministic function of its inputs (store keys + hashes) that writes
 * its output under a fresh attempt prefix (or a content address) and returns a reference to it: any step
 * may be retried, by any worker, any number of times (docs/architecture.md, "Steps are pure and
 * idempotent"). Nothing here knows how it is scheduled.
 *
 *   chunk  deltas → an intermediate segment (puts, tombstones, patches folded per id)
 *   group  chunk segments → a data segment of the puts (indexed when large enough) + a changes segment of
 *          the tombstones and patches
 *   final  group outputs + the base version → the next version: deletion vectors for superseded rows, a
 *          small data segment of patched records, the version manifest
 *   merge  some segments of a version → one data segment, starting from the largest input's graph
 */
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { type SerializedError, toStrataError } from '../core/errors.js';
import type { CollectionConfig, SeqRange } from '../core/types.js';
import type { ObjectStore } from '../store/index.js';
import type { DeltaDescriptor } from './deltas.js';
import type { BaseRef } from './pointer.js';
import type { SegmentRef } from './segments.js';
import { chunkStep } from './step-chunk.js';
import { finalStep } from './step-final.js';
import { groupStep } from './step-group.js';
import { mergeStep } from './step-merge.js';

export type { BaseRef };

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
/** What one group produced: its puts as a data segment, its tombstones and patches as a changes segment. */
export interface GroupOutput {
  segment: SegmentRef | null;
  changes: SegmentRef | null;
}
export interface FinalTask {
  kind: 'final';
  collection: string;
  run: string;
  /** Group outputs, in sequence order. */
  groups: GroupOutput[];
  base: BaseRef | null;
  /** Deltas this version promotes (from the chunk results). */
  promote: SeqRange[];
}
export interface MergeTask {
  kind: 'merge';
  collection: string;
  run: string;
  index: number;
  /** The version the merge reads its inputs (and their deletion vectors) from. */
  base: BaseRef;
  /** Content addresses (manifest SHA-256) of the segments to merge, all listed by `base`. */
  inputs: string[];
  /** Rebuild the index from scratch when the largest input has more than this fraction of rows deleted. */
  rebuildAbove?: number;
}
export type StepTask = ChunkTask | GroupTask | FinalTask | MergeTask;

export interface RejectedDelta {
  seqStart: number;
  key: string;
  error: SerializedError;
}

/** The version a final step wrote (not yet published: the pointer swap is the compactor's). */
export interface VersionRef {
  version: number;
  key: string;
  sha256: string;
  count: number;
  contentHash: string;
  segments: number;
  /** Bytes of the segments this version added (what a publish writes beyond small JSON and vectors). */
  newBytes: number;
}

export interface StepResult {
  kind: StepTask['kind'];
  index: number;
  /**
   * chunk: its intermediate segment (null when no delta was valid); group: the data segment of its puts;
   * final: the data segment of patched records; merge: the merged segment. null when there is none.
   */
  segment: SegmentRef | null;
  /** group: the changes segment (tombstones and patches), null when there are none. */
  changes?: SegmentRef | null;
  /** Chunk steps: which deltas made it in, and which were refused. */
  included: SeqRange[];
  rejected: RejectedDelta[];
  /** final: the version written. */
  version?: VersionRef;
  /** merge: where the map from input keys to merged keys is stored, and how the graph was made. */
  keymap?: { key: string; sha256: string };
  build?: 'full' | 'reuse' | 'rebuild';
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

export function stepContext(task: StepTask) {
  return {
    collection: task.collection,
    run: task.run,
    ...(task.kind === 'chunk'
      ? { chunk: task.index }
      : task.kind === 'group'
        ? { group: task.index }
        : task.kind === 'merge'
          ? { merge: task.index }
          : {}),
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
          : task.kind === 'final'
            ? await finalStep(env, task)
            : await mergeStep(env, task);
    return {
      ...r,
      ms: Math.round(performance.now() - t0),
      maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
      worker: `${hostname()}:${process.pid}`,
    };
  } catch (e) {
    throw toStrataError(e, stepContext(task));
  }
}
