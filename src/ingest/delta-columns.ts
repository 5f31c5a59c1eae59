/**
 * The columns of a delta file: an Arrow IPC *file* (readable by pyarrow.ipc / feather / DuckDB) holding
 * one producer's operations with their global sequence numbers (one record batch or several):
 *   op           Utf8, not null        'upsert' | 'delete' | 'update'
 *   id           Utf8, not null
 *   seq          Int64, not null       global sequence number, strictly increasing, within [seq_start, seq_end]
 *   embedding    FixedSizeList<Float32>[dimension], null for delete and update
 *   document     Utf8, nullable
 *   document_set Bool, not null        false = an update (or delete) that leaves the document unchanged
 *   metadata     Utf8, nullable        canonical JSON; for update a patch whose null values remove keys
 *   metadata_set Bool, not null        false = an update (or delete) that leaves the metadata unchanged
 *
 * The raw column views here are shared by the writer, the reader and the content hash.
 */
import { Bool, Field, FixedSizeList, Float32, Int64, Precision, Schema, Type, Utf8 } from 'apache-arrow';
import { ErrorCodes, type ErrorContext } from '../core/errors.js';
import { deltaError, describeType } from './arrow-file.js';
import { DeltaKeys } from './delta-header.js';

export const COLUMNS = [
  'op',
  'id',
  'seq',
  'embedding',
  'document',
  'document_set',
  'metadata',
  'metadata_set',
] as const;

/** A Utf8 column as Arrow lays it out: row i is bytes[offsets[i] .. offsets[i+1]] unless null. */
export interface StrCol {
  offsets: Int32Array;
  bytes: Uint8Array;
  valid: (i: number) => boolean;
}

export interface BoolCol {
  bits: Uint8Array;
  valid: (i: number) => boolean;
}

/** One record batch of a delta, in raw form. */
export interface DeltaBatch {
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

export function strAt(c: StrCol, i: number): Uint8Array | null {
  return c.valid(i) ? c.bytes.subarray(c.offsets[i]!, c.offsets[i + 1]!) : null;
}

export function bitAt(c: BoolCol, i: number): boolean | null {
  return c.valid(i) ? ((c.bits[i >> 3]! >> (i & 7)) & 1) === 1 : null;
}

/** The Arrow schema of a delta of `dimension`, carrying `metadata` (the header). */
export function deltaSchema(dimension: number, metadata: ReadonlyMap<string, string>): Schema {
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

/** Refuses a schema whose columns are not a delta's of `dimension` (E_DELTA_HEADER). */
export function checkSchema(schema: Schema, dimension: number, ctx: ErrorContext): void {
  const names = schema.fields.map((f) => f.name);
  if (names.length !== COLUMNS.length || COLUMNS.some((c, i) => names[i] !== c)) {
    throw deltaError(ErrorCodes.DELTA_HEADER, `columns are [${names}], a delta has [${COLUMNS}]`, ctx);
  }
  const f = schema.fields;
  const expect = (i: number, ok: boolean, want: string) => {
    if (!ok) {
      throw deltaError(
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
    throw deltaError(
      ErrorCodes.DELTA_HEADER,
      `embedding column holds ${(emb as FixedSizeList).listSize} dimensions, ${DeltaKeys.dimension} says ${dimension}`,
      ctx,
    );
  }
}
