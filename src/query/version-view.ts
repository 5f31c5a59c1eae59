/**
 * A version as queries see it: its segments (row sources) each with a mask of the rows still live (not
 * superseded as of the version), searched source by source and merged. Every source picks its own plan
 * from its own exact eligible count (filter ∧ live), answers with exact f32 distances, and the top k of all
 * answers is the result. get / count / where span every source. Immutable: a new version (or a new tail)
 * is a new view over the same shared sources.
 */
import type { Metric } from '../core/types.js';
import { evaluateFilter, type Mask, type RowFilter } from './filter.js';
import { type KnnOptions, type KnnStrategy, knn } from './knn.js';
import type { RowSource } from './row-source.js';

export interface Part {
  source: RowSource;
  /** 1 = live; null = every row is live. */
  live: Mask | null;
  liveCount: number;
}

/** A row of a view: which part, which row of that part's source. */
export interface RowRef {
  part: number;
  row: number;
}

export interface Evaluated {
  /** Per part: eligible rows (filter ∧ live; null = every row) and how many. */
  masks: Array<{ mask: Mask | null; count: number }>;
  total: number;
}

export interface Hit extends RowRef {
  distance: number;
}

export function liveMask(size: number, deadRows: Iterable<number>): { live: Mask | null; liveCount: number } {
  let live: Mask | null = null;
  let dead = 0;
  for (const r of deadRows) {
    if (r < 0 || r >= size) continue;
    live ??= new Uint8Array(size).fill(1);
    if (live[r]) {
      live[r] = 0;
      dead++;
    }
  }
  return { live, liveCount: size - dead };
}

export class VersionView {
  readonly parts: readonly Part[];
  readonly metric: Metric;
  readonly dimension: number;
  readonly count: number;

  constructor(parts: Part[], metric: Metric, dimension: number) {
    this.parts = parts;
    this.metric = metric;
    this.dimension = dimension;
    this.count = parts.reduce((n, p) => n + p.liveCount, 0);
  }

  /** The live row of an id, if any (a version holds at most one). Later parts first. */
  rowOfId(id: string): RowRef | undefined {
    for (let part = this.parts.length - 1; part >= 0; part--) {
      const p = this.parts[part]!;
      const row = p.source.rowOfId(id);
      if (row >= 0 && (p.live === null || p.live[row])) return { part, row };
    }
    return undefined;
  }

  evaluate(filter: RowFilter): Evaluated {
    let total = 0;
    const masks = this.parts.map((p) => {
      const f = evaluateFilter(p.source, filter);
      let mask: Mask | null;
      let count: number;
      if (p.live === null) {
        mask = f.mask;
        count = f.count;
      } else if (f.mask === null) {
        mask = p.live;
        count = p.liveCount;
      } else {
        mask = f.mask; // a fresh array: safe to narrow in place
        count = 0;
        const live = p.live;
        for (let i = 0; i < mask.length; i++) {
          const v = mask[i]! & live[i]!;
          mask[i] = v;
          count += v;
        }
      }
      total += count;
      return { mask, count };
    });
    return { masks, total };
  }

  /** Rows that pass the filter: in the order of `ids` when given, else part by part in row order. */
  select(filter: RowFilter, evaluated = this.evaluate(filter)): RowRef[] {
    const out: RowRef[] = [];
    if (filter.ids) {
      const seen = new Set<string>();
      for (const id of filter.ids) {
        if (seen.has(id)) continue;
        seen.add(id);
        for (let part = this.parts.length - 1; part >= 0; part--) {
          const row = this.parts[part]!.source.rowOfId(id);
          const m = evaluated.masks[part]!.mask;
          if (row >= 0 && (m === null || m[row])) {
            out.push({ part, row });
            break;
          }
        }
      }
      return out;
    }
    for (let part = 0; part < this.parts.length; part++) {
      const { mask } = evaluated.masks[part]!;
      const size = this.parts[part]!.source.size;
      if (mask === null) for (let row = 0; row < size; row++) out.push({ part, row });
      else for (let row = 0; row < size; row++) if (mask[row]) out.push({ part, row });
    }
    return out;
  }

  /** The k nearest eligible rows over every part, closest first, and the plan each part used. */
  knn(
    query: Float32Array,
    k: number,
    evaluated: Evaluated,
    opts: KnnOptions = {},
  ): { hits: Hit[]; strategies: KnnStrategy[] } {
    const hits: Hit[] = [];
    const strategies: KnnStrategy[] = [];
    for (let part = 0; part < this.parts.length; part++) {
      const { mask, count } = evaluated.masks[part]!;
      if (count === 0) continue;
      const r = knn(this.parts[part]!.source, this.metric, query, k, mask, count, opts);
      strategies.push(r.strategy);
      for (let i = 0; i < r.rows.length; i++) hits.push({ part, row: r.rows[i]!, distance: r.distances[i]! });
    }
    hits.sort((a, b) => a.distance - b.distance || a.part - b.part || a.row - b.row);
    return { hits: hits.slice(0, k), strategies };
  }

  id(ref: RowRef): string {
    return this.parts[ref.part]!.source.ids[ref.row]!;
  }
}

/** A segment view as a part of a version: its rows whose keys the deletion vector names are not live. */
export function segmentPart(
  source: RowSource & { rowOfKey(key: number): number },
  deletedKeys: ArrayLike<number>,
): Part {
  const rows: number[] = [];
  for (let i = 0; i < deletedKeys.length; i++) rows.push(source.rowOfKey(deletedKeys[i]!));
  return { source, ...liveMask(source.size, rows) };
}
