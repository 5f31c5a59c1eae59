/**
 * k-NN over a version's view, with Chroma's filters: the plan the query server uses, for one-shot readers
 * (the CLI, the demo, tests). Hits carry ids and exact distances.
 */
import { normalizeFilter } from './filter.js';
import type { KnnStrategy } from './knn.js';
import type { VersionView } from './version-view.js';
import type { Where, WhereDocument } from './where.js';

export interface SearchOptions {
  where?: Where;
  whereDocument?: WhereDocument;
  ef?: number;
  /** Use exact search when at most this many records of a segment are eligible (default: by dimension). */
  exactBelow?: number;
}

export interface SearchHit {
  id: string;
  distance: number;
}

export interface SearchPlan {
  /** The plan of each segment that had eligible rows. */
  strategies: KnnStrategy[];
  /** How many records passed the filters. */
  matching: number;
}

export function searchVersion(
  view: VersionView,
  query: Float32Array,
  k: number,
  opts: SearchOptions = {},
): { hits: SearchHit[]; plan: SearchPlan } {
  const filter = normalizeFilter({ where: opts.where, whereDocument: opts.whereDocument });
  const evaluated = view.evaluate(filter);
  const r = view.knn(query, k, evaluated, {
    ...(opts.ef ? { ef: opts.ef } : {}),
    ...(opts.exactBelow !== undefined ? { exactBelow: opts.exactBelow } : {}),
  });
  return {
    hits: r.hits.map((h) => ({ id: view.id(h), distance: h.distance })),
    plan: { strategies: r.strategies, matching: evaluated.total },
  };
}
