/**
 * The delta file: an Arrow IPC *file* (readable by pyarrow.ipc / feather / DuckDB) holding one producer's
 * operations with their global sequence numbers, self-describing through schema-level metadata and
 * checksummed row by row. Pure functions: bytes in, bytes out.
 *
 * Columns (one record batch or several):
 *   op           Utf8, not null        'upsert' | 'delete' | 'update'
 *   id           Utf8, not null
 *   seq          Int64, not null       global sequence number, strictly increasing, within [seq_start, seq_end]
 *   embedding    FixedSizeList<Float32>[dimension], null for delete and update
 *   document     Utf8, nullable
 *   document_set Bool, not null        false = an update (or delete) that leaves the document unchanged
 *   metadata     Utf8, nullable        canonical JSON; for update a patch whose null values remove keys
 *   metadata_set Bool, not null        false = an update (or delete) that leaves the metadata unchanged
 *
 * `strata.content_sha256` is SHA-256 over this byte stream (a `field` is a u32 LE length and the bytes,
 * or the u32 0xFFFFFFFF for null; strings are UTF-8, as stored):
 *   field("strata.delta.content/1")
 *   field(v) for each of the schema metadata values strata.format, strata.format_version,
 *     strata.collection, strata.dimension, strata.metric, strata.producer, strata.seq_start,
 *     strata.seq_end, strata.count, strata.created_at (in this order)
 *   then for each row, in file order:
 *     field(op) field(id) i64 LE(seq) field(embedding as f32 LE bytes | null)
 *     u8(document_set) field(document | null) u8(metadata_set) field(metadata | null)
 * so a flipped bit in any row or header field is caught even when Arrow still parses the file.
 */
import { createHash, type Hash } from 'node:crypto';
import {
  Bool,
  type Data,
  type DataType,
  Field,
  FixedSizeList,
  Float32,
  Int64,
  Message,
  MetadataVersion,
  makeData,
  Precision,
  RecordBatch,
  RecordBatchFileReader,
  Schema,
  Struct,
  Table,
  Type,
  tableToIPC,
  Utf8,
} from 'apache-arrow';
import { FileBlock, Footer } from 'apache-arrow/ipc/metadata/file';
import {
  DeltaFormatError,
  type ErrorCode,
  ErrorCodes,
  type ErrorContext,
  InvalidInputError,
} from '../core/errors.js';
import { canonicalJson } from '../core/hash.js';
import { Limits } from '../core/limits.js';
import { METRICS, type Metric, type Operation, type SequencedOperation } from '../core/types.js';
import { validateName, validateOperation } from '../core/validate.js';
import { type IpcBlock, IpcStructureError, leadingSchemaMessage, verifyIpcFile } from './ipc-verify.js';

export const DELTA_FORMAT = 'strata.delta';
export const DELTA_FORMAT_VERSION = 1;

export interface DeltaHeader {
  collection: string;
  dimension: number;
  metric: Metric;
  producer: string;
  seqStart: number;
  seqEnd: number;
  count: number;
  createdAt: string;
  contentSha256: string;
  formatVersion: number;
}

/** What the reader of a delta knows about the collection it is meant for. */
export interface DeltaExpectation {
  collection: string;
  dimension: number;
  metric: Metric;
}

export interface DeltaEncodeHeader {
  collection: string;
  dimension: number;
  metric: Metric;
  producer: string;
  seqStart: number;
  /** ISO 8601; defaults to now. */
  createdAt?: string;
}

/** Schema metadata keys. */
export const DeltaKeys = {
  format: 'strata.format',
  formatVersion: 'strata.format_version',
  collection: 'strata.collection',
  dimension: 'strata.dimension',
  metric: 'strata.metric',
  producer: 'strata.producer',
  seqStart: 'strata.seq_start',
  seqEnd: 'strata.seq_end',
  count: 'strata.count',
  createdAt: 'strata.created_at',
  contentSha256: 'strata.content_sha256',
} as const;

/** The header values covered by the content hash, in hashing order. */
const HASHED_KEYS = [
  DeltaKeys.format,
  DeltaKeys.formatVersion,
  DeltaKeys.collection,
  DeltaKeys.dimension,
  DeltaKeys.metric,
  DeltaKeys.producer,
  DeltaKeys.seqStart,
  DeltaKeys.seqEnd,
  DeltaKeys.count,
  DeltaKeys.createdAt,
] as const;

