/**
 * The orchestration rules every way of running a compaction shares (compact() in one process, the
 * Step Functions handlers across invocations): which groups a run may promote, and how refused deltas are
 * recorded. One place, so the local, distributed and serverless paths cannot drift apart.
 */
import { PreconditionFailedError } from '../core/errors.js';
import type { ObjectStore } from '../store/object-store.js';
import { writeJson } from './json-object.js';
import { Keys } from './layout.js';
import type { QuarantineRecord } from './ledger.js';
import type { SegmentRef } from './segments.js';
import type { RejectedDelta } from './steps.js';

/** The outcome of one group: its segment and the deltas its chunks included or refused, or a failure. */
export type GroupResult =
  | {
      ok: true;
      index: number;
      segment: SegmentRef | null;
      included: Array<[number, number]>;
      rejected: Array<RejectedDelta & { chunk: number }>;
    }
  | { ok: false; index: number };

export interface Promotion {
  /** Segments of the promotable groups, in sequence order (input of the final merge). */
  inputs: SegmentRef[];
  /** Delta sequence ranges the final merge promotes. */
  promote: Array<[number, number]>;
  /** Refused deltas of every group that ran (they are quarantined whether or not anything is promoted). */
  quarantine: Array<RejectedDelta & { chunk: number }>;
  groupsSucceeded: number;
  groupsFailed: number;
}

/**
 * Only the longest prefix of succeeded groups (in sequence order) is promoted: a later group's operations
 * must never land before an earlier, failed group's, so those stay pending for the next run.
 */
export function promotion(groups: readonly GroupResult[]): Promotion {
  const sorted = [...groups].sort((a, b) => a.index - b.index);
  const firstFailed = sorted.findIndex((g) => !g.ok);
  const usable = (firstFailed === -1 ? sorted : sorted.slice(0, firstFailed)).filter(
    (g): g is Extract<GroupResult, { ok: true }> => g.ok,
  );
  const groupsSucceeded = sorted.filter((g) => g.ok).length;
  return {
    inputs: usable.map((g) => g.segment).filter((s): s is SegmentRef => s !== null),
    promote: usable.flatMap((g) => g.included),
    quarantine: sorted.flatMap((g) => (g.ok ? g.rejected : [])),
    groupsSucceeded,
    groupsFailed: sorted.length - groupsSucceeded,
  };
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
