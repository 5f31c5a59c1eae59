/**
 * Request bodies of Chroma's API v2 turned into validated Strata values, with a clear coded 400 for
 * anything malformed (the message names the field and the row). Embeddings come as arrays of numbers or,
 * as the chromadb client sends them once pre-flight says supports_base64_encoding, as base64 strings of
 * little-endian float32.
 */
import { ErrorCodes, InvalidInputError, StrataError, UsageError } from '../core/errors.js';
import type { Operation } from '../core/types.js';
import { validateStorableOperation } from '../ingest/index.js';

export type Body = Record<string, unknown>;

export const INCLUDE_VALUES = ['documents', 'embeddings', 'metadatas', 'distances', 'uris'] as const;
export type Include = (typeof INCLUDE_VALUES)[number];

const bad = (message: string, context: Record<string, unknown> = {}) =>
  new InvalidInputError(ErrorCodes.BAD_RECORD, message, context);

export function asBody(b: unknown): Body {
  if (b === undefined || b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw bad('the request body must be a JSON object');
  return b as Body;
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** One embedding: number[] or base64 float32 LE. */
export function decodeEmbedding(v: unknown, ctx: Record<string, unknown>): Float32Array | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') {
    if (v.length % 4 !== 0 || !BASE64_RE.test(v)) throw bad('embedding is not valid base64', ctx);
    const bytes = Buffer.from(v, 'base64');
    if (bytes.byteLength % 4 !== 0)
      throw bad('base64 embedding is not a whole number of float32 values', ctx);
    const out = new Float32Array(bytes.byteLength / 4);
    for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
    return out;
  }
  if (Array.isArray(v)) {
    const out = new Float32Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (typeof x !== 'number')
        throw new InvalidInputError(ErrorCodes.NON_FINITE, `embedding[${i}] is not a number`, ctx);
      out[i] = x;
    }
    return out;
  }
  throw bad('an embedding must be an array of numbers or a base64 string', ctx);
}

function optionalArray(body: Body, field: string, length: number): unknown[] | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw bad(`${field} must be an array`);
  if (v.length !== length) throw bad(`${field} has ${v.length} entries, ids has ${length}`);
  return v;
}

export function parseIds(v: unknown, field = 'ids', max?: number): string[] {
  if (!Array.isArray(v)) throw bad(`${field} must be an array of strings`);
  if (max !== undefined && v.length > max) {
    throw new UsageError(`${v.length} records exceed max_batch_size ${max}`);
  }
  const seen = new Set<string>();
  for (const [i, id] of v.entries()) {
    if (typeof id !== 'string') throw bad(`${field}[${i}] is not a string`, { row: i });
    if (seen.has(id))
      throw new InvalidInputError(ErrorCodes.DUPLICATE_ID, `id ${JSON.stringify(id)} appears twice`, {
        row: i,
        id,
      });
    seen.add(id);
  }
  return v as string[];
}

/** A Chroma metadata map for an add/upsert: `null` values mean "no value". */
function stripNulls(m: unknown): unknown {
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return m;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) if (v !== null) out[k] = v;
  return Object.keys(out).length === 0 ? null : out;
}

export interface RecordSet {
  ids: string[];
  embeddings: Array<Float32Array | null> | undefined;
  documents: unknown[] | undefined;
  metadatas: unknown[] | undefined;
}

/** The record set of add/upsert/update, shape-checked (values are validated per operation). */
export function parseRecordSet(body: Body, maxBatch: number): RecordSet {
  const ids = parseIds(body.ids, 'ids', maxBatch);
  if (ids.length === 0) throw bad('ids must not be empty');
  const rawEmb = optionalArray(body, 'embeddings', ids.length);
  const embeddings = rawEmb?.map((e, i) => decodeEmbedding(e, { row: i, id: ids[i] }));
  const uris = optionalArray(body, 'uris', ids.length);
  if (uris?.some((u) => u !== null && u !== undefined)) {
    throw new StrataError(ErrorCodes.UNSUPPORTED, 'uris are not stored by Strata; put them in metadata');
  }
  return {
    ids,
    embeddings,
    documents: optionalArray(body, 'documents', ids.length),
    metadatas: optionalArray(body, 'metadatas', ids.length),
  };
}