const COLUMNS = [
  'op',
  'id',
  'seq',
  'embedding',
  'document',
  'document_set',
  'metadata',
  'metadata_set',
] as const;
const OPS = new Set(['upsert', 'delete', 'update']);
const ARROW_MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // "ARROW1"
const FILE_MAGIC = [...ARROW_MAGIC, 0, 0]; // magic and padding to 8 bytes
const UTF8 = new TextEncoder();
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------------------------------------
// Column buffers shared by the writer, the reader and the content hash
// ---------------------------------------------------------------------------------------------

/** A Utf8 column as Arrow lays it out: row i is bytes[offsets[i] .. offsets[i+1]] unless null. */
interface StrCol {
  offsets: Int32Array;
  bytes: Uint8Array;
  valid: (i: number) => boolean;
}

interface BoolCol {
  bits: Uint8Array;
  valid: (i: number) => boolean;
}

/** One record batch of a delta, in raw form. */
interface DeltaBatch {
  length: number;
  op: StrCol;
  id: StrCol;
  seq: BigInt64Array;
  embedding: { values: Float32Array; valid: (i: number) => boolean };
  document: StrCol;
  documentSet: BoolCol;
  metadata: StrCol;
  metadataSet: BoolCol;
}

function strAt(c: StrCol, i: number): Uint8Array | null {
  return c.valid(i) ? c.bytes.subarray(c.offsets[i]!, c.offsets[i + 1]!) : null;
}

function bitAt(c: BoolCol, i: number): boolean | null {
  return c.valid(i) ? ((c.bits[i >> 3]! >> (i & 7)) & 1) === 1 : null;
}

/**
 * Streams length-prefixed fields into a SHA-256, batching small fields through a scratch buffer so a
 * delta of many short rows does not cost one hash update per field.
 */
class FieldHasher {
  #h: Hash = createHash('sha256');
  #buf = Buffer.allocUnsafe(64 << 10);
  #pos = 0;

  #room(n: number): void {
    if (this.#pos + n > this.#buf.length) this.#flush();
  }

  #flush(): void {
    if (this.#pos > 0) this.#h.update(this.#buf.subarray(0, this.#pos));
    this.#pos = 0;
  }

  field(b: Uint8Array | null): void {
    this.#room(4);
    if (b === null) {
      this.#buf.writeUInt32LE(0xffffffff, this.#pos);
      this.#pos += 4;
      return;
    }
    this.#buf.writeUInt32LE(b.byteLength, this.#pos);
    this.#pos += 4;
    if (b.byteLength > 4096) {
      this.#flush();
      this.#h.update(b);
      return;
    }
    this.#room(b.byteLength);
    this.#buf.set(b, this.#pos);
    this.#pos += b.byteLength;
  }

  u8(v: number): void {
    this.#room(1);
    this.#buf[this.#pos++] = v;
  }

  i64(v: bigint): void {
    this.#room(8);
    this.#buf.writeBigInt64LE(v, this.#pos);
    this.#pos += 8;
  }

  digest(): string {
    this.#flush();
    return this.#h.digest('hex');
  }
}

function hashHeader(h: FieldHasher, meta: ReadonlyMap<string, string>): void {
  h.field(UTF8.encode('strata.delta.content/1'));
  for (const k of HASHED_KEYS) {
    const v = meta.get(k);
    h.field(v === undefined ? null : UTF8.encode(v));
  }
}

