import { ErrorCodes, type ErrorContext, InvalidInputError, UsageError } from './errors.js';
import { Limits } from './limits.js';
import type { Metadata, MetadataPatch, MetadataValue, Operation, UpdateOp } from './types.js';

/**
 * Ids: 1..512 bytes of UTF-8, printable (no control characters), already in Unicode NFC so that two
 * ids that look the same are the same (`E_ID_COLLISION` guards a delta against NFC duplicates).
 */
export function validateId(id: unknown, ctx: ErrorContext = {}): string {
  if (typeof id !== 'string') throw new InvalidInputError(ErrorCodes.BAD_RECORD, 'id must be a string', ctx);
  if (id.length === 0) throw new InvalidInputError(ErrorCodes.ID_EMPTY, 'id is empty', ctx);
  if (!id.isWellFormed()) {
    throw new InvalidInputError(ErrorCodes.ID_NOT_UTF8, 'id is not valid Unicode (lone surrogate)', ctx);
  }
  const bytes = Buffer.byteLength(id, 'utf8');
  if (bytes > Limits.maxIdBytes) {
    throw new InvalidInputError(
      ErrorCodes.ID_TOO_LONG,
      `id is ${bytes} bytes, the limit is ${Limits.maxIdBytes}`,
      { ...ctx, id: `${id.slice(0, 40)}…` },
    );
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(id)) {
    throw new InvalidInputError(ErrorCodes.ID_CHARSET, 'id contains a control character', { ...ctx, id });
  }
  if (id.normalize('NFC') !== id) {
    throw new InvalidInputError(ErrorCodes.ID_CHARSET, 'id is not in Unicode NFC form', { ...ctx, id });
  }
  return id;
}

export function validateEmbedding(v: unknown, dimension: number, ctx: ErrorContext = {}): Float32Array {
  let arr: Float32Array;
  if (v instanceof Float32Array) arr = v;
  else if (Array.isArray(v)) {
    for (const x of v) {
      if (typeof x !== 'number') {
        throw new InvalidInputError(ErrorCodes.NON_FINITE, 'embedding holds a non-number', ctx);
      }
    }
    arr = Float32Array.from(v as number[]);
  } else if (v === undefined || v === null) {
    throw new InvalidInputError(ErrorCodes.MISSING_EMBEDDING, 'upsert without an embedding', ctx);
  } else throw new InvalidInputError(ErrorCodes.BAD_RECORD, 'embedding must be an array of numbers', ctx);
  if (arr.length !== dimension) {
    throw new InvalidInputError(
      ErrorCodes.DIMENSION_MISMATCH,
      `embedding has ${arr.length} dimensions, the collection has ${dimension}`,
      ctx,
    );
  }
  for (let i = 0; i < arr.length; i++) {
    if (!Number.isFinite(arr[i])) {
      throw new InvalidInputError(ErrorCodes.NON_FINITE, `embedding[${i}] is ${arr[i]}`, ctx);
    }
  }
  return arr;
}

function checkScalar(v: unknown, key: string, ctx: ErrorContext): void {
  if (typeof v === 'string' || typeof v === 'boolean') return;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) {
      throw new InvalidInputError(ErrorCodes.METADATA_TYPE, `metadata "${key}" is ${v}`, ctx);
    }
    return;
  }
  throw new InvalidInputError(
    ErrorCodes.METADATA_TYPE,
    `metadata "${key}" has unsupported type ${v === null ? 'null' : typeof v}`,
    ctx,
  );
}

function checkValue(v: unknown, key: string, ctx: ErrorContext): MetadataValue {
  if (Array.isArray(v)) {
    if (v.length > Limits.maxMetadataArrayLength) {
      throw new InvalidInputError(ErrorCodes.METADATA_TOO_LARGE, `metadata "${key}" array is too long`, ctx);
    }
    for (const x of v) checkScalar(x, key, ctx);
    return v as MetadataValue;
  }
  checkScalar(v, key, ctx);
  return v as MetadataValue;
}

