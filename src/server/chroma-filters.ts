/**
 * The shape Chroma's server 1.0 requires of `where` and `where_document` before it evaluates them
 * (src/query/where.ts then validates and evaluates the filter itself). Checked against the real server:
 *  - where: exactly one key; a metadata key takes a scalar (= $eq) or exactly one operator — $eq/$ne (a
 *    scalar), $gt/$gte/$lt/$lte (a number), $in/$nin (a non-empty list of one value type: strings,
 *    booleans, integers or floats — [1, 1.5] is two types) — and $and/$or a list of where clauses;
 *    anything else is 400 "Invalid where clause". $contains/$not_contains on metadata are Strata's (and
 *    later Chroma's) extension for array values; Chroma 1.0 refuses them.
 *  - where_document: exactly one operator — $contains/$not_contains/$regex/$not_regex (a string) or
 *    $and/$or (a list); a regex Rust's regex crate cannot read (look-around, back-references) is 400.
 */
import { ErrorCodes, InvalidInputError } from '../core/errors.js';

const invalidWhere = () => new InvalidInputError(ErrorCodes.BAD_RECORD, 'Invalid where clause');
const invalidDocument = () => new InvalidInputError(ErrorCodes.BAD_RECORD, 'Invalid where document clause');

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

type ValueType = 'string' | 'boolean' | 'int' | 'float';
function valueType(v: unknown): ValueType | undefined {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number' && Number.isFinite(v)) return Number.isSafeInteger(v) ? 'int' : 'float';
  return undefined;
}

export function checkChromaWhere(where: unknown): void {
  if (where === undefined || where === null) return;
  if (!isObject(where)) throw invalidWhere();
  const entries = Object.entries(where);
  if (entries.length !== 1) throw invalidWhere();
  const [key, cond] = entries[0]!;
  if (key === '$and' || key === '$or') {
    if (!Array.isArray(cond)) throw invalidWhere();
    for (const c of cond) checkChromaWhere(c);
    return;
  }
  if (key.startsWith('$')) throw invalidWhere();
  if (valueType(cond) !== undefined) return;
  if (!isObject(cond)) throw invalidWhere();
  const ops = Object.entries(cond);
  if (ops.length !== 1) throw invalidWhere();
  const [op, arg] = ops[0]!;
  switch (op) {
    case '$eq':
    case '$ne':
      if (valueType(arg) === undefined) throw invalidWhere();
      return;
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte':
      if (typeof arg !== 'number' || !Number.isFinite(arg)) throw invalidWhere();
      return;
    case '$in':
    case '$nin': {
      if (!Array.isArray(arg) || arg.length === 0) throw invalidWhere();
      const types = new Set(arg.map(valueType));
      if (types.size !== 1 || types.has(undefined)) throw invalidWhere();
      return;
    }
    case '$contains':
    case '$not_contains':
      if (valueType(arg) === undefined) throw invalidWhere();
      return;
    default:
      throw invalidWhere();
  }
}

/** Constructs Rust's regex crate refuses (JavaScript reads them). */
const RUST_UNSUPPORTED = /\(\?<?[=!]|\\[1-9]|\\k</;

export function checkChromaWhereDocument(wd: unknown): void {
  if (wd === undefined || wd === null) return;
  if (!isObject(wd)) throw invalidDocument();
  const entries = Object.entries(wd);
  if (entries.length !== 1) throw invalidDocument();
  const [op, arg] = entries[0]!;
  switch (op) {
    case '$and':
    case '$or':
      if (!Array.isArray(arg)) throw invalidDocument();
      for (const c of arg) checkChromaWhereDocument(c);
      return;
    case '$contains':
    case '$not_contains':
      if (typeof arg !== 'string') throw invalidDocument();
      return;
    case '$regex':
    case '$not_regex':
      if (typeof arg !== 'string') throw invalidDocument();
      if (RUST_UNSUPPORTED.test(arg)) {
        throw new InvalidInputError(
          ErrorCodes.BAD_RECORD,
          `Regex syntax errror: look-around and back-references are not supported: ${arg}`,
        );
      }
      return;
    default:
      throw invalidDocument();
  }
}