function hashBatch(h: FieldHasher, b: DeltaBatch, dimension: number): void {
  const vals = b.embedding.values;
  const rowBytes = dimension * 4;
  for (let i = 0; i < b.length; i++) {
    h.field(strAt(b.op, i));
    h.field(strAt(b.id, i));
    h.i64(b.seq[i]!);
    h.field(
      b.embedding.valid(i) ? new Uint8Array(vals.buffer, vals.byteOffset + i * rowBytes, rowBytes) : null,
    );
    h.u8(bitAt(b.documentSet, i) ? 1 : 0);
    h.field(strAt(b.document, i));
    h.u8(bitAt(b.metadataSet, i) ? 1 : 0);
    h.field(strAt(b.metadata, i));
  }
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

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
  const bits = new Uint8Array(((values.length + 63) >> 6) << 3);
  values.forEach((v, i) => {
    if (v) bits[i >> 3]! |= 1 << (i & 7);
  });
  return { bits, valid: () => true };
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

function deltaSchema(dimension: number, metadata: ReadonlyMap<string, string>): Schema {
  return new Schema(
    [
      new Field('op', new Utf8(), false),
      new Field('id', new Utf8(), false),
      new Field('seq', new Int64(), false),
      new Field('embedding', new FixedSizeList(dimension, new Field('item', new Float32(), false)), true),
      new Field('document', new Utf8(), true),
      new Field('document_set', new Bool(), false),
      new Field('metadata', new Utf8(), true),
      new Field('metadata_set', new Bool(), false),
    ],
    new Map(metadata),
  );
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
  const h = new FieldHasher();
  hashHeader(h, metadata);
  hashBatch(h, batch, dimension);
  const contentSha256 = h.digest();
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

/**
 * Frames an IPC stream of one schema message and one record batch as an IPC file, as the format
 * specifies: magic, the stream (schema message first, EOS last), footer, footer length, magic.
 * (Arrow JS's own file writer leaves the schema message out; readers that take a file as a stream
 * after its magic, such as older DuckDB Arrow extensions, then fail.)
 */
function streamToFile(stream: Uint8Array, schema: Schema): Uint8Array {
  const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  const messageAt = (pos: number) => {
    if (view.getUint32(pos, true) !== 0xffffffff) throw new Error('unexpected IPC stream layout');
    return 8 + view.getInt32(pos + 4, true);
  };
  const schemaLength = messageAt(0);
  const batchMetaLength = messageAt(schemaLength);
  const bodyLength = stream.byteLength - 8 - schemaLength - batchMetaLength; // 8: end-of-stream marker
  const block = new FileBlock(batchMetaLength, bodyLength, 8 + schemaLength);
  const footer = Footer.encode(new Footer(schema, MetadataVersion.V5, [block], []));
  const out = new Uint8Array(8 + stream.byteLength + footer.byteLength + 10);
  out.set(FILE_MAGIC, 0);
  out.set(stream, 8);
  out.set(footer, 8 + stream.byteLength);
  new DataView(out.buffer).setInt32(out.byteLength - 10, footer.byteLength, true);
  out.set(ARROW_MAGIC, out.byteLength - 6);
  return out;
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
 * A document holding a lone surrogate cannot be stored as UTF-8 without being changed; refuse it rather
 * than write U+FFFD in its place. (Metadata needs no check: JSON escapes lone surrogates.)
 */
export function checkWellFormedDocument(o: Operation, ctx: ErrorContext): void {
  if (o.op !== 'delete' && typeof o.document === 'string' && !o.document.isWellFormed()) {
    throw new InvalidInputError(ErrorCodes.BAD_RECORD, 'document is not valid Unicode (lone surrogate)', {
      ...ctx,
      id: o.id,
    });
  }
}

function checkEncodeHeader(h: DeltaEncodeHeader): void {
  const bad = (what: string) =>
    new InvalidInputError(ErrorCodes.DELTA_HEADER, what, { collection: h.collection });
  try {
    validateName(h.collection);
  } catch (e) {
    throw new InvalidInputError(ErrorCodes.DELTA_HEADER, (e as Error).message, { collection: h.collection });
  }
  if (!Number.isSafeInteger(h.dimension) || h.dimension < 1 || h.dimension > Limits.maxDimension) {
    throw bad(`dimension ${h.dimension} is not an integer in 1..${Limits.maxDimension}`);
  }
  if (!METRICS.includes(h.metric)) throw bad(`metric ${JSON.stringify(h.metric)} is not one of ${METRICS}`);
  if (typeof h.producer !== 'string') throw bad('producer must be a string');
  if (!Number.isSafeInteger(h.seqStart) || h.seqStart < 0) {
    throw bad(`seqStart ${h.seqStart} is not a non-negative integer`);
  }
  if (h.createdAt !== undefined && Number.isNaN(Date.parse(h.createdAt))) {
    throw bad(`createdAt ${JSON.stringify(h.createdAt)} is not a date`);
  }
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
  const rows = ops.map((o, i) => {
    const rowCtx = { ...ctx, row: i };
    const valid = validateOperation(o, h.dimension, rowCtx);
    checkWellFormedDocument(valid, rowCtx);
    return toRawRow(valid, h.seqStart + i);
  });
  const createdAt = h.createdAt ?? new Date().toISOString();
  const meta = new Map<string, string>([
    [DeltaKeys.format, DELTA_FORMAT],
    [DeltaKeys.formatVersion, String(DELTA_FORMAT_VERSION)],
    [DeltaKeys.collection, h.collection],
    [DeltaKeys.dimension, String(h.dimension)],
    [DeltaKeys.metric, h.metric],
    [DeltaKeys.producer, h.producer],
    [DeltaKeys.seqStart, String(h.seqStart)],
    [DeltaKeys.seqEnd, String(seqEnd)],
    [DeltaKeys.count, String(ops.length)],
    [DeltaKeys.createdAt, createdAt],
  ]);
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

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

function fail(code: ErrorCode, message: string, ctx: ErrorContext, cause?: unknown): DeltaFormatError {
  return new DeltaFormatError(code, message, ctx, cause === undefined ? undefined : { cause });
}

/**
 * Opens `bytes` as an Arrow IPC file after checking its framing (leading magic, trailing magic, a footer
 * that fits) and walking every flatbuffer Arrow JS would decode (see ipc-verify.ts). Returns the reader
 * and the number of record batches its footer lists.
 */
export function openArrowFile(
  bytes: Uint8Array,
  ctx: ErrorContext = {},
): { reader: RecordBatchFileReader; batches: number } {
  const magicAt = (pos: number) => ARROW_MAGIC.every((b, i) => bytes[pos + i] === b);
  if (bytes.byteLength < 6 || !magicAt(0)) {
    throw fail(ErrorCodes.DELTA_MAGIC, 'not an Arrow IPC file: missing leading "ARROW1" magic', ctx);
  }
  // smallest file: magic+pad (8) + footer length (4) + magic (6)
  if (bytes.byteLength < 18 || !magicAt(bytes.byteLength - 6)) {
    throw fail(
      ErrorCodes.DELTA_TRUNCATED,
      `file is truncated: no trailing "ARROW1" magic (${bytes.byteLength} bytes)`,
      ctx,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const footerLength = view.getInt32(bytes.byteLength - 10, true);
  const footerStart = bytes.byteLength - 10 - footerLength;
  if (footerLength <= 0 || footerStart < 8) {
    throw fail(
      ErrorCodes.DELTA_TRUNCATED,
      `file is truncated: its footer claims ${footerLength} bytes, the file has ${bytes.byteLength}`,
      ctx,
    );
  }
  let blocks: IpcBlock[];
  let reader: RecordBatchFileReader;
  try {
    blocks = verifyIpcFile(bytes, footerStart, footerLength);
  } catch (e) {
    const truncated = e instanceof IpcStructureError && e.truncated;
    const code = truncated ? ErrorCodes.DELTA_TRUNCATED : ErrorCodes.DELTA_CORRUPT;
    throw fail(
      code,
      `${truncated ? 'file is truncated' : 'file is corrupt'}: ${(e as Error).message}`,
      ctx,
      e,
    );
  }
  try {
    const r = RecordBatchFileReader.from(bytes);
    r.open();
    if (!r.isFile() || r.numRecordBatches !== blocks.filter((b) => !b.dictionary).length) {
      throw new Error('not read as an Arrow file');
    }
    reader = r;
  } catch (e) {
    throw fail(ErrorCodes.DELTA_CORRUPT, `Arrow cannot parse the file: ${(e as Error).message}`, ctx, e);
  }
  // Readers that take the file as a stream after its magic see this copy of the schema: it must agree.
  let leading: Schema | null = null;
  try {
    const m = leadingSchemaMessage(bytes, footerStart);
    leading = m === null ? null : (Message.decode(m).header() as Schema);
  } catch (e) {
    throw fail(ErrorCodes.DELTA_CORRUPT, `the schema message is unreadable: ${(e as Error).message}`, ctx, e);
  }
  if (leading === null && blocks.length > 0 && !blocks.some((b) => b.offset === 8)) {
    throw fail(
      ErrorCodes.DELTA_CORRUPT,
      'the file has neither a schema message nor a record batch after its magic',
      ctx,
    );
  }
  if (leading !== null && schemaSignature(leading) !== schemaSignature(reader.schema)) {
    throw fail(ErrorCodes.DELTA_CORRUPT, 'the schema message and the footer schema disagree', ctx);
  }
  return { reader, batches: reader.numRecordBatches };
}

/**
 * Reads the record batches one by one through the footer (Arrow JS's batch iterator loops forever when
 * a block points at a message that is not a record batch, so it is never used here).
 */
function readBatches(
  reader: RecordBatchFileReader,
  count: number,
  dimension: number,
  ctx: ErrorContext,
): DeltaBatch[] {
  const out: DeltaBatch[] = [];
  for (let i = 0; i < count; i++) {
    let batch: RecordBatch | null;
    try {
      batch = reader.readRecordBatch(i);
    } catch (e) {
      throw fail(
        ErrorCodes.DELTA_CORRUPT,
        `Arrow cannot read record batch ${i}: ${(e as Error).message}`,
        ctx,
        e,
      );
    }
    if (!batch) throw fail(ErrorCodes.DELTA_CORRUPT, `record batch ${i} is not a record batch message`, ctx);
    out.push(rawBatch(batch, dimension, ctx));
  }
  return out;
}

const UINT_RE = /^(0|[1-9][0-9]{0,15})$/;

function parseHeader(meta: ReadonlyMap<string, string>, ctx: ErrorContext): DeltaHeader {
  const format = meta.get(DeltaKeys.format);
  if (format === undefined) {
    throw fail(ErrorCodes.DELTA_HEADER, `not a Strata delta: the schema has no "${DeltaKeys.format}"`, ctx);
  }
  if (format !== DELTA_FORMAT) {
    throw fail(
      ErrorCodes.DELTA_HEADER,
      `not a Strata delta: ${DeltaKeys.format} is ${JSON.stringify(format)}`,
      ctx,
    );
  }
  const version = meta.get(DeltaKeys.formatVersion);
  if (version === undefined || !/^[1-9][0-9]{0,8}$/.test(version)) {
    throw fail(ErrorCodes.DELTA_HEADER, `${DeltaKeys.formatVersion} is ${JSON.stringify(version)}`, ctx);
  }
  const formatVersion = Number(version);
  if (formatVersion > DELTA_FORMAT_VERSION) {
    throw fail(
      ErrorCodes.DELTA_VERSION,
      `delta format version ${formatVersion} is newer than this build reads (${DELTA_FORMAT_VERSION})`,
      ctx,
    );
  }
  const str = (key: string): string => {
    const v = meta.get(key);
    if (v === undefined) throw fail(ErrorCodes.DELTA_HEADER, `header field ${key} is missing`, ctx);
    return v;
  };
  const uint = (key: string): number => {
    const v = str(key);
    if (!UINT_RE.test(v) || !Number.isSafeInteger(Number(v))) {
      throw fail(ErrorCodes.DELTA_HEADER, `header field ${key} is ${JSON.stringify(v)}, not an integer`, ctx);
    }
    return Number(v);
  };
  const collection = str(DeltaKeys.collection);
  try {
    validateName(collection);
  } catch {
    throw fail(
      ErrorCodes.DELTA_HEADER,
      `${DeltaKeys.collection} ${JSON.stringify(collection)} is not a valid name`,
      ctx,
    );
  }
  const dimension = uint(DeltaKeys.dimension);
  if (dimension < 1 || dimension > Limits.maxDimension) {
    throw fail(ErrorCodes.DELTA_HEADER, `${DeltaKeys.dimension} ${dimension} is out of range`, ctx);
  }
  const metric = str(DeltaKeys.metric) as Metric;
  if (!METRICS.includes(metric)) {
    throw fail(
      ErrorCodes.DELTA_HEADER,
      `${DeltaKeys.metric} ${JSON.stringify(metric)} is not one of ${METRICS}`,
      ctx,
    );
  }
  const producer = str(DeltaKeys.producer);
  const seqStart = uint(DeltaKeys.seqStart);
  const seqEnd = uint(DeltaKeys.seqEnd);
  if (seqEnd < seqStart) {
    throw fail(ErrorCodes.DELTA_HEADER, `sequence range [${seqStart}, ${seqEnd}] is empty`, ctx);
  }
  const count = uint(DeltaKeys.count);
  const createdAt = str(DeltaKeys.createdAt);
  if (Number.isNaN(Date.parse(createdAt))) {
    throw fail(
      ErrorCodes.DELTA_HEADER,
      `${DeltaKeys.createdAt} ${JSON.stringify(createdAt)} is not a date`,
      ctx,
    );
  }
  const contentSha256 = str(DeltaKeys.contentSha256);
  if (!/^[0-9a-f]{64}$/.test(contentSha256)) {
    throw fail(ErrorCodes.DELTA_HEADER, `${DeltaKeys.contentSha256} is not a hex SHA-256`, ctx);
  }
  return {
    collection,
    dimension,
    metric,
    producer,
    seqStart,
    seqEnd,
    count,
    createdAt,
    contentSha256,
    formatVersion,
  };
}

function describeType(t: DataType): string {
  try {
    return String(t);
  } catch {
    return `type #${t.typeId}`;
  }
}

/** Field names, types and nullability plus the schema metadata: what two copies of a schema must share. */
function schemaSignature(s: Schema): string {
  return JSON.stringify([s.fields.map((f) => [f.name, describeType(f.type), f.nullable]), [...s.metadata]]);
}

function checkSchema(schema: Schema, dimension: number, ctx: ErrorContext): void {
  const names = schema.fields.map((f) => f.name);
  if (names.length !== COLUMNS.length || COLUMNS.some((c, i) => names[i] !== c)) {
    throw fail(ErrorCodes.DELTA_HEADER, `columns are [${names}], a delta has [${COLUMNS}]`, ctx);
  }
  const f = schema.fields;
  const expect = (i: number, ok: boolean, want: string) => {
    if (!ok) {
      throw fail(
        ErrorCodes.DELTA_HEADER,
        `column ${f[i]!.name} has type ${describeType(f[i]!.type)}, a delta has ${want}`,
        ctx,
      );
    }
  };
  for (const i of [0, 1, 4, 6]) expect(i, f[i]!.type.typeId === Type.Utf8, 'Utf8');
  const seq = f[2]!.type;
  expect(2, seq.typeId === Type.Int && (seq as Int64).bitWidth === 64 && (seq as Int64).isSigned, 'Int64');
  for (const i of [5, 7]) expect(i, f[i]!.type.typeId === Type.Bool, 'Bool');
  const emb = f[3]!.type;
  const child = emb.typeId === Type.FixedSizeList ? (emb as FixedSizeList).children?.[0]?.type : undefined;
  expect(
    3,
    emb.typeId === Type.FixedSizeList &&
      child?.typeId === Type.Float &&
      (child as Float32).precision === Precision.SINGLE,
    `FixedSizeList<Float32>[${dimension}]`,
  );
  if ((emb as FixedSizeList).listSize !== dimension) {
    throw fail(
      ErrorCodes.DELTA_HEADER,
      `embedding column holds ${(emb as FixedSizeList).listSize} dimensions, ${DeltaKeys.dimension} says ${dimension}`,
      ctx,
    );
  }
}

function rawStrCol(d: Data, ctx: ErrorContext, name: string): StrCol {
  const offsets = d.valueOffsets as Int32Array;
  const bytes = (d.values as Uint8Array | undefined) ?? new Uint8Array(0);
  if (d.offset !== 0 || offsets.length < d.length + 1) {
    throw fail(ErrorCodes.DELTA_CORRUPT, `column ${name} has a malformed offsets buffer`, ctx);
  }
  let prev = offsets[0]!;
  if (prev < 0) throw fail(ErrorCodes.DELTA_CORRUPT, `column ${name} has a malformed offsets buffer`, ctx);
  for (let i = 1; i <= d.length; i++) {
    const o = offsets[i]!;
    if (o < prev || o > bytes.byteLength) {
      throw fail(ErrorCodes.DELTA_CORRUPT, `column ${name} has an offset out of bounds at row ${i - 1}`, ctx);
    }
    prev = o;
  }
  return { offsets, bytes, valid: (i) => d.getValid(i) };
}

function rawBatch(batch: RecordBatch, dimension: number, ctx: ErrorContext): DeltaBatch {
  const c = batch.data.children;
  const n = batch.numRows;
  if (c.length !== COLUMNS.length || c.some((d) => d.length !== n || d.offset !== 0)) {
    throw fail(ErrorCodes.DELTA_CORRUPT, 'a record batch has columns of unequal length', ctx);
  }
  const seq = c[2]!.values as BigInt64Array;
  const emb = c[3]!;
  const values = (emb.children[0]?.values as Float32Array | undefined) ?? new Float32Array(0);
  const bits = (d: Data): Uint8Array => (d.values as Uint8Array | undefined) ?? new Uint8Array(0);
  if (
    seq.length < n ||
    values.length < n * dimension ||
    bits(c[5]!).length * 8 < n ||
    bits(c[7]!).length * 8 < n
  ) {
    throw fail(ErrorCodes.DELTA_CORRUPT, 'a record batch has a buffer shorter than its row count', ctx);
  }
  return {
    length: n,
    op: rawStrCol(c[0]!, ctx, 'op'),
    id: rawStrCol(c[1]!, ctx, 'id'),
    seq,
    embedding: { values, valid: (i) => emb.getValid(i) },
    document: rawStrCol(c[4]!, ctx, 'document'),
    documentSet: { bits: bits(c[5]!), valid: (i) => c[5]!.getValid(i) },
    metadata: rawStrCol(c[6]!, ctx, 'metadata'),
    metadataSet: { bits: bits(c[7]!), valid: (i) => c[7]!.getValid(i) },
  };
}

function decodeText(b: Uint8Array): string | null {
  try {
    return STRICT_UTF8.decode(b);
  } catch {
    return null;
  }
}

/**
 * Reads and validates a delta. Everything is checked — framing, Arrow structure, header, content hash,
 * the expectation, sequence numbers, NFC id collisions and every operation — and the first problem is
 * thrown as a DeltaFormatError / InvalidInputError with its own code and `ctx` plus `row`/`id`.
 */
export function decodeDelta(
  bytes: Uint8Array,
  expect?: DeltaExpectation,
  ctx: ErrorContext = {},
): { header: DeltaHeader; ops: SequencedOperation[] } {
  const { reader, batches: count } = openArrowFile(bytes, ctx);
  const meta = reader.schema.metadata;
  const header = parseHeader(meta, ctx);
  checkSchema(reader.schema, header.dimension, ctx);
  const batches = readBatches(reader, count, header.dimension, ctx);
  const rows = batches.reduce((s, b) => s + b.length, 0);
  if (rows === 0) throw fail(ErrorCodes.DELTA_EMPTY, 'the delta holds no operations', ctx);
  if (rows !== header.count) {
    throw fail(
      ErrorCodes.DELTA_COUNT_MISMATCH,
      `the delta holds ${rows} rows, ${DeltaKeys.count} says ${header.count}`,
      ctx,
    );
  }

  const h = new FieldHasher();
  hashHeader(h, meta);
  for (const b of batches) hashBatch(h, b, header.dimension);
  const actual = h.digest();
  if (actual !== header.contentSha256) {
    throw fail(
      ErrorCodes.DELTA_CHECKSUM,
      `content SHA-256 is ${actual}, the header says ${header.contentSha256}`,
      { ...ctx, expected: header.contentSha256, actual },
    );
  }

  if (expect) {
    if (header.collection !== expect.collection) {
      throw fail(
        ErrorCodes.DELTA_COLLECTION,
        `the delta is for collection ${JSON.stringify(header.collection)}, not ${JSON.stringify(expect.collection)}`,
        ctx,
      );
    }
    if (header.metric !== expect.metric) {
      throw fail(
        ErrorCodes.DELTA_METRIC,
        `the delta's metric is ${header.metric}, the collection's is ${expect.metric}`,
        ctx,
      );
    }
    if (header.dimension !== expect.dimension) {
      throw fail(
        ErrorCodes.DIMENSION_MISMATCH,
        `the delta has ${header.dimension} dimensions, the collection has ${expect.dimension}`,
        ctx,
      );
    }
  }

  // Pass 1: sequence numbers, ids as strict UTF-8, NFC collisions.
  const ids: string[] = new Array(rows);
  const seqs: number[] = new Array(rows);
  const byNfc = new Map<string, { id: string; row: number }>();
  let row = 0;
  let prevSeq = -1;
  for (const b of batches) {
    for (let i = 0; i < b.length; i++, row++) {
      const rowCtx = { ...ctx, row };
      const seq = b.seq[i]!;
      if (Number(seq) === prevSeq && row > 0) {
        // Two rows claiming the same position in the order: if they name the same id, which one wins is
        // undefined — the producer sent conflicting writes.
        const idBytes = strAt(b.id, i);
        const id = idBytes === null ? null : decodeText(idBytes);
        if (id !== null && id === ids[row - 1]) {
          throw new InvalidInputError(
            ErrorCodes.DUPLICATE_ID,
            `id ${JSON.stringify(id)} appears twice with the same sequence number ${seq} (conflicting writes)`,
            { ...rowCtx, id, otherRow: row - 1 },
          );
        }
      }
      if (seq < BigInt(header.seqStart) || seq > BigInt(header.seqEnd) || Number(seq) <= prevSeq) {
        throw fail(
          ErrorCodes.DELTA_HEADER,
          `seq ${seq} is not strictly increasing within [${header.seqStart}, ${header.seqEnd}] (previous ${prevSeq})`,
          rowCtx,
        );
      }
      prevSeq = Number(seq);
      seqs[row] = prevSeq;
      const idBytes = strAt(b.id, i);
      if (idBytes === null) throw new InvalidInputError(ErrorCodes.BAD_RECORD, 'id is null', rowCtx);
      const id = decodeText(idBytes);
      if (id === null) throw new InvalidInputError(ErrorCodes.ID_NOT_UTF8, 'id is not valid UTF-8', rowCtx);
      ids[row] = id;
      const nfc = id.normalize('NFC');
      const seen = byNfc.get(nfc);
      if (seen && seen.id !== id) {
        throw new InvalidInputError(
          ErrorCodes.ID_COLLISION,
          `ids ${JSON.stringify(seen.id)} (row ${seen.row}) and ${JSON.stringify(id)} are equal after NFC normalisation`,
          { ...rowCtx, id, otherRow: seen.row },
        );
      }
      if (!seen) byNfc.set(nfc, { id, row });
    }
  }

  // Pass 2: every operation.
  const ops: SequencedOperation[] = new Array(rows);
  row = 0;
  for (const b of batches) {
    for (let i = 0; i < b.length; i++, row++) {
      const id = ids[row]!;
      const rowCtx = { ...ctx, row, id };
      const text = (c: StrCol, what: string): string | null => {
        const raw = strAt(c, i);
        if (raw === null) return null;
        const s = decodeText(raw);
        if (s === null)
          throw new InvalidInputError(ErrorCodes.BAD_RECORD, `${what} is not valid UTF-8`, rowCtx);
        return s;
      };
      const op = text(b.op, 'op');
      if (op === null || !OPS.has(op)) {
        throw new InvalidInputError(ErrorCodes.BAD_OPERATION, `unknown op ${JSON.stringify(op)}`, rowCtx);
      }
      const documentSet = bitAt(b.documentSet, i);
      const metadataSet = bitAt(b.metadataSet, i);
      if (documentSet === null || metadataSet === null) {
        throw new InvalidInputError(ErrorCodes.BAD_RECORD, 'document_set / metadata_set is null', rowCtx);
      }
      const document = text(b.document, 'document');
      const metaText = text(b.metadata, 'metadata');
      const hasEmbedding = b.embedding.valid(i);
      if ((!documentSet && document !== null) || (!metadataSet && metaText !== null)) {
        throw new InvalidInputError(
          ErrorCodes.BAD_OPERATION,
          'a value is present but its _set flag is false',
          rowCtx,
        );
      }
      if (op === 'upsert' && (!documentSet || !metadataSet)) {
        throw new InvalidInputError(
          ErrorCodes.BAD_OPERATION,
          'an upsert must set document and metadata',
          rowCtx,
        );
      }
      if (op === 'delete' && (hasEmbedding || documentSet || metadataSet)) {
        throw new InvalidInputError(
          ErrorCodes.BAD_OPERATION,
          'a delete carries no embedding, document or metadata',
          rowCtx,
        );
      }
      let metadata: unknown = null;
      if (metaText !== null) {
        try {
          metadata = JSON.parse(metaText);
        } catch (e) {
          throw new InvalidInputError(ErrorCodes.BAD_JSON, 'metadata is not valid JSON', rowCtx, {
            cause: e,
          });
        }
      }
      const d = header.dimension;
      const raw: Record<string, unknown> = { op, id };
      if (hasEmbedding) raw.embedding = b.embedding.values.slice(i * d, (i + 1) * d);
      if (documentSet) raw.document = document;
      if (metadataSet) raw.metadata = metadata;
      const o = validateOperation(raw, d, { ...ctx, row });
      ops[row] = { ...o, seq: seqs[row]! };
    }
  }

  return { header, ops };
}

/** Reads only the header of a delta (framing and schema metadata; rows are not read or verified). */
export function readDeltaHeader(bytes: Uint8Array, ctx: ErrorContext = {}): DeltaHeader {
  return parseHeader(openArrowFile(bytes, ctx).reader.schema.metadata, ctx);
}
