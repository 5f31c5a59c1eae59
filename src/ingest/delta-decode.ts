/**
 * Reading a delta: framing and Arrow structure (arrow-file.ts), header, columns, content hash, the
 * reader's expectation, sequence numbers, ids and every operation — all checked, the first problem thrown
 * with its own code. Pure: bytes in.
 */
import type { Data, RecordBatch, RecordBatchFileReader } from 'apache-arrow';
import { ErrorCodes, type ErrorContext, InvalidInputError } from '../core/errors.js';
import type { Operation, SequencedOperation } from '../core/types.js';
import { validateOperation } from '../core/validate.js';
import { deltaError, openArrowFile } from './arrow-file.js';
import { bitAt, COLUMNS, checkSchema, type DeltaBatch, type StrCol, strAt } from './delta-columns.js';
import { deltaContentHash } from './delta-hash.js';
import {
  checkExpectation,
  type DeltaExpectation,
  type DeltaHeader,
  DeltaKeys,
  parseHeader,
} from './delta-header.js';

const OPS = new Set(['upsert', 'delete', 'update']);
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeText(b: Uint8Array): string | null {
  try {
    return STRICT_UTF8.decode(b);
  } catch {
    return null;
  }
}

function rawStrCol(d: Data, ctx: ErrorContext, name: string): StrCol {
  const offsets = d.valueOffsets as Int32Array;
  const bytes = (d.values as Uint8Array | undefined) ?? new Uint8Array(0);
  if (d.offset !== 0 || offsets.length < d.length + 1) {
    throw deltaError(ErrorCodes.DELTA_CORRUPT, `column ${name} has a malformed offsets buffer`, ctx);
  }
  let prev = offsets[0]!;
  if (prev < 0)
    throw deltaError(ErrorCodes.DELTA_CORRUPT, `column ${name} has a malformed offsets buffer`, ctx);
  for (let i = 1; i <= d.length; i++) {
    const o = offsets[i]!;
    if (o < prev || o > bytes.byteLength) {
      throw deltaError(
        ErrorCodes.DELTA_CORRUPT,
        `column ${name} has an offset out of bounds at row ${i - 1}`,
        ctx,
      );
    }
    prev = o;
  }
  return { offsets, bytes, valid: (i) => d.getValid(i) };
}

function rawBatch(batch: RecordBatch, dimension: number, ctx: ErrorContext): DeltaBatch {
  const c = batch.data.children;
  const n = batch.numRows;
  if (c.length !== COLUMNS.length || c.some((d) => d.length !== n || d.offset !== 0)) {
    throw deltaError(ErrorCodes.DELTA_CORRUPT, 'a record batch has columns of unequal length', ctx);
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
    throw deltaError(ErrorCodes.DELTA_CORRUPT, 'a record batch has a buffer shorter than its row count', ctx);
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
      throw deltaError(
        ErrorCodes.DELTA_CORRUPT,
        `Arrow cannot read record batch ${i}: ${(e as Error).message}`,
        ctx,
        e,
      );
    }
    if (!batch) {
      throw deltaError(ErrorCodes.DELTA_CORRUPT, `record batch ${i} is not a record batch message`, ctx);
    }
    out.push(rawBatch(batch, dimension, ctx));
  }
  return out;
}

/**
 * Pass 1 over the rows: sequence numbers strictly increasing within the header's range, ids strict
 * UTF-8 and distinct after NFC normalisation, no id twice at the same sequence number.
 */
function readIdsAndSeqs(
  batches: readonly DeltaBatch[],
  rows: number,
  header: DeltaHeader,
  ctx: ErrorContext,
): { ids: string[]; seqs: number[] } {
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
        throw deltaError(
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
  return { ids, seqs };
}

/** Row `i` of batch `b` as an operation: its columns consistent with its op, then `validateOperation`. */
function readOperation(
  b: DeltaBatch,
  i: number,
  id: string,
  row: number,
  dimension: number,
  ctx: ErrorContext,
): Operation {
  const rowCtx = { ...ctx, row, id };
  const text = (c: StrCol, what: string): string | null => {
    const raw = strAt(c, i);
    if (raw === null) return null;
    const s = decodeText(raw);
    if (s === null) throw new InvalidInputError(ErrorCodes.BAD_RECORD, `${what} is not valid UTF-8`, rowCtx);
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
    throw new InvalidInputError(ErrorCodes.BAD_OPERATION, 'an upsert must set document and metadata', rowCtx);
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
      throw new InvalidInputError(ErrorCodes.BAD_JSON, 'metadata is not valid JSON', rowCtx, { cause: e });
    }
  }
  const raw: Record<string, unknown> = { op, id };
  if (hasEmbedding) raw.embedding = b.embedding.values.slice(i * dimension, (i + 1) * dimension);
  if (documentSet) raw.document = document;
  if (metadataSet) raw.metadata = metadata;
  return validateOperation(raw, dimension, { ...ctx, row });
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
  if (rows === 0) throw deltaError(ErrorCodes.DELTA_EMPTY, 'the delta holds no operations', ctx);
  if (rows !== header.count) {
    throw deltaError(
      ErrorCodes.DELTA_COUNT_MISMATCH,
      `the delta holds ${rows} rows, ${DeltaKeys.count} says ${header.count}`,
      ctx,
    );
  }

  const actual = deltaContentHash(meta, batches, header.dimension);
  if (actual !== header.contentSha256) {
    throw deltaError(
      ErrorCodes.DELTA_CHECKSUM,
      `content SHA-256 is ${actual}, the header says ${header.contentSha256}`,
      { ...ctx, expected: header.contentSha256, actual },
    );
  }

  if (expect) checkExpectation(header, expect, ctx);

  const { ids, seqs } = readIdsAndSeqs(batches, rows, header, ctx);
  const ops: SequencedOperation[] = new Array(rows);
  let row = 0;
  for (const b of batches) {
    for (let i = 0; i < b.length; i++, row++) {
      ops[row] = { ...readOperation(b, i, ids[row]!, row, header.dimension, ctx), seq: seqs[row]! };
    }
  }
  return { header, ops };
}

/** Reads only the header of a delta (framing and schema metadata; rows are not read or verified). */
export function readDeltaHeader(bytes: Uint8Array, ctx: ErrorContext = {}): DeltaHeader {
  return parseHeader(openArrowFile(bytes, ctx).reader.schema.metadata, ctx);
}
