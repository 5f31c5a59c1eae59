import { UsageError } from '../core/errors.js';
import type { DeltaRef } from './steps.js';

export interface TreePlan {
  chunks: DeltaRef[][];
  /** Chunk indices per group, contiguous and in sequence order. */
  groups: number[][];
}

export interface PlanOptions {
  chunkSize?: number;
  groupSize?: number;
}

/**
 * Deltas (pending, any order) → chunks of `chunkSize` consecutive deltas → groups of `groupSize`
 * consecutive chunks. Contiguity in sequence order is what makes the fan-in equal to a one-by-one replay.
 */
export function planTree(deltas: DeltaRef[], opts: PlanOptions = {}): TreePlan {
  const chunkSize = opts.chunkSize ?? 3;
  const groupSize = opts.groupSize ?? 10;
  if (!Number.isInteger(chunkSize) || chunkSize < 1)
    throw new UsageError(`chunk size must be ≥ 1, got ${chunkSize}`);
  if (!Number.isInteger(groupSize) || groupSize < 1)
    throw new UsageError(`group size must be ≥ 1, got ${groupSize}`);
  const sorted = [...deltas].sort((a, b) => a.seqStart - b.seqStart);
  const chunks: DeltaRef[][] = [];
  for (let i = 0; i < sorted.length; i += chunkSize) chunks.push(sorted.slice(i, i + chunkSize));
  const groups: number[][] = [];
  for (let i = 0; i < chunks.length; i += groupSize) {
    groups.push(Array.from({ length: Math.min(groupSize, chunks.length - i) }, (_, j) => i + j));
  }
  return { chunks, groups };
}