function checkMetadataObject(m: unknown, ctx: ErrorContext, allowNull: boolean): Record<string, unknown> {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) {
    throw new InvalidInputError(ErrorCodes.METADATA_TYPE, 'metadata must be an object', ctx);
  }
  const entries = Object.entries(m);
  if (entries.length > Limits.maxMetadataKeys) {
    throw new InvalidInputError(ErrorCodes.METADATA_TOO_LARGE, `metadata has ${entries.length} keys`, ctx);
  }
  let bytes = 0;
  for (const [k, v] of entries) {
    if (k.length === 0 || Buffer.byteLength(k) > Limits.maxMetadataKeyBytes) {
      throw new InvalidInputError(ErrorCodes.METADATA_TYPE, 'metadata key is empty or too long', ctx);
    }
    if (!(allowNull && v === null)) checkValue(v, k, ctx);
    bytes += Buffer.byteLength(k) + (typeof v === 'string' ? Buffer.byteLength(v) : 16);
  }
  if (bytes > Limits.maxMetadataBytes) {
    throw new InvalidInputError(
      ErrorCodes.METADATA_TOO_LARGE,
      `metadata is ${bytes} bytes, the limit is ${Limits.maxMetadataBytes}`,
      ctx,
    );
  }
  return m as Record<string, unknown>;
}

export function validateMetadata(m: unknown, ctx: ErrorContext = {}): Metadata | null {
  if (m === undefined || m === null) return null;
  return checkMetadataObject(m, ctx, false) as Metadata;
}

export function validateMetadataPatch(m: unknown, ctx: ErrorContext = {}): MetadataPatch | null {
  if (m === undefined || m === null) return null;
  return checkMetadataObject(m, ctx, true) as MetadataPatch;
}

export function validateDocument(d: unknown, ctx: ErrorContext = {}): string | null {
  if (d === undefined || d === null) return null;
  if (typeof d !== 'string')
    throw new InvalidInputError(ErrorCodes.BAD_RECORD, 'document must be a string', ctx);
  if (Buffer.byteLength(d) > Limits.maxDocumentBytes) {
    throw new InvalidInputError(ErrorCodes.DOCUMENT_TOO_LARGE, 'document is larger than 1 MiB', ctx);
  }
  return d;
}

/** Validates one operation in place of a producer's loosely typed object; returns a clean copy. */
export function validateOperation(raw: unknown, dimension: number, ctx: ErrorContext = {}): Operation {
  if (typeof raw !== 'object' || raw === null) {
    throw new InvalidInputError(ErrorCodes.BAD_RECORD, 'operation must be an object', ctx);
  }
  const o = raw as Record<string, unknown>;
  const op = (o.op ?? 'upsert') as unknown;
  const id = validateId(o.id, ctx);
  const c = { ...ctx, id };
  switch (op) {
    case 'upsert':
      return {
        op: 'upsert',
        id,
        embedding: validateEmbedding(o.embedding, dimension, c),
        document: validateDocument(o.document, c),
        metadata: validateMetadata(o.metadata, c),
      };
    case 'delete':
      return { op: 'delete', id };
    case 'update': {
      if (o.embedding !== undefined && o.embedding !== null) {
        throw new InvalidInputError(
          ErrorCodes.BAD_OPERATION,
          'update cannot change the embedding; use upsert',
          c,
        );
      }
      const u: UpdateOp = { op: 'update', id };
      if (o.document !== undefined) u.document = validateDocument(o.document, c);
      if (o.metadata !== undefined) u.metadata = validateMetadataPatch(o.metadata, c);
      return u;
    }
    default:
      throw new InvalidInputError(ErrorCodes.BAD_OPERATION, `unknown op ${JSON.stringify(op)}`, c);
  }
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,126}[a-zA-Z0-9]$|^[a-zA-Z0-9]$/;

/** Collection (and tenant/database) names: they become key segments, so nothing may escape a prefix. */
export function validateName(name: unknown, what = 'collection name'): string {
  if (typeof name !== 'string' || !NAME_RE.test(name) || name.includes('..')) {
    throw new UsageError(
      `invalid ${what} ${JSON.stringify(name)}: use 1-128 characters [a-zA-Z0-9._-], starting and ending with a letter or digit, no ".."`,
    );
  }
  return name;
}
