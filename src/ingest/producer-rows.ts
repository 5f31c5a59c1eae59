/**
 * What every producer format shares: rows as loose objects with where they came from, validated and put
 * in order; text split into lines; JSON objects parsed; unknown keys and bad `seq` values refused. Error
 * contexts carry `line` (1-based, text files) or `row` (0-based, Arrow files) and whatever the caller put
 * in `ctx` (usually `file`).
 */
import { ErrorCodes, type ErrorContext, InvalidInputError } from '../core/errors.js';
import type { Operation } from '../core/types.js';
import { validateStorableOperation } from './delta-encode.js';

/** One producer row before validation: the loose object, its optional producer-local seq, where it came from. */
export interface ProducerRow {
  raw: Record<string, unknown>;
  seq: number | undefined;
  where: ErrorContext;
}

/**
 * Validates rows and puts them in order: by `seq` (stable) when the producer gave one on every row, else
 * in file order. The same id twice with the same seq is refused: its order would be a guess.
 */
export function finishRows(rows: ProducerRow[], dimension: number, ctx: ErrorContext): Operation[] {
  const withSeq = rows.filter((r) => r.seq !== undefined).length;
  if (withSeq > 0 && withSeq < rows.length) {
    const first = rows.find((r) => r.seq === undefined)!;
    throw new InvalidInputError(
      ErrorCodes.BAD_RECORD,
      `seq is given on ${withSeq} of ${rows.length} rows; give it on every row or on none`,
      { ...ctx, ...first.where },
    );
  }
  const ops = rows.map((r) => {
    const c = { ...ctx, ...r.where };
    const o = validateStorableOperation(r.raw, dimension, c);
    if (o.op === 'delete') {
      for (const k of ['embedding', 'document', 'metadata'] as const) {
        if (r.raw[k] !== undefined && r.raw[k] !== null) {
          throw new InvalidInputError(ErrorCodes.BAD_OPERATION, `a delete carries no ${k}`, {
            ...c,
            id: o.id,
          });
        }
      }
    }
    return o;
  });
  if (withSeq === 0) return ops;

  const seen = new Map<string, ErrorContext>();
  rows.forEach((r, i) => {
    const key = `${r.seq}\u0000${ops[i]!.id}`;
    const prev = seen.get(key);
    if (prev) {
      throw new InvalidInputError(
        ErrorCodes.DUPLICATE_ID,
        `id ${JSON.stringify(ops[i]!.id)} appears twice with seq ${r.seq}: conflicting sequence numbers`,
        { ...ctx, ...r.where, id: ops[i]!.id, seq: r.seq, first: prev },
      );
    }
    seen.set(key, r.where);
  });
  const order = rows.map((_, i) => i).sort((a, b) => rows[a]!.seq! - rows[b]!.seq! || a - b);
  return order.map((i) => ops[i]!);
}

/** A producer-local `seq`: absent, or a safe integer (number or bigint). */
export function checkSeq(v: unknown, where: ErrorContext): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'bigint') {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new InvalidInputError(ErrorCodes.BAD_RECORD, `seq ${v} is not a safe integer`, where);
    }
    return Number(v);
  }
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw new InvalidInputError(ErrorCodes.BAD_RECORD, `seq ${JSON.stringify(v)} is not an integer`, where);
  }
  return v;
}

/** Non-blank lines of a text file, 1-based line numbers; a leading BOM is dropped. */
export function* lines(text: string): Generator<{ line: number; text: string }> {
  const all = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < all.length; i++) {
    const t = all[i]!;
    if (t.trim() !== '') yield { line: i + 1, text: t };
  }
}

export function parseJsonObject(text: string, where: ErrorContext): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new InvalidInputError(ErrorCodes.BAD_JSON, `invalid JSON: ${(e as Error).message}`, where, {
      cause: e,
    });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new InvalidInputError(ErrorCodes.BAD_RECORD, 'each line must be a JSON object', where);
  }
  return v as Record<string, unknown>;
}

/** Refuses a key outside `allowed` (a misspelt "metdata" must not vanish silently). */
export function refuseUnknownKeys(
  keys: Iterable<string>,
  allowed: ReadonlySet<string>,
  where: ErrorContext,
  what = 'field',
): void {
  for (const k of keys) {
    if (!allowed.has(k)) {
      throw new InvalidInputError(
        ErrorCodes.BAD_RECORD,
        `unknown ${what} ${JSON.stringify(k)} (allowed: ${[...allowed].join(', ')})`,
        where,
      );
    }
  }
}
