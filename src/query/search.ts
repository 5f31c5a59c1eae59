/**
 * k-NN over one opened snapshot, with Chroma's filters: the same plan the query server uses (selectivity
 * from the filter mask → exact search over the matching rows, or an over-fetch from the index). A
 * SnapshotSearcher keeps the snapshot's view (rows, metadata columns, vectors) for many queries;
 * searchSnapshot() is the one-shot form.
 */
import type { SegmentReader } from '../engine/index.js';
import { evaluateFilter, normalizeFilter } from './filter.js';
import { type KnnStrategy, knn } from './knn.js';
import { SnapshotView, type ViewOptions } from './snapshot-view.js';
import type { Where, WhereDocument } from './where.js';

export interface SearchOptions {
  where?: Where;
  whereDocument?: WhereDocument;
  ef?: number;
  /** Use exact search when at most this many records match (default: by dimension, see knn.ts). */
  exactBelow?: number;
}

export interface SearchHit {
  id: string;
  distance: number;
}

export interface SearchPlan {
  strategy: KnnStrategy;
  /** How many records passed the filters. */
  matching: number;
}

export class SnapshotSearcher implements Disposable {
  readonly view: SnapshotView;
  constructor(
    readonly reader: SegmentReader,
    opts: ViewOptions = {},
  ) {
    this.view = SnapshotView.build(reader, opts);
  }

  search(query: Float32Array, k: number, opts: SearchOptions = {}): { hits: SearchHit[]; plan: SearchPlan } {
    const filter = normalizeFilter({ where: opts.where, whereDocument: opts.whereDocument });
    const { mask, count } = evaluateFilter(this.view, filter);
    const r = knn(this.reader, this.view, query, k, mask, count, {
      ...(opts.ef ? { ef: opts.ef } : {}),
      ...(opts.exactBelow !== undefined ? { exactBelow: opts.exactBelow } : {}),
    });
    return {
      hits: r.rows.map((row, i) => ({ id: this.view.ids[row]!, distance: r.distances[i]! })),
      plan: { strategy: r.strategy, matching: count },
    };
  }

  /** Releases the view's index mapping; the reader stays open (its owner closes it). */
  close(): void {
    this.view.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

export function searchSnapshot(
  reader: SegmentReader,
  query: Float32Array,
  k: number,
  opts: SearchOptions = {},
): { hits: SearchHit[]; plan: SearchPlan } {
  using s = new SnapshotSearcher(reader);
  return s.search(query, k, opts);
}
