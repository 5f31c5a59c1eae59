/**
 * The one place where the recall watch and the Console's "check recall" meet the query layer: how to
 * answer a query exactly on the version a read saw (segments and tail), and how a live query becomes a
 * RecallSample.
 */
import type { RowFilter, VersionView } from '../query/index.js';
import type { QueryAnswer } from './read-ops.js';
import type { RecallWatch } from './recall-watch.js';

/** The k nearest matching records by exact distance over every matching vector (no index), as ids. */
export function exactQuery(
  view: VersionView,
  query: Float32Array,
  k: number,
  filter: RowFilter,
): { ids: string[]; distances: number[] } {
  const r = view.knn(query, k, view.evaluate(filter), { exactBelow: Number.MAX_SAFE_INTEGER });
  return { ids: r.hits.map((h) => view.id(h)), distances: r.hits.map((h) => h.distance) };
}

const EXACT_PLANS = new Set(['exact', 'exact-subset']);

/**
 * Offers each query of a live request to the recall watch (call only when watch.wants()). A sample holds
 * its own reference on the version (`retain`) until the watch is done with it, so the answer is checked
 * against the very version it came from even if a swap happens meanwhile.
 */
export function offerRecallSamples(
  watch: RecallWatch,
  collection: string,
  view: VersionView,
  retain: () => () => void,
  queries: Float32Array[],
  k: number,
  filter: RowFilter,
  answer: QueryAnswer,
): void {
  for (const [i, q] of queries.entries()) {
    const approximate = (answer.refs[i] ?? []).map((r) => view.id(r));
    if ((answer.strategies[i] ?? []).every((s) => EXACT_PLANS.has(s))) {
      watch.offer({ collection, k, approximate, exact: null });
      continue;
    }
    const release = retain();
    watch.offer({
      collection,
      k,
      approximate,
      exact: () => exactQuery(view, q, k, filter).ids,
      release,
    });
  }
}
