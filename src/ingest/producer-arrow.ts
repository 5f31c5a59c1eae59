/** Producer files in Arrow IPC (pyarrow, polars, DuckDB …): a file or stream of operation columns, or a Strata delta. */
import {
  type DataType,
  type Float32,
  type Float64,
  Precision,
  type Table,
  Type,
  tableFromIPC,
} from 'apache-arrow';
import { ErrorCodes, type ErrorContext, InvalidInputError } from '../core/errors.js';
import type { Operation } from '../core/types.js';
import { arrowKind, arrowSchemaMetadata, deltaError } from './arrow-file.js';
import { decodeDelta } from './delta-decode.js';
import { DeltaKeys } from './delta-header.js';
import { checkSeq, finishRows, type ProducerRow, refuseUnknownKeys } from './producer-rows.js';

const ARROW_KEYS = new Set(['id', 'embedding', 'document', 'metadata', 'op', 'seq']);
/** Columns pandas adds for its index; ignored. */
const PANDAS_INDEX = /^__index_level_\d+__$/;

function isString(t: DataType): boolean {
  return t.typeId === Type.Utf8 || t.typeId === Type.LargeUtf8;
}

function isFloatList(t: DataType): boolean {
  if (t.typeId !== Type.List && t.typeId !== Type.FixedSizeList) return false;
  const child = t.children[0]?.type;
  return (
    child?.typeId === Type.Float &&
    ((child as Float32 | Float64).precision === Precision.SINGLE ||
      (child as Float32 | Float64).precision === Precision.DOUBLE)
  );
}

function embeddingAt(v: unknown, where: ErrorContext): Float32Array | null {
  if (v === null || v === undefined) return null;
  const vec = v as { nullCount: number; toArray(): Float32Array | Float64Array };
  if (vec.nullCount > 0)
    throw new InvalidInputError(ErrorCodes.NON_FINITE, 'embedding holds a null value', where);
  const arr = vec.toArray();
  return arr instanceof Float32Array ? arr.slice() : Float32Array.from(arr);
}

/** The operations of a Strata delta given as a producer file: fully verified, seqs dropped. */
function deltaOperations(bytes: Uint8Array, dimension: number, ctx: ErrorContext): Operation[] {
  const { header, ops } = decodeDelta(bytes, undefined, ctx);
  if (header.dimension !== dimension) {
    throw new InvalidInputError(
      ErrorCodes.DIMENSION_MISMATCH,
      `the delta has ${header.dimension} dimensions, the collection has ${dimension}`,
      ctx,
    );
  }
  return ops.map(({ seq: _seq, ...op }) => op as Operation);
}

/**
 * An Arrow IPC file or stream (pyarrow, polars, DuckDB …) WITHOUT Strata metadata: columns `id`,
 * `embedding` (List / FixedSizeList of Float32 or Float64), optional `document`, `metadata` (JSON text),
 * `op`, `seq` — the NDJSON rules apply. Arrow has no "absent", so in an update a null document or
 * metadata means unchanged; the metadata text "null" clears it. A file that IS a Strata delta is read
 * with decodeDelta (fully verified) and its operations returned.
 */
export function parseArrowProducerFile(
  bytes: Uint8Array,
  dimension: number,
  ctx: ErrorContext = {},
): Operation[] {
  const kind = arrowKind(bytes);
  if (kind === null) throw deltaError(ErrorCodes.DELTA_MAGIC, 'not an Arrow IPC file or stream', ctx);
  if (arrowSchemaMetadata(bytes, kind, ctx).has(DeltaKeys.format)) {
    if (kind === 'stream') {
      throw deltaError(ErrorCodes.DELTA_MAGIC, 'a Strata delta must be an Arrow IPC file, not a stream', ctx);
    }
    return deltaOperations(bytes, dimension, ctx);
  }
  let table: Table;
  try {
    table = tableFromIPC(bytes);
  } catch (e) {
    throw deltaError(
      ErrorCodes.DELTA_CORRUPT,
      `Arrow cannot parse the file: ${(e as Error).message}`,
      ctx,
      e,
    );
  }

  const fields = new Map(table.schema.fields.map((f) => [f.name, f]));
  refuseUnknownKeys(
    [...fields.keys()].filter((name) => !PANDAS_INDEX.test(name)),
    ARROW_KEYS,
    ctx,
    'column',
  );
  const typeError = (name: string, want: string) =>
    new InvalidInputError(
      ErrorCodes.BAD_RECORD,
      `column ${name} has type ${String(fields.get(name)!.type)}, expected ${want}`,
      ctx,
    );
  if (!fields.has('id')) throw new InvalidInputError(ErrorCodes.BAD_RECORD, 'the file has no id column', ctx);
  for (const name of ['id', 'op', 'document', 'metadata']) {
    const f = fields.get(name);
    if (f && !isString(f.type)) throw typeError(name, 'a string column');
  }
  const emb = fields.get('embedding');
  if (emb && !isFloatList(emb.type))
    throw typeError('embedding', 'a List or FixedSizeList of Float32/Float64');
  const seqField = fields.get('seq');
  if (seqField && seqField.type.typeId !== Type.Int) throw typeError('seq', 'an integer column');

  const col = (name: string) => (fields.has(name) ? table.getChild(name) : null);
  const ids = col('id')!;
  const opCol = col('op');
  const embCol = col('embedding');
  const docCol = col('document');
  const metaCol = col('metadata');
  const seqCol = col('seq');

  const rows: ProducerRow[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const where = { row: i };
    const full = { ...ctx, ...where };
    const op = (opCol?.get(i) as string | null | undefined) ?? 'upsert';
    const raw: Record<string, unknown> = { op, id: ids.get(i) };
    const embedding = embCol ? embeddingAt(embCol.get(i), full) : null;
    if (embedding) raw.embedding = embedding;
    const document = docCol?.get(i) as string | null | undefined;
    if (document !== null && document !== undefined) raw.document = document;
    const metaText = metaCol?.get(i) as string | null | undefined;
    if (metaText !== null && metaText !== undefined) {
      try {
        raw.metadata = JSON.parse(metaText);
      } catch (e) {
        throw new InvalidInputError(ErrorCodes.BAD_JSON, 'metadata is not valid JSON', full, { cause: e });
      }
    }
    rows.push({ raw, seq: checkSeq(seqCol?.get(i), full), where });
  }
  return finishRows(rows, dimension, ctx);
}
