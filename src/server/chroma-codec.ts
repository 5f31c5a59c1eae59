/**
 * Request bodies of Chroma's API v2 turned into validated Strata values, refused as Chroma refuses them: a
 * body that does not deserialize into Chroma's request type is 422, anything else malformed a coded 400
 * (the message names the field and the row). Embeddings come as arrays of numbers or, as the chromadb
 * client sends them once pre-flight says supports_base64_encoding, as base64 strings of little-endian
 * float32.
 */
import { ErrorCodes, InvalidInputError, StrataError, UsageError } from '../core/errors.js';
import { validateDocument, validateEmbedding, validateId, validateMetadataPatch } from '../core/validate.js';
import { undeserializable } from './chroma-config.js';
import type { WriteRecord } from './chroma-writes.js';

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
      if (typeof x !== 'number') {
        const at = typeof ctx.row === 'number' ? `[${ctx.row}]` : '';
        throw undeserializable(`embeddings${at}[${i}]: invalid type, expected f32`);
      }
      out[i] = x;
    }
    return out;
  }
  throw bad('an embedding must be an array of numbers or a base64 string', ctx);
}

export function parseIds(v: unknown, field = 'ids', max?: number): string[] {
  if (!Array.isArray(v)) throw undeserializable(`${field}: invalid type, expected a sequence`);
  for (const [i, id] of v.entries()) {
    if (typeof id !== 'string') throw undeserializable(`${field}[${i}]: invalid type, expected a string`);
  }
  if (max !== undefined && v.length > max) {
    throw new UsageError(`${v.length} records exceed max_batch_size ${max}`);
  }
  const seen = new Set<string>();
  for (const [i, id] of (v as string[]).entries()) {
    if (seen.has(id))
      throw new InvalidInputError(ErrorCodes.DUPLICATE_ID, `id ${JSON.stringify(id)} appears twice`, {
        row: i,
        id,
      });
    seen.add(id);
  }
  return v as string[];
}

export type WriteKind = 'add' | 'upsert' | 'update';

/** An add/upsert/update body whose shape Chroma accepts (first phase of parsing; see parseWriteShape). */
export interface WriteShape {
  kind: WriteKind;
  ids: string[];
  embeddings: Array<Float32Array | null> | undefined;
  documents: unknown[] | undefined;
  metadatas: unknown[] | undefined;
  uris: unknown[] | undefined;
  /** The dimension of the request's vectors (undefined when it carries none). */
  dimension: number | undefined;
}

function column(body: Body, field: string, required: boolean): unknown[] | undefined {
  const v = body[field];
  if (v === undefined || v === null) {
    if (required) throw undeserializable(`missing field \`${field}\``);
    return undefined;
  }
  if (!Array.isArray(v)) throw undeserializable(`${field}: invalid type, expected a sequence`);
  return v;
}

