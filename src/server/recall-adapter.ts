/**
 * The one place where the recall watch and the Console's "check recall" meet the query layer: how to
 * answer a query exactly on a served snapshot, and how a live query becomes a RecallSample. When the query
 * layer changes (a version becoming a list of segments), this file is what follows it.
 */
import { evaluateFilter, type RowFilter } from '../query/filter.js';
import { knn } from '../query/knn.js';
import type { QueryAnswer } from './read-ops.js';
import type { RecallWatch } from './recall-watch.js';
import type { ServedSnapshot } from './served-snapshot.js';

/** The k nearest matching rows by exact distance over every matching vector (no index). */
export function exactQuery(
  snap: ServedSnapshot,
  query: Float32Array,
  k: number,
  filter: RowFilter,
): { rows: number[]; distances: number[] } {
  const { mask, count } = evaluateFilter(snap.view, filter);
  const r = knn(snap.segment.reader, snap.view, query, k, mask, count, {
    exactBelow: Number.MAX_SAFE_INTEGER,
  });
  return { rows: r.rows, distances: r.distances };
}

const EXACT_PLANS = new Set(['exact', 'exact-subset']);

/**
 * Offers each query of a live request to the recall watch (call only when watch.wants()). A sample holds
 * its own reference on the snapshot until the watch is done with it, so the answer is checked against the
 * very snapshot it came from even if a swap happens meanwhile.
 */
export function offerRecallSamples(
  watch: RecallWatch,
  collection: string,
  snap: ServedSnapshot,
  queries: Float32Array[],
  k: number,
  filter: RowFilter,
  answer: QueryAnswer,
): void {
  for (const [i, q] of queries.entries()) {
    const rows = answer.rows[i] ?? [];
    const approximate = rows.map((r) => snap.view.ids[r]!);
    if (EXACT_PLANS.has(answer.strategies[i] ?? '')) {
      watch.offer({ collection, k, approximate, exact: null });
      continue;
    }
    const ref = snap.acquire();
    watch.offer({
      collection,
      k,
      approximate,
      exact: () => exactQuery(ref, q, k, filter).rows.map((r) => ref.view.ids[r]!),
      release: () => ref.release(),
    });
  }
}
