/**
 * Chroma's metadata (`where`) and document (`where_document`) filters, evaluated on one record.
 * where:          {key: value} | {key: {$eq|$ne|$gt|$gte|$lt|$lte: v}} | {key: {$in|$nin: [..]}}
 *                 | {key: {$contains|$not_contains: scalar}} (array-valued metadata) | {$and: [...]} | {$or: [...]}
 * where_document: {$contains: s} | {$not_contains: s} | {$regex: s} | {$not_regex: s} | {$and|$or: [...]}
 */
import { ErrorCodes, InvalidInputError } from '../core/errors.js';
import type { Metadata, MetadataScalar, MetadataValue } from '../core/types.js';

export type Where = Record<string, unknown>;
export type WhereDocument = Record<string, unknown>;

const bad = (msg: string) => new InvalidInputError(ErrorCodes.BAD_RECORD, `invalid filter: ${msg}`, {});

function cmp(a: MetadataScalar, b: unknown, op: string): boolean {
  if (typeof b === 'number' && typeof a === 'number') {
    switch (op) {
      case '$gt':
        return a > b;
      case '$gte':
        return a >= b;
      case '$lt':
        return a < b;
      case '$lte':
        return a <= b;
    }
  }
  return false;
}

function matchOp(v: MetadataValue | undefined, op: string, arg: unknown): boolean {
  switch (op) {
    case '$eq':
      return v !== undefined && !Array.isArray(v) && v === arg;
    case '$ne':
      return !(v !== undefined && !Array.isArray(v) && v === arg);
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte':
      if (typeof arg !== 'number') throw bad(`${op} needs a number`);
      return v !== undefined && !Array.isArray(v) && cmp(v, arg, op);
    case '$in':
      if (!Array.isArray(arg)) throw bad('$in needs an array');
      return v !== undefined && !Array.isArray(v) && arg.includes(v);
    case '$nin':
      if (!Array.isArray(arg)) throw bad('$nin needs an array');
      return !(v !== undefined && !Array.isArray(v) && arg.includes(v));
    case '$contains':
      return Array.isArray(v)
        ? v.includes(arg as MetadataScalar)
        : typeof v === 'string' && typeof arg === 'string' && v.includes(arg);
    case '$not_contains':
      return !(Array.isArray(v)
        ? v.includes(arg as MetadataScalar)
        : typeof v === 'string' && typeof arg === 'string' && v.includes(arg));
    default:
      throw bad(`unknown operator ${op}`);
  }
}

export function validateWhere(where: unknown): Where | undefined {
  if (where === undefined || where === null) return undefined;
  if (typeof where !== 'object' || Array.isArray(where)) throw bad('where must be an object');
  // Evaluate once against an empty record: surfaces unknown operators and malformed clauses early.
  matchesWhere(null, where as Where);
  return Object.keys(where).length === 0 ? undefined : (where as Where);
}

export function matchesWhere(metadata: Metadata | null | undefined, where: Where): boolean {
  for (const [k, cond] of Object.entries(where)) {
    if (k === '$and' || k === '$or') {
      if (!Array.isArray(cond)) throw bad(`${k} needs an array`);
      const parts = cond.map((c) => matchesWhere(metadata, c as Where));
      if (k === '$and' ? !parts.every(Boolean) : !parts.some(Boolean)) return false;
      continue;
    }
    const v = metadata?.[k];
    if (cond !== null && typeof cond === 'object' && !Array.isArray(cond)) {
      for (const [op, arg] of Object.entries(cond)) if (!matchOp(v, op, arg)) return false;
    } else if (!matchOp(v, '$eq', cond)) return false;
  }
  return true;
}

const regexCache = new Map<string, RegExp>();
function re(s: unknown): RegExp {
  if (typeof s !== 'string') throw bad('$regex needs a string');
  let r = regexCache.get(s);
  if (!r) {
    try {
      r = new RegExp(s, 'u');
    } catch {
      throw bad(`bad regular expression ${JSON.stringify(s)}`);
    }
    if (regexCache.size > 256) regexCache.clear();
    regexCache.set(s, r);
  }
  return r;
}

export function validateWhereDocument(wd: unknown): WhereDocument | undefined {
  if (wd === undefined || wd === null) return undefined;
  if (typeof wd !== 'object' || Array.isArray(wd)) throw bad('where_document must be an object');
  matchesWhereDocument('', wd as WhereDocument);
  return Object.keys(wd).length === 0 ? undefined : (wd as WhereDocument);
}

/** A record without a document matches no $contains/$regex and every $not_contains/$not_regex (as in Chroma). */
export function matchesWhereDocument(document: string | null | undefined, wd: WhereDocument): boolean {
  const has = document !== null && document !== undefined;
  const doc = document ?? '';
  for (const [op, arg] of Object.entries(wd)) {
    switch (op) {
      case '$and':
      case '$or': {
        if (!Array.isArray(arg)) throw bad(`${op} needs an array`);
        const parts = arg.map((c) => matchesWhereDocument(document, c as WhereDocument));
        if (op === '$and' ? !parts.every(Boolean) : !parts.some(Boolean)) return false;
        break;
      }
      case '$contains':
        if (typeof arg !== 'string') throw bad('$contains needs a string');
        if (!has || !doc.includes(arg)) return false;
        break;
      case '$not_contains':
        if (typeof arg !== 'string') throw bad('$not_contains needs a string');
        if (has && doc.includes(arg)) return false;
        break;
      case '$regex':
        if (!re(arg).test(doc) || !has) return false;
        break;
      case '$not_regex':
        if (has && re(arg).test(doc)) return false;
        break;
      default:
        throw bad(`unknown where_document operator ${op}`);
    }
  }
  return true;
}
