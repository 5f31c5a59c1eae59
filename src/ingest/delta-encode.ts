/**
 * Writing a delta: validated operations → rows with their sequence numbers → one Arrow record batch with
 * the header and its content hash as schema metadata → an Arrow IPC file. Pure: bytes out.
 */
import {
  Bool,
  type Data,
  type FixedSizeList,
  Float32,
  Int64,
  makeData,
  RecordBatch,
  Struct,
  Table,
  tableToIPC,
  Utf8,
} from 'apache-arrow';
import { DeltaFormatError, ErrorCodes, type ErrorContext, InvalidInputError } from '../core/errors.js';
import { canonicalJson } from '../core/hash.js';
import type { Operation } from '../core/types.js';
import { validateOperation } from '../core/validate.js';
import { streamToFile } from './arrow-file.js';
import { type BoolCol, type DeltaBatch, deltaSchema, type StrCol } from './delta-columns.js';
import { deltaContentHash } from './delta-hash.js';
import {
  checkEncodeHeader,
  DELTA_FORMAT_VERSION,
  type DeltaEncodeHeader,
  type DeltaHeader,
  DeltaKeys,
  headerMetadata,
} from './delta-header.js';

const UTF8 = new TextEncoder();

/**
 * One row exactly as it is stored. Lower level than `Operation`: nothing is validated, so tests can
 * forge damaged deltas (an `id` given as bytes may be invalid UTF-8).
 */
export interface RawDeltaRow {
  op: string;
  id: string | Uint8Array;
  seq: number | bigint;
  embedding: Float32Array | null;
  document: string | null;
  documentSet: boolean;
  metadata: string | null;
  metadataSet: boolean;
}

function validityBitmap(n: number, valid: (i: number) => boolean): { bitmap: Uint8Array; nulls: number } {
  const bitmap = new Uint8Array(((n + 63) >> 6) << 3);
  let nulls = 0;
  for (let i = 0; i < n; i++) {
    if (valid(i)) bitmap[i >> 3]! |= 1 << (i & 7);
    else nulls++;
  }
  return { bitmap, nulls };
}

function buildStrCol(values: (string | Uint8Array | null)[]): StrCol {
  const encoded = values.map((v) => (v === null ? null : typeof v === 'string' ? UTF8.encode(v) : v));
  const offsets = new Int32Array(values.length + 1);
  let total = 0;
  encoded.forEach((b, i) => {
    total += b?.byteLength ?? 0;
    offsets[i + 1] = total;
  });
  const bytes = new Uint8Array(total);
  encoded.forEach((b, i) => {
    if (b) bytes.set(b, offsets[i]!);
  });
  return { offsets, bytes, valid: (i) => encoded[i] !== null };
}

function buildBoolCol(values: boolean[]): BoolCol {
  return { bits: validityBitmap(values.length, (i) => values[i]!).bitmap, valid: () => true };
}

function strData(c: StrCol, n: number, nullable: boolean): Data<Utf8> {
  const { bitmap, nulls } = validityBitmap(n, c.valid);
  if (!nullable && nulls > 0) throw new Error('null in a non-nullable column');
  return makeData({
    type: new Utf8(),
    length: n,
    nullCount: nulls,
    nullBitmap: nulls > 0 ? bitmap : null,
    valueOffsets: c.offsets,
    data: c.bytes,
  });
}

/**
 * Writes rows as a delta file with the given schema metadata. `strata.content_sha256` is computed and
 * added unless `metadata` already holds one. The low-level half of `encodeDelta`; exported for tests
 * and tools that must write what `encodeDelta` would refuse.
 */
