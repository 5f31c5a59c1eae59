/**
 * Which segments of a version to merge: a pure decision, `(segments) → merges`, no I/O (the shape of
 * Lucene's MergePolicy; the merge step and the compactor execute what it returns).
 *
 * The policy is tiered, after Lucene's TieredMergePolicy, with the costs of vector search in mind: every
 * indexed segment a query visits costs a graph walk, and every unindexed one an exact scan, so the number
 * of segments is what the policy keeps small.
 *   - Segments smaller than `floorRows` count as that size (tiny segments are merged freely).
 *   - The version may hold `segmentsPerTier` segments per tier, tiers growing by `maxMergeAtOnce`; past that
 *     budget the policy picks, among windows of similarly sized segments, the merge with the least skew
 *     (a merge of equal sizes does the least rewriting per segment removed).
 *   - A merge never produces more than `maxMergedRows` live rows; segments past half of that are left alone
 *     unless they carry too many deleted rows.
 *   - A segment with more than `deletesPctAllowed` of its rows deleted is merged (alone if need be) so the
 *     deleted rows are reclaimed.
 */
import { indexMinRows } from '../engine/index.js';

export interface PolicySegment {
  /** Content address (manifest SHA-256). */
  id: string;
  rows: number;
  deleted: number;
  indexed: boolean;
}

export interface MergePolicyOptions {
  floorRows: number;
  segmentsPerTier: number;
  maxMergeAtOnce: number;
  maxMergedRows: number;
  /** 0..1 */
  deletesPctAllowed: number;
}

export function defaultMergePolicy(dimension: number): MergePolicyOptions {
  return {
    floorRows: indexMinRows(dimension),
    segmentsPerTier: 1,
    maxMergeAtOnce: 8,
    maxMergedRows: 5_000_000,
    deletesPctAllowed: 0.2,
  };
}

const live = (s: PolicySegment) => s.rows - s.deleted;

/** How many segments a version of `total` live rows may hold before the policy merges. */
export function allowedSegments(total: number, o: MergePolicyOptions): number {
  let level = Math.max(1, o.floorRows);
  let left = total;
  let allowed = 0;
  for (;;) {
    const atLevel = left / level;
    if (atLevel < o.segmentsPerTier) {
      allowed += Math.ceil(atLevel);
      break;
    }
    allowed += o.segmentsPerTier;
    left -= o.segmentsPerTier * level;
    level *= o.maxMergeAtOnce;
  }
  return Math.max(1, allowed);
}

/** The merges the policy asks for now (each a list of segment ids, disjoint), most useful first. */
export function findMerges(segments: readonly PolicySegment[], o: MergePolicyOptions): string[][] {
  const merges: string[][] = [];
  const taken = new Set<string>();
  const size = (s: PolicySegment) => Math.max(live(s), o.floorRows);
  const tooLarge = (s: PolicySegment) => live(s) > o.maxMergedRows / 2;
  const deletesHigh = (s: PolicySegment) => s.rows > 0 && s.deleted / s.rows > o.deletesPctAllowed;

  let pool = segments.filter((s) => !tooLarge(s) || deletesHigh(s));
  const total = segments.reduce((n, s) => n + live(s), 0);
  let count = segments.length;
  const allowed = allowedSegments(total, o);
  while (count > allowed) {
    const sorted = [...pool].filter((s) => !taken.has(s.id)).sort((a, b) => size(b) - size(a));
    let best: { ids: string[]; score: number } | undefined;
    for (let i = 0; i < sorted.length; i++) {
      const window: PolicySegment[] = [];
      let rows = 0;
      for (let j = i; j < sorted.length && window.length < o.maxMergeAtOnce; j++) {
        const s = sorted[j]!;
        if (rows + live(s) > o.maxMergedRows) continue;
        window.push(s);
        rows += live(s);
      }
      if (window.length < 2) continue;
      // skew: the largest input's share of the result (1/n for n equal inputs); small merges are slightly
      // preferred (size^0.05), and merges that reclaim deleted rows more so
      const sizes = window.map(size);
      const sum = sizes.reduce((a, b) => a + b, 0);
      const skew = Math.max(...sizes) / sum;
      const deletedShare =
        window.reduce((n, s) => n + s.deleted, 0) /
        Math.max(
          1,
          window.reduce((n, s) => n + s.rows, 0),
        );
      const score = skew * sum ** 0.05 * (1 - deletedShare) ** 2;
      if (!best || score < best.score) best = { ids: window.map((s) => s.id), score };
    }
    if (!best) break;
    merges.push(best.ids);
    for (const id of best.ids) taken.add(id);
    count -= best.ids.length - 1;
    pool = pool.filter((s) => !taken.has(s.id));
  }
  // reclaim deleted rows of segments no merge above takes
  for (const s of segments) {
    if (!taken.has(s.id) && deletesHigh(s) && live(s) > 0) {
      merges.push([s.id]);
      taken.add(s.id);
    }
  }
  return merges;
}

/** `strata optimize`: everything into one segment (nothing when it already is one with nothing deleted). */
export function mergeAll(segments: readonly PolicySegment[]): string[][] {
  if (segments.length === 0) return [];
  if (segments.length === 1 && segments[0]!.deleted === 0) return [];
  return [segments.map((s) => s.id)];
}