/** The dimension of the first embedding of a record set (for a collection's first write). */
export function firstDimension(rs: RecordSet): number | undefined {
  return rs.embeddings?.find((e) => e !== null)?.length;
}

/** add and upsert: every record needs an embedding; they become upserts. */
export function upsertOps(rs: RecordSet, dimension: number): Operation[] {
  return rs.ids.map((id, i) =>
    validateStorableOperation(
      {
        op: 'upsert',
        id,
        embedding: rs.embeddings?.[i] ?? null,
        document: rs.documents?.[i] ?? null,
        metadata: stripNulls(rs.metadatas?.[i] ?? null),
      },
      dimension,
      { row: i },
    ),
  );
}

/** update: document and metadata changes (a null metadata value removes the key); never the vector. */
export function updateOps(rs: RecordSet, dimension: number): Operation[] {
  if (rs.embeddings?.some((e) => e !== null)) {
    throw new StrataError(
      ErrorCodes.UNSUPPORTED,
      "update cannot change embeddings in Strata (a delta's update never carries a vector): use upsert with the full record",
    );
  }
  return rs.ids.map((id, i) => {
    const raw: Record<string, unknown> = { op: 'update', id };
    const doc = rs.documents?.[i];
    if (doc !== undefined && doc !== null) raw.document = doc;
    const meta = rs.metadatas?.[i];
    if (meta !== undefined && meta !== null) raw.metadata = meta;
    return validateStorableOperation(raw, dimension, { row: i });
  });
}

export function parseInclude(v: unknown, fallback: Include[], allowDistances: boolean): Include[] {
  if (v === undefined || v === null) return fallback;
  if (!Array.isArray(v)) throw bad('include must be an array');
  for (const x of v) {
    if (!INCLUDE_VALUES.includes(x as Include)) {
      throw bad(`include: ${JSON.stringify(x)} is not one of ${INCLUDE_VALUES.join(', ')}`);
    }
    if (x === 'distances' && !allowDistances) throw bad('include: distances is only for query');
  }
  return v as Include[];
}

export function parseCount(
  v: unknown,
  field: string,
  opts: { min: number; max: number },
): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < opts.min || v > opts.max) {
    throw bad(`${field} must be an integer in ${opts.min}..${opts.max}`);
  }
  return v;
}

/** query_embeddings: one or more vectors of the collection's dimension. */
export function parseQueryEmbeddings(v: unknown, dimension: number | undefined, max: number): Float32Array[] {
  if (!Array.isArray(v) || v.length === 0)
    throw bad('query_embeddings must be a non-empty array of embeddings');
  if (v.length > max) throw new UsageError(`${v.length} query embeddings exceed max_batch_size ${max}`);
  return v.map((e, i) => {
    const q = decodeEmbedding(e, { row: i });
    if (q === null) throw bad(`query_embeddings[${i}] is null`, { row: i });
    if (dimension !== undefined && q.length !== dimension) {
      throw new InvalidInputError(
        ErrorCodes.DIMENSION_MISMATCH,
        `query_embeddings[${i}] has ${q.length} dimensions, the collection has ${dimension}`,
        { row: i },
      );
    }
    for (let j = 0; j < q.length; j++) {
      if (!Number.isFinite(q[j]!))
        throw new InvalidInputError(ErrorCodes.NON_FINITE, `query_embeddings[${i}][${j}] is not finite`, {
          row: i,
        });
    }
    return q;
  });
}

export function parseObject(v: unknown, field: string): Record<string, unknown> | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) throw bad(`${field} must be an object`);
  return v as Record<string, unknown>;
}
