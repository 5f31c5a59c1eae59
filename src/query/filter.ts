/**
 * Chroma's `where` and `where_document` filters evaluated over a RowSource's columns, all rows at once,
 * into a match mask. The semantics are exactly those of src/query/where.ts (matchesWhere /
 * matchesWhereDocument, which validate the filter first); a property test holds the two together.
 */
import type { MetadataScalar } from '../core/types.js';
import type { RowSource } from './row-source.js';
import { type Column, Tag } from './segment-view.js';
import { validateWhere, validateWhereDocument, type Where, type WhereDocument } from './where.js';

/** A match mask: 1 = the row matches. */
export type Mask = Uint8Array;

export interface RowFilter {
  where?: Where;
  whereDocument?: WhereDocument;
  /** Restrict to these ids (Chroma's `ids` in get/query/delete). */
  ids?: string[];
}

/** Validates the filter parts (coded 400-class errors) and drops empty ones. */
export function normalizeFilter(f: { where?: unknown; whereDocument?: unknown; ids?: string[] }): RowFilter {
  const out: RowFilter = {};
  const where = validateWhere(f.where);
  const whereDocument = validateWhereDocument(f.whereDocument);
  if (where) out.where = where;
  if (whereDocument) out.whereDocument = whereDocument;
  if (f.ids) out.ids = f.ids;
  return out;
}

export function isEmptyFilter(f: RowFilter): boolean {
  return !f.where && !f.whereDocument && !f.ids;
}

/** The mask of rows that pass the filter (null = every row), and how many pass. */
export function evaluateFilter(view: RowSource, f: RowFilter): { mask: Mask | null; count: number } {
  if (isEmptyFilter(f)) return { mask: null, count: view.size };
  let mask: Mask;
  if (f.ids) {
    mask = new Uint8Array(view.size);
    for (const id of f.ids) {
      const r = view.rowOfId(id);
      if (r >= 0) mask[r] = 1;
    }
  } else mask = new Uint8Array(view.size).fill(1);
  if (f.where) andInto(mask, whereMask(view, f.where));
  if (f.whereDocument) andInto(mask, documentMask(view, f.whereDocument));
  let count = 0;
  for (let i = 0; i < mask.length; i++) count += mask[i]!;
  return { mask, count };
}

function andInto(a: Mask, b: Mask): void {
  for (let i = 0; i < a.length; i++) a[i] = a[i]! & b[i]!;
}
function orInto(a: Mask, b: Mask): void {
  for (let i = 0; i < a.length; i++) a[i] = a[i]! | b[i]!;
}
function not(a: Mask): Mask {
  for (let i = 0; i < a.length; i++) a[i] = a[i]! ^ 1;
  return a;
}

function whereMask(view: RowSource, where: Where): Mask {
  const mask = new Uint8Array(view.size).fill(1);
  for (const [k, cond] of Object.entries(where)) {
    if (k === '$and' || k === '$or') {
      const parts = cond as Where[];
      if (k === '$and') for (const p of parts) andInto(mask, whereMask(view, p));
      else {
        const any = new Uint8Array(view.size);
        for (const p of parts) orInto(any, whereMask(view, p));
        andInto(mask, any);
      }
      continue;
    }
    const col = view.column(k);
    if (cond !== null && typeof cond === 'object' && !Array.isArray(cond)) {
      for (const [op, arg] of Object.entries(cond)) andInto(mask, opMask(col, view.size, op, arg));
    } else andInto(mask, opMask(col, view.size, '$eq', cond));
  }
  return mask;
}

function eqMask(col: Column, n: number, arg: unknown): Mask {
  const m = new Uint8Array(n);
  if (typeof arg === 'string') {
    const code = col.dict.get(arg);
    if (code === undefined) return m;
    for (let i = 0; i < n; i++) m[i] = col.tag[i] === Tag.string && col.str[i] === code ? 1 : 0;
  } else if (typeof arg === 'number') {
    for (let i = 0; i < n; i++) m[i] = col.tag[i] === Tag.number && col.num[i] === arg ? 1 : 0;
  } else if (typeof arg === 'boolean') {
    const b = arg ? 1 : 0;
    for (let i = 0; i < n; i++) m[i] = col.tag[i] === Tag.boolean && col.num[i] === b ? 1 : 0;
  }
  return m;
}

function containsMask(col: Column, n: number, arg: unknown): Mask {
  const m = new Uint8Array(n);
  for (const [row, arr] of col.arrays) if (arr.includes(arg as MetadataScalar)) m[row] = 1;
  if (typeof arg === 'string') {
    for (const [s, code] of col.dict) {
      if (!s.includes(arg)) continue;
      for (let i = 0; i < n; i++) if (col.tag[i] === Tag.string && col.str[i] === code) m[i] = 1;
    }
  }
  return m;
}

function opMask(col: Column, n: number, op: string, arg: unknown): Mask {
  switch (op) {
    case '$eq':
      return eqMask(col, n, arg);
    case '$ne':
      return not(eqMask(col, n, arg));
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte': {
      const x = arg as number;
      const m = new Uint8Array(n);
      const { tag, num } = col;
      if (op === '$gt') for (let i = 0; i < n; i++) m[i] = tag[i] === Tag.number && num[i]! > x ? 1 : 0;
      else if (op === '$gte')
        for (let i = 0; i < n; i++) m[i] = tag[i] === Tag.number && num[i]! >= x ? 1 : 0;
      else if (op === '$lt') for (let i = 0; i < n; i++) m[i] = tag[i] === Tag.number && num[i]! < x ? 1 : 0;
      else for (let i = 0; i < n; i++) m[i] = tag[i] === Tag.number && num[i]! <= x ? 1 : 0;
      return m;
    }
    case '$in':
    case '$nin': {
      const m = new Uint8Array(n);
      for (const v of arg as unknown[]) orInto(m, eqMask(col, n, v));
      return op === '$in' ? m : not(m);
    }
    case '$contains':
      return containsMask(col, n, arg);
    case '$not_contains':
      return not(containsMask(col, n, arg));
    default:
      // normalizeFilter validated the filter; an unknown operator cannot get here
      throw new Error(`unknown operator ${op}`);
  }
}

function documentMask(view: RowSource, wd: WhereDocument): Mask {
  const docs = view.documents();
  const n = view.size;
  const mask = new Uint8Array(n).fill(1);
  for (const [op, arg] of Object.entries(wd)) {
    switch (op) {
      case '$and':
        for (const p of arg as WhereDocument[]) andInto(mask, documentMask(view, p));
        break;
      case '$or': {
        const any = new Uint8Array(n);
        for (const p of arg as WhereDocument[]) orInto(any, documentMask(view, p));
        andInto(mask, any);
        break;
      }
      // a record without a document matches no $contains/$regex and every $not_contains/$not_regex
      case '$contains':
      case '$not_contains': {
        const s = arg as string;
        const want = op === '$contains';
        for (let i = 0; i < n; i++) {
          const d = docs[i];
          if ((d?.includes(s) ?? false) !== want) mask[i] = 0;
        }
        break;
      }
      case '$regex':
      case '$not_regex': {
        const re = new RegExp(arg as string, 'u');
        const want = op === '$regex';
        for (let i = 0; i < n; i++) {
          const d = docs[i];
          if ((d !== null && d !== undefined && re.test(d)) !== want) mask[i] = 0;
        }
        break;
      }
      default:
        throw new Error(`unknown where_document operator ${op}`);
    }
  }
  return mask;
}
