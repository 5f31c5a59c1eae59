/**
 * How two outcomes of the same operation are compared. Everything is compared exactly — ids, documents,
 * metadata (canonical JSON, so a number never equals a string or a boolean), embeddings as float32 bit
 * patterns, error classes — except:
 *   - distances: |a − b| ≤ DISTANCE_TOLERANCE.abs + DISTANCE_TOLERANCE.rel·max(|a|, |b|) (both servers
 *     compute in float32, with different summation orders);
 *   - the order of records that tie on distance in a query (and which of them a cut at n_results keeps);
 *   - the order of a `get`: Chroma answers in insertion order, Strata in snapshot order (README, "Chroma
 *     compatibility"). A get is compared as a set; a page (limit/offset) by its size, by every record on it
 *     being the record Chroma holds under that id, and by being the matching slice of Strata's own order.
 * A difference a server keeps on purpose is explained by a label (KNOWN), documented in the README table
 * and pinned by a test in chroma-diff.test.ts; it counts as explained, not as a failure.
 */
import type { Op } from './ops.js';
import type { CollectionView, GetView, Outcome, QueryView, RowView } from './sides.js';
import { canonicalJson } from './sides.js';

export const DISTANCE_TOLERANCE = { abs: 1e-5, rel: 1e-5 } as const;

/** Differences kept on purpose: label → one line for the report (the README table has the reasons). */
export const KNOWN = {
  'query-ids-missing': 'query with `ids` naming a missing record: Chroma 1.0.0 fails (500), Strata answers',
  'delete-count':
    'delete returns the number deleted on Strata; Chroma 1.0.0 answers {} (the 3.5.0 client: 0)',
  'rename-taken':
    'rename to a name in use: Chroma 1.0.0 fails with 500 (a UNIQUE constraint), Strata with 409',
  'query-no-vectors':
    'query of a collection read before a refused write set its dimension: Chroma 1.0.0 fails (500, "Nothing found on disk"), Strata answers no results',
} as const;
export type KnownLabel = keyof typeof KNOWN;

export type Verdict =
  | { kind: 'same' }
  | { kind: 'explained'; label: KnownLabel }
  | { kind: 'different'; what: string };

const SAME: Verdict = { kind: 'same' };
const differ = (what: string): Verdict => ({ kind: 'different', what });

export function close(a: number, b: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  return (
    Math.abs(a - b) <= DISTANCE_TOLERANCE.abs + DISTANCE_TOLERANCE.rel * Math.max(Math.abs(a), Math.abs(b))
  );
}

const show = (v: unknown) => {
  const s = canonicalJson(v);
  return s.length > 600 ? `${s.slice(0, 600)}…` : s;
};

function outcomeText(o: Outcome): string {
  return o.ok ? show(o.value) : `${o.error}(${o.message.slice(0, 600)})`;
}