/** One metadata map's value types (Chroma: 422 for anything else; null values only where they remove a key). */
function checkMetadataTypes(m: unknown, i: number, nullValues: boolean): void {
  if (m === null || m === undefined) return;
  if (typeof m !== 'object' || Array.isArray(m))
    throw undeserializable(`metadatas[${i}]: invalid type, expected a map`);
  for (const [k, v] of Object.entries(m)) {
    const scalar = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
    // arrays of scalars are Strata's (and later Chroma's) extension; Chroma 1.0 refuses them
    const array =
      Array.isArray(v) &&
      v.every((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean');
    if (scalar || array || (v === null && nullValues)) continue;
    throw undeserializable(
      `metadatas[${i}].${k}: data did not match any variant of untagged enum MetadataValue`,
    );
  }
}

/**
 * First phase of an add, upsert or update, as far as Chroma goes before it gives a new collection its
 * dimension: the body deserializes (422 otherwise) and its vectors agree on a dimension (400). A request
 * that fails later (an empty id, columns of different lengths) has still set the dimension in Chroma.
 */
export function parseWriteShape(body: Body, kind: WriteKind, maxBatch: number): WriteShape {
  if (body.ids === undefined || body.ids === null) throw undeserializable('missing field `ids`');
  const ids = parseIds(body.ids, 'ids', maxBatch);
  const rawEmbeddings = column(body, 'embeddings', kind !== 'update');
  const documents = column(body, 'documents', false);
  const metadatas = column(body, 'metadatas', false);
  const uris = column(body, 'uris', false);
  for (const [i, d] of (documents ?? []).entries()) {
    if (d !== null && typeof d !== 'string')
      throw undeserializable(`documents[${i}]: invalid type, expected a string`);
  }
  if (kind !== 'update') {
    for (const [i, e] of (rawEmbeddings ?? []).entries()) {
      if (e === null) throw undeserializable(`embeddings[${i}]: invalid type: null, expected a sequence`);
    }
  }
  for (const [i, m] of (metadatas ?? []).entries()) checkMetadataTypes(m, i, kind !== 'add');
  const embeddings = rawEmbeddings?.map((e, i) => decodeEmbedding(e, { row: i, id: ids[i] }));
  let dimension: number | undefined;
  for (const e of embeddings ?? []) {
    if (e === null) continue;
    if (e.length === 0) {
      throw new InvalidInputError(
        ErrorCodes.BAD_RECORD,
        'Validation error: embeddings: Each embedding must have at least 1 dimension',
      );
    }
    dimension ??= e.length;
    if (e.length !== dimension) {
      throw new InvalidInputError(
        ErrorCodes.DIMENSION_MISMATCH,
        'Inconsistent dimensions in provided embeddings',
      );
    }
  }
  return { kind, ids, embeddings, documents, metadatas, uris, dimension };
}

/** Second phase: the records, checked against the collection's dimension (400s). */
export function writeRecords(w: WriteShape, dimension: number | undefined): WriteRecord[] {
  const n = w.ids.length;
  for (const c of [w.embeddings, w.documents, w.metadatas, w.uris]) {
    if (c && c.length !== n) {
      throw new InvalidInputError(
        ErrorCodes.BAD_RECORD,
        'Inconsistent number of IDs, embeddings, documents, URIs and metadatas',
      );
    }
  }
  if (n === 0) throw bad('ids must not be empty');
  if (w.uris?.some((u) => u !== null && u !== undefined)) {
    throw new StrataError(ErrorCodes.UNSUPPORTED, 'uris are not stored by Strata; put them in metadata');
  }
  return w.ids.map((id, i) => {
    if (id === '') {
      throw new InvalidInputError(ErrorCodes.ID_EMPTY, 'Empty ID, ID must have at least one character', {
        row: i,
      });
    }
    validateId(id, { row: i });
    const r: WriteRecord = { id };
    const e = w.embeddings?.[i] ?? null;
    if (e !== null) {
      if (dimension !== undefined && e.length !== dimension) {
        throw new InvalidInputError(
          ErrorCodes.DIMENSION_MISMATCH,
          `Collection expecting embedding with dimension of ${dimension}, got ${e.length}`,
          { row: i, id },
        );
      }
      r.embedding = validateEmbedding(e, e.length, { row: i, id });
    }
    const doc = w.documents?.[i];
    if (doc !== undefined && doc !== null) r.document = validateDocument(doc, { row: i, id });
    const meta = w.metadatas?.[i];
    if (meta !== undefined && meta !== null) r.metadata = validateMetadataPatch(meta, { row: i, id });
    return r;
  });
}

/**
 * include: what Chroma deserializes (an unknown value is 422). `distances` in a get is accepted and
 * ignored, as Chroma does.
 */
export function parseInclude(v: unknown, fallback: Include[]): Include[] {
  if (v === undefined || v === null) return fallback;
  if (!Array.isArray(v)) throw undeserializable('include: invalid type, expected a sequence');
  for (const [i, x] of v.entries()) {
    if (!INCLUDE_VALUES.includes(x as Include)) {
      throw undeserializable(
        `include[${i}]: unknown variant \`${String(x)}\`, expected one of ${INCLUDE_VALUES.map((n) => `\`${n}\``).join(', ')}`,
      );
    }
  }
  return v as Include[];
}

/** limit, offset, n_results: Chroma reads them as u32 (anything else does not deserialize: 422). */
export function parseCount(v: unknown, field: string, max = 0xffffffff): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw undeserializable(`${field}: invalid value: ${JSON.stringify(v)}, expected u32`);
  }
  if (v > max) throw bad(`${field} must be at most ${max}`);
  return v;
}

/** query_embeddings: vectors of the collection's dimension (none: an empty answer). */
export function parseQueryEmbeddings(v: unknown, dimension: number | undefined, max: number): Float32Array[] {
  if (v === undefined || v === null) throw undeserializable('missing field `query_embeddings`');
  if (!Array.isArray(v)) throw undeserializable('query_embeddings: invalid type, expected a sequence');
  if (v.length > max) throw new UsageError(`${v.length} query embeddings exceed max_batch_size ${max}`);
  const queries = v.map((e, i) => {
    if (e === null) throw undeserializable(`query_embeddings[${i}]: invalid type: null, expected a sequence`);
    return decodeEmbedding(e, { row: i })!;
  });
  return queries.map((q, i) => {
    if (dimension !== undefined && q.length !== dimension) {
      throw new InvalidInputError(
        ErrorCodes.DIMENSION_MISMATCH,
        `Collection expecting embedding with dimension of ${dimension}, got ${q.length}`,
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

const NEGATIVE_ZERO = '\u0000strata:-0\u0000';

function hasNegativeZero(v: unknown): boolean {
  if (typeof v === 'number') return v === 0 && Object.is(v, -0);
  if (Array.isArray(v)) {
    for (const x of v) if (hasNegativeZero(x)) return true;
  }
  return false;
}

/**
 * A records answer as JSON with a negative zero in its embeddings written `-0.0`, as Chroma writes it
 * (JSON.stringify writes 0, which would change the vector's bits). undefined: nothing to keep, let the
 * server serialize it as usual.
 */
export function recordsJson(payload: { embeddings?: unknown }): string | undefined {
  if (!hasNegativeZero(payload.embeddings)) return undefined;
  let clash = false;
  const s = JSON.stringify(payload, (_k, x: unknown) => {
    if (x === 0 && Object.is(x, -0)) return NEGATIVE_ZERO;
    if (x === NEGATIVE_ZERO) clash = true;
    return x;
  });
  return clash ? JSON.stringify(payload) : s.replaceAll(JSON.stringify(NEGATIVE_ZERO), '-0.0');
}
