/**
 * k-NN over a snapshot, with optional filters. The index binding cannot filter, so the planner chooses
 * per query: exact search over the matching subset when it is small, otherwise over-fetching from the
 * ANN index and widening until k matches are found (falling back to exact when widening stops paying).
 */
import type { Metadata } from '../core/types.js';
import type { Hit, SegmentReader } from '../engine/index.js';
import { matchesWhere, matchesWhereDocument, type Where, type WhereDocument } from './where.js';

export interface SearchOptions {
  where?: Where;
  whereDocument?: WhereDocument;
  ef?: number;
  /** Use exact search when the matching subset is at most this many records (default 20,000). */
  exactBelow?: number;
}

export interface SearchPlan {
  strategy: 'ann' | 'exact-subset' | 'ann-overfetch' | 'exact';
  matching?: number;
}

/** Keys of the records that satisfy the filters (a scan; the query server keeps a faster path). */
export function matchingKeys(reader: SegmentReader, where?: Where, whereDocument?: WhereDocument): number[] {
  const out: number[] = [];
  const stmt = reader.database.prepare('SELECT key, metadata, document FROM records WHERE kind = 0');
  for (const row of stmt.iterate() as Iterable<{
    key: number;
    metadata: string | null;
    document: string | null;
  }>) {
    if (where && !matchesWhere(row.metadata ? (JSON.parse(row.metadata) as Metadata) : null, where)) continue;
    if (whereDocument && !matchesWhereDocument(row.document, whereDocument)) continue;
    out.push(row.key);
  }
  return out;
}

export function searchSnapshot(
  reader: SegmentReader,
  query: Float32Array,
  k: number,
  opts: SearchOptions = {},
): { hits: Hit[]; plan: SearchPlan } {
  if (!opts.where && !opts.whereDocument) {
    if (!reader.hasIndex) return { hits: reader.exactSearch(query, k), plan: { strategy: 'exact' } };
    return { hits: reader.search(query, k, { ef: opts.ef }), plan: { strategy: 'ann' } };
  }
  const keys = matchingKeys(reader, opts.where, opts.whereDocument);
  const exactBelow = opts.exactBelow ?? 20_000;
  if (keys.length === 0) return { hits: [], plan: { strategy: 'exact-subset', matching: 0 } };
  if (keys.length <= exactBelow || !reader.hasIndex) {
    return {
      hits: reader.exactSearch(query, k, keys),
      plan: { strategy: 'exact-subset', matching: keys.length },
    };
  }
  const allowed = new Set(keys);
  const total = reader.count;
  let fetch = Math.min(total, Math.ceil((k * total) / keys.length) * 2 + k);
  for (;;) {
    const hits = reader
      .search(query, fetch, { ef: Math.max(opts.ef ?? 0, fetch) })
      .filter((h) => allowed.has(h.key));
    if (hits.length >= k || fetch >= total) {
      return { hits: hits.slice(0, k), plan: { strategy: 'ann-overfetch', matching: keys.length } };
    }
    if (fetch * 4 > total / 2) {
      return {
        hits: reader.exactSearch(query, k, keys),
        plan: { strategy: 'exact-subset', matching: keys.length },
      };
    }
    fetch *= 4;
  }
}