/** Chroma failed with a 500 (3.0.14 reports it as ChromaConnectionError, 3.5.0 as ChromaServerError). */
const chroma500 = (o: Outcome, message: RegExp) =>
  !o.ok && /^500 /.test(o.message.replace(/^.*\[/, '')) && message.test(o.message);

/** A known difference this pair of outcomes is, if any. */
function explain(op: Op, chroma: Outcome, strata: Outcome, opts: CompareOptions): KnownLabel | undefined {
  if (op.op === 'query' && op.ids && chroma500(chroma, /Error finding id/) && strata.ok)
    return 'query-ids-missing';
  if (op.op === 'query' && chroma500(chroma, /Nothing found on disk/) && strata.ok) return 'query-no-vectors';
  if (op.op === 'delete' && chroma.ok && strata.ok && opts.version === '3.5.0') {
    const c = chroma.value as { deleted?: number } | null;
    const s = strata.value as { deleted?: number } | null;
    if (c?.deleted === 0 && typeof s?.deleted === 'number' && s.deleted > 0) return 'delete-count';
  }
  if (
    op.op === 'modifyCollection' &&
    op.name !== undefined &&
    chroma500(chroma, /UNIQUE constraint/) &&
    !strata.ok &&
    strata.error === 'ChromaUniqueError'
  ) {
    return 'rename-taken';
  }
  return undefined;
}

export interface CompareOptions {
  version: string;
  /** Collection ids both servers share (collections imported from Chroma): compared, and listed in order. */
  sharedIds: ReadonlySet<string>;
}

export function compareOutcomes(op: Op, chroma: Outcome, strata: Outcome, opts: CompareOptions): Verdict {
  const known = explain(op, chroma, strata, opts);
  if (known) return { kind: 'explained', label: known };
  if (!chroma.ok || !strata.ok) {
    if (!chroma.ok && !strata.ok && chroma.error === strata.error) return SAME;
    return differ(`chroma: ${outcomeText(chroma)}\nstrata: ${outcomeText(strata)}`);
  }
  const c = chroma.value;
  const s = strata.value;
  switch (op.op) {
    case 'get':
    case 'peek':
      return compareGet(
        c as { page: GetView; full?: GetView },
        s as { page: GetView; full?: GetView },
        op.op === 'get' ? (op.offset ?? 0) : 0,
        op.op === 'get' ? op.limit : (op.limit ?? 10),
        op.op === 'get' && (op.limit !== undefined || op.offset !== undefined) ? true : op.op === 'peek',
      );
    case 'query':
      return compareQuery(
        c as { answer: QueryView; distances?: number[][] | null },
        s as { answer: QueryView; distances?: number[][] | null },
      );
    case 'createCollection':
    case 'getCollection':
    case 'modifyCollection':
    case 'createCollectionIn':
    case 'getCollectionIn':
      return equalJson(collection(c as CollectionView, opts), collection(s as CollectionView, opts));
    case 'listCollections':
    case 'listCollectionsIn':
      return compareListing(
        c as { page: CollectionView[]; full?: CollectionView[] },
        s as { page: CollectionView[]; full?: CollectionView[] },
        op.op === 'listCollections' ? (op.offset ?? 0) : 0,
        op.op === 'listCollections' ? op.limit : undefined,
        opts,
      );
    case 'listDatabases':
      return equalJson(sortByName(c as Array<{ name: string }>), sortByName(s as Array<{ name: string }>));
    default:
      return equalJson(c, s);
  }
}

function collection(v: CollectionView, opts: CompareOptions): CollectionView {
  const out: CollectionView = { name: v.name, metadata: v.metadata, configuration: v.configuration };
  if (v.id !== undefined && opts.sharedIds.has(v.id)) out.id = v.id;
  return out;
}

const sortByName = <T extends { name: string }>(xs: T[]) =>
  [...xs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

/**
 * Both servers list collections by id. Where the ids are shared (imported collections) the order is
 * compared; elsewhere each server drew its own random ids, so a listing is compared as a set and a page
 * by its size and by being the matching slice of the server's own listing.
 */
function compareListing(
  c: { page: CollectionView[]; full?: CollectionView[] },
  s: { page: CollectionView[]; full?: CollectionView[] },
  offset: number,
  limit: number | undefined,
  opts: CompareOptions,
): Verdict {
  const norm = (xs: CollectionView[]) => xs.map((x) => collection(x, opts));
  if (c.page.every((x) => x.id !== undefined && opts.sharedIds.has(x.id)) && !c.full) {
    return equalJson(norm(c.page), norm(s.page));
  }
  if (!c.full || !s.full) return equalJson(sortByName(norm(c.page)), sortByName(norm(s.page)));
  const whole = equalJson(sortByName(norm(c.full)), sortByName(norm(s.full)));
  if (whole.kind !== 'same') return whole;
  if (c.page.length !== s.page.length)
    return differ(`a page of ${c.page.length} collections on chroma, ${s.page.length} on strata`);
  const slice = s.full.slice(offset, limit === undefined ? undefined : offset + limit).map((x) => x.name);
  return equalJson(
    slice,
    s.page.map((x) => x.name),
  );
}

function equalJson(c: unknown, s: unknown): Verdict {
  const a = canonicalJson(c);
  const b = canonicalJson(s);
  return a === b ? SAME : differ(`chroma: ${show(c)}\nstrata: ${show(s)}`);
}

const rowKey = (r: RowView) => canonicalJson(r);
const byId = (a: RowView, b: RowView) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function compareGet(
  c: { page: GetView; full?: GetView },
  s: { page: GetView; full?: GetView },
  offset: number,
  limit: number | undefined,
  paged: boolean,
): Verdict {
  if (canonicalJson(c.page.include) !== canonicalJson(s.page.include)) {
    return differ(`include: chroma ${show(c.page.include)}, strata ${show(s.page.include)}`);
  }
  if (!paged) {
    return equalJson([...c.page.rows].sort(byId), [...s.page.rows].sort(byId));
  }
  const cFull = c.full!;
  const sFull = s.full!;
  const whole = equalJson([...cFull.rows].sort(byId), [...sFull.rows].sort(byId));
  if (whole.kind !== 'same')
    return differ(`the whole answer behind a page differs:\n${(whole as { what: string }).what}`);
  if (c.page.rows.length !== s.page.rows.length) {
    return differ(`page of ${c.page.rows.length} records on chroma, ${s.page.rows.length} on strata`);
  }
  const chromaRows = new Map(cFull.rows.map((r) => [r.id, rowKey(r)]));
  for (const r of s.page.rows) {
    if (chromaRows.get(r.id) !== rowKey(r))
      return differ(`strata's page holds ${show(r)}, chroma has ${chromaRows.get(r.id) ?? 'no such record'}`);
  }
  const slice = sFull.rows.slice(offset, limit === undefined ? undefined : offset + limit).map((r) => r.id);
  if (canonicalJson(slice) !== canonicalJson(s.page.rows.map((r) => r.id))) {
    return differ(
      `strata's page ${show(s.page.rows.map((r) => r.id))} is not the slice ${show(slice)} of its own order`,
    );
  }
  return SAME;
}

function compareQuery(
  c: { answer: QueryView; distances?: number[][] | null },
  s: { answer: QueryView; distances?: number[][] | null },
): Verdict {
  const ca = c.answer;
  const sa = s.answer;
  if (canonicalJson(ca.include) !== canonicalJson(sa.include)) {
    return differ(`include: chroma ${show(ca.include)}, strata ${show(sa.include)}`);
  }
  if (ca.rows.length !== sa.rows.length) return differ(`${ca.rows.length} vs ${sa.rows.length} result lists`);
  const cd = ca.distances ?? c.distances ?? null;
  const sd = sa.distances ?? s.distances ?? null;
  for (let q = 0; q < ca.rows.length; q++) {
    const cr = ca.rows[q]!;
    const sr = sa.rows[q]!;
    if (cr.length !== sr.length) {
      return differ(
        `query ${q}: ${cr.length} results on chroma, ${sr.length} on strata\nchroma: ${show(cr.map((r) => r.id))}\nstrata: ${show(sr.map((r) => r.id))}`,
      );
    }
    const cdq = cd?.[q] ?? [];
    const sdq = sd?.[q] ?? [];
    for (let i = 0; i < cr.length; i++) {
      if (!close(cdq[i] ?? Number.NaN, sdq[i] ?? Number.NaN)) {
        return differ(
          `query ${q}, rank ${i}: distance ${cdq[i]} on chroma, ${sdq[i]} on strata\nchroma: ${show(cr.map((r) => r.id))} ${show(cdq)}\nstrata: ${show(sr.map((r) => r.id))} ${show(sdq)}`,
        );
      }
    }
    // same distances rank by rank; the records may swap within a tie, and a tie at the cut may keep others
    const last = cdq[cdq.length - 1] ?? Number.NaN;
    const cById = new Map(cr.map((r, i) => [r.id, { row: rowKey(r), d: cdq[i]! }]));
    const sById = new Map(sr.map((r, i) => [r.id, { row: rowKey(r), d: sdq[i]! }]));
    for (const [id, x] of sById) {
      const y = cById.get(id);
      if (y === undefined) {
        if (!close(x.d, last))
          return differ(
            `query ${q}: strata answers ${id} (distance ${x.d}), chroma does not\nchroma: ${show(cr.map((r) => r.id))} ${show(cdq)}\nstrata: ${show(sr.map((r) => r.id))} ${show(sdq)}`,
          );
        continue;
      }
      if (x.row !== y.row)
        return differ(`query ${q}: record ${id} differs\nchroma: ${y.row}\nstrata: ${x.row}`);
      if (!close(x.d, y.d)) return differ(`query ${q}: ${id} at distance ${y.d} on chroma, ${x.d} on strata`);
    }
    for (const [id, y] of cById) {
      if (!sById.has(id) && !close(y.d, last))
        return differ(`query ${q}: chroma answers ${id} (distance ${y.d}), strata does not`);
    }
  }
  return SAME;
}