export function writeRawDelta(
  metadata: ReadonlyMap<string, string>,
  rows: readonly RawDeltaRow[],
  dimension: number,
): { bytes: Uint8Array; contentSha256: string } {
  const n = rows.length;
  const values = new Float32Array(n * dimension);
  rows.forEach((r, i) => {
    if (r.embedding) values.set(r.embedding.subarray(0, dimension), i * dimension);
  });
  const batch: DeltaBatch = {
    length: n,
    op: buildStrCol(rows.map((r) => r.op)),
    id: buildStrCol(rows.map((r) => r.id)),
    seq: BigInt64Array.from(rows, (r) => BigInt(r.seq)),
    embedding: { values, valid: (i) => rows[i]!.embedding !== null },
    document: buildStrCol(rows.map((r) => r.document)),
    documentSet: buildBoolCol(rows.map((r) => r.documentSet)),
    metadata: buildStrCol(rows.map((r) => r.metadata)),
    metadataSet: buildBoolCol(rows.map((r) => r.metadataSet)),
  };
  const contentSha256 = deltaContentHash(metadata, [batch], dimension);
  const meta = new Map(metadata);
  if (!meta.has(DeltaKeys.contentSha256)) meta.set(DeltaKeys.contentSha256, contentSha256);

  const schema = deltaSchema(dimension, meta);
  const embType = schema.fields[3]!.type as FixedSizeList<Float32>;
  const embValidity = validityBitmap(n, batch.embedding.valid);
  const children: Data[] = [
    strData(batch.op, n, false),
    strData(batch.id, n, false),
    makeData({ type: new Int64(), length: n, data: batch.seq }),
    makeData({
      type: embType,
      length: n,
      nullCount: embValidity.nulls,
      nullBitmap: embValidity.nulls > 0 ? embValidity.bitmap : null,
      child: makeData({ type: new Float32(), length: n * dimension, data: values }),
    }),
    strData(batch.document, n, true),
    makeData({ type: new Bool(), length: n, data: batch.documentSet.bits }),
    strData(batch.metadata, n, true),
    makeData({ type: new Bool(), length: n, data: batch.metadataSet.bits }),
  ];
  const record = new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: n, children }));
  return { bytes: streamToFile(tableToIPC(new Table(schema, [record]), 'stream'), schema), contentSha256 };
}

function toRawRow(o: Operation, seq: number): RawDeltaRow {
  switch (o.op) {
    case 'upsert':
      return {
        op: 'upsert',
        id: o.id,
        seq,
        embedding: o.embedding,
        document: o.document ?? null,
        documentSet: true,
        metadata: o.metadata ? canonicalJson(o.metadata) : null,
        metadataSet: true,
      };
    case 'delete':
      return {
        op: 'delete',
        id: o.id,
        seq,
        embedding: null,
        document: null,
        documentSet: false,
        metadata: null,
        metadataSet: false,
      };
    case 'update':
      return {
        op: 'update',
        id: o.id,
        seq,
        embedding: null,
        document: o.document ?? null,
        documentSet: o.document !== undefined,
        metadata: o.metadata ? canonicalJson(o.metadata) : null,
        metadataSet: o.metadata !== undefined,
      };
  }
}

/**
 * `validateOperation`, and then what only storing it adds: a document holding a lone surrogate cannot be
 * stored as UTF-8 without being changed, so it is refused rather than written with U+FFFD in its place.
 * (Metadata needs no check: JSON escapes lone surrogates.) Producers validate with this, so that what
 * they accept `encodeDelta` accepts.
 */
export function validateStorableOperation(raw: unknown, dimension: number, ctx: ErrorContext): Operation {
  const o = validateOperation(raw, dimension, ctx);
  if (o.op !== 'delete' && typeof o.document === 'string' && !o.document.isWellFormed()) {
    throw new InvalidInputError(ErrorCodes.BAD_RECORD, 'document is not valid Unicode (lone surrogate)', {
      ...ctx,
      id: o.id,
    });
  }
  return o;
}

/**
 * Validates `ops` and writes them as one delta, assigning seq = seqStart + i in the given order.
 * Throws InvalidInputError (with `row`) for an operation `decodeDelta` would refuse.
 */
export function encodeDelta(
  h: DeltaEncodeHeader,
  ops: readonly Operation[],
): { bytes: Uint8Array; header: DeltaHeader } {
  checkEncodeHeader(h);
  const ctx = { collection: h.collection };
  if (ops.length === 0)
    throw new DeltaFormatError(ErrorCodes.DELTA_EMPTY, 'a delta needs at least one operation', ctx);
  const seqEnd = h.seqStart + ops.length - 1;
  if (!Number.isSafeInteger(seqEnd)) {
    throw new InvalidInputError(ErrorCodes.DELTA_HEADER, 'sequence numbers exceed 2^53', ctx);
  }
  const rows = ops.map((o, i) =>
    toRawRow(validateStorableOperation(o, h.dimension, { ...ctx, row: i }), h.seqStart + i),
  );
  const createdAt = h.createdAt ?? new Date().toISOString();
  const meta = headerMetadata(h, seqEnd, ops.length, createdAt);
  const { bytes, contentSha256 } = writeRawDelta(meta, rows, h.dimension);
  return {
    bytes,
    header: {
      collection: h.collection,
      dimension: h.dimension,
      metric: h.metric,
      producer: h.producer,
      seqStart: h.seqStart,
      seqEnd,
      count: ops.length,
      createdAt,
      contentSha256,
      formatVersion: DELTA_FORMAT_VERSION,
    },
  };
}
