/**
 * Reading what producers bring — NDJSON, OpenAI Batch API output, Arrow files from pyarrow & co — into
 * plain, validated `Operation[]` in order. Error contexts carry `line` (1-based, text files) or `row`
 * (0-based, Arrow files) and whatever the caller put in `ctx` (usually `file`).
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import {
  type DataType,
  type Float32,
  type Float64,
  Precision,
  RecordBatchReader,
  type Table,
  Type,
  tableFromIPC,
} from 'apache-arrow';
import {
  DeltaFormatError,
  ErrorCodes,
  type ErrorContext,
  InvalidInputError,
  NotFoundError,
  UsageError,
} from '../core/errors.js';
import type { Operation } from '../core/types.js';
import { validateId } from '../core/validate.js';
import { openArrowFile } from './arrow-file.js';
import { decodeDelta } from './delta-decode.js';
import { validateStorableOperation } from './delta-encode.js';
import { DeltaKeys } from './delta-header.js';
import { IpcStructureError, verifyIpcStream } from './ipc-verify.js';

/** One producer row before validation: the loose object, its optional producer-local seq, where it came from. */
interface ProducerRow {
  raw: Record<string, unknown>;
  seq: number | undefined;
  where: ErrorContext;
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Validates rows and puts them in order: by `seq` (stable) when the producer gave one on every row, else
 * in file order. The same id twice with the same seq is refused: its order would be a guess.
 */
function finishRows(rows: ProducerRow[], dimension: number, ctx: ErrorContext): Operation[] {
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

function checkSeq(v: unknown, where: ErrorContext): number | undefined {
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
function* lines(text: string): Generator<{ line: number; text: string }> {
  const all = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < all.length; i++) {
    const t = all[i]!;
    if (t.trim() !== '') yield { line: i + 1, text: t };
  }
}

function parseJsonObject(text: string, where: ErrorContext): Record<string, unknown> {
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

function refuseUnknownKeys(
  o: Record<string, unknown>,
  allowed: ReadonlySet<string>,
  where: ErrorContext,
): void {
  for (const k of Object.keys(o)) {
    if (!allowed.has(k)) {
      throw new InvalidInputError(
        ErrorCodes.BAD_RECORD,
        `unknown field ${JSON.stringify(k)} (allowed: ${[...allowed].join(', ')})`,
        where,
      );
    }
  }
}

const NDJSON_KEYS = new Set(['id', 'op', 'embedding', 'document', 'metadata', 'seq']);

/**
 * NDJSON, one object per line: `id`, `embedding` (array), optional `document`, `metadata`,
 * `op` ('upsert' default | 'delete' | 'update'), optional `seq` (producer-local order). Unknown fields
 * are refused (a misspelt "metdata" must not vanish silently). In an update, an absent field is
 * unchanged and `null` clears it.
 */
export function parseNdjson(text: string, dimension: number, ctx: ErrorContext = {}): Operation[] {
  const rows: ProducerRow[] = [];
  for (const { line, text: t } of lines(text)) {
    const where = { ...ctx, line };
    const o = parseJsonObject(t, where);
    refuseUnknownKeys(o, NDJSON_KEYS, where);
    const { seq, ...raw } = o;
    rows.push({ raw, seq: checkSeq(seq, where), where: { line } });
  }
  return finishRows(rows, dimension, ctx);
}

// ---------------------------------------------------------------------------------------------
// OpenAI Batch API output
// ---------------------------------------------------------------------------------------------

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** An OpenAI `encoding_format: "base64"` embedding: little-endian float32. */
function decodeBase64Embedding(s: string, where: ErrorContext): Float32Array {
  if (s.length % 4 !== 0 || !BASE64_RE.test(s)) {
    throw new InvalidInputError(ErrorCodes.BAD_RECORD, 'embedding is a string but not valid base64', where);
  }
  const buf = Buffer.from(s, 'base64');
  if (buf.byteLength % 4 !== 0) {
    throw new InvalidInputError(
      ErrorCodes.BAD_RECORD,
      `base64 embedding decodes to ${buf.byteLength} bytes, not a whole number of float32`,
      where,
    );
  }
  const out = new Float32Array(buf.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

function failedRequestMessage(o: Record<string, unknown>): string | null {
  const err = o.error as { message?: unknown; code?: unknown } | null | undefined;
  if (err !== undefined && err !== null) {
    return `request failed: ${String(err.code ?? '')} ${String(err.message ?? JSON.stringify(err))}`.trim();
  }
  const resp = o.response as
    | { status_code?: unknown; body?: { error?: { message?: unknown } } }
    | null
    | undefined;
  if (!resp || typeof resp !== 'object') return 'line has neither a response nor an error';
  if (resp.status_code !== 200) {
    const msg = resp.body?.error?.message;
    return `request failed with HTTP ${String(resp.status_code)}${msg ? `: ${String(msg)}` : ''}`;
  }
  return null;
}

const DOCUMENT_KEYS = new Set(['custom_id', 'id', 'document', 'metadata']);

/**
 * OpenAI Batch API output (`/v1/embeddings` requests) → upserts with id = custom_id (or
 * `${custom_id}#${index}` when a request embedded several inputs), in output-line order. A failed
 * line (error set, or status_code ≠ 200) is refused with E_OPENAI_FAILED_REQUEST. The optional
 * documents file (NDJSON lines `{custom_id | id, document?, metadata?}`) is joined on that id; a
 * document line without a matching embedding is refused with E_JOIN_MISSING. Error contexts say
 * `line` for the output file and `documentsLine` for the documents file.
 */
export function parseOpenAIBatch(
  outputJsonl: string,
  documentsJsonl: string | null,
  dimension: number,
  ctx: ErrorContext = {},
): Operation[] {
  const rows: ProducerRow[] = [];
  const byId = new Map<string, ProducerRow>();
  for (const { line, text } of lines(outputJsonl)) {
    const where = { ...ctx, line };
    const o = parseJsonObject(text, where);
    const customId = validateId(o.custom_id, where);
    const failed = failedRequestMessage(o);
    if (failed) {
      throw new InvalidInputError(ErrorCodes.OPENAI_FAILED_REQUEST, failed, { ...where, id: customId });
    }
    const body = (o.response as { body?: { data?: unknown } }).body;
    const data = body?.data;
    if (!Array.isArray(data) || data.length === 0) {
      throw new InvalidInputError(ErrorCodes.BAD_RECORD, 'response.body.data is not a non-empty array', {
        ...where,
        id: customId,
      });
    }
    const items = data.map((d: unknown) => {
      const item = d as { index?: unknown; embedding?: unknown } | null;
      if (
        typeof item !== 'object' ||
        item === null ||
        !Number.isSafeInteger(item.index) ||
        (item.index as number) < 0
      ) {
        throw new InvalidInputError(ErrorCodes.BAD_RECORD, 'an embedding item has no valid index', {
          ...where,
          id: customId,
        });
      }
      return { index: item.index as number, embedding: item.embedding };
    });
    items.sort((a, b) => a.index - b.index);
    for (const item of items) {
      const id = items.length > 1 ? `${customId}#${item.index}` : customId;
      const w = { ...where, id };
      if (byId.has(id)) {
        throw new InvalidInputError(
          ErrorCodes.DUPLICATE_ID,
          `id ${JSON.stringify(id)} appears twice in the output`,
          {
            ...w,
            first: byId.get(id)!.where,
          },
        );
      }
      const embedding =
        typeof item.embedding === 'string' ? decodeBase64Embedding(item.embedding, w) : item.embedding;
      const row: ProducerRow = { raw: { op: 'upsert', id, embedding }, seq: undefined, where: { line } };
      rows.push(row);
      byId.set(id, row);
    }
  }

  if (documentsJsonl !== null) {
    const joined = new Map<string, number>();
    for (const { line, text } of lines(documentsJsonl)) {
      const where = { ...ctx, documentsLine: line };
      const d = parseJsonObject(text, where);
      refuseUnknownKeys(d, DOCUMENT_KEYS, where);
      const key = d.custom_id ?? d.id;
      if (typeof key !== 'string') {
        throw new InvalidInputError(
          ErrorCodes.BAD_RECORD,
          'a documents line needs a string custom_id or id',
          where,
        );
      }
      const row = byId.get(key);
      if (!row) {
        throw new InvalidInputError(
          ErrorCodes.JOIN_MISSING,
          `documents line for ${JSON.stringify(key)} has no embedding in the batch output`,
          { ...where, id: key },
        );
      }
      if (joined.has(key)) {
        throw new InvalidInputError(
          ErrorCodes.DUPLICATE_ID,
          `two documents lines for ${JSON.stringify(key)}`,
          {
            ...where,
            id: key,
            firstDocumentsLine: joined.get(key),
          },
        );
      }
      joined.set(key, line);
      row.raw.document = d.document;
      row.raw.metadata = d.metadata;
      row.where = { ...row.where, documentsLine: line };
    }
  }
  return finishRows(rows, dimension, ctx);
}

// ---------------------------------------------------------------------------------------------
// Arrow files without Strata metadata
// ---------------------------------------------------------------------------------------------

const ARROW_KEYS = new Set(['id', 'embedding', 'document', 'metadata', 'op', 'seq']);

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

function arrowKind(bytes: Uint8Array): 'file' | 'stream' | null {
  if (
    bytes.byteLength >= 6 &&
    Buffer.from(bytes.buffer, bytes.byteOffset, 6).toString('latin1') === 'ARROW1'
  ) {
    return 'file';
  }
  if (
    bytes.byteLength >= 8 &&
    new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) === 0xffffffff
  ) {
    return 'stream';
  }
  return null;
}

/**
 * Checks an Arrow file or stream's structure (so that Arrow JS can parse it without running away) and
 * returns its schema metadata.
 */
function arrowSchemaMetadata(
  bytes: Uint8Array,
  kind: 'file' | 'stream',
  ctx: ErrorContext,
): ReadonlyMap<string, string> {
  if (kind === 'file') return openArrowFile(bytes, ctx).reader.schema.metadata;
  try {
    verifyIpcStream(bytes);
    const r = RecordBatchReader.from(bytes);
    if (!r.isSync()) throw new Error('not a synchronous reader');
    r.open();
    return r.schema.metadata;
  } catch (e) {
    const truncated = e instanceof IpcStructureError && e.truncated;
    throw new DeltaFormatError(
      truncated ? ErrorCodes.DELTA_TRUNCATED : ErrorCodes.DELTA_CORRUPT,
      `${truncated ? 'stream is truncated' : 'Arrow cannot parse the stream'}: ${(e as Error).message}`,
      ctx,
      { cause: e },
    );
  }
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
  if (kind === null)
    throw new DeltaFormatError(ErrorCodes.DELTA_MAGIC, 'not an Arrow IPC file or stream', ctx);
  if (arrowSchemaMetadata(bytes, kind, ctx).has(DeltaKeys.format)) {
    if (kind === 'stream') {
      throw new DeltaFormatError(
        ErrorCodes.DELTA_MAGIC,
        'a Strata delta must be an Arrow IPC file, not a stream',
        ctx,
      );
    }
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
  let table: Table;
  try {
    table = tableFromIPC(bytes);
  } catch (e) {
    throw new DeltaFormatError(
      ErrorCodes.DELTA_CORRUPT,
      `Arrow cannot parse the file: ${(e as Error).message}`,
      ctx,
      {
        cause: e,
      },
    );
  }

  const fields = new Map(table.schema.fields.map((f) => [f.name, f]));
  for (const name of fields.keys()) {
    if (!ARROW_KEYS.has(name) && !/^__index_level_\d+__$/.test(name)) {
      throw new InvalidInputError(
        ErrorCodes.BAD_RECORD,
        `unknown column ${JSON.stringify(name)} (allowed: ${[...ARROW_KEYS].join(', ')})`,
        ctx,
      );
    }
  }
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

// ---------------------------------------------------------------------------------------------
// Files on disk
// ---------------------------------------------------------------------------------------------

export type ProducerFormat = 'auto' | 'ndjson' | 'openai' | 'arrow';

export interface ReadProducerFileOptions {
  dimension: number;
  format?: ProducerFormat;
  /** OpenAI only: a documents NDJSON file joined on custom_id. */
  documents?: string;
}

async function readBytes(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new NotFoundError(`no such file: ${path}`, { file: path });
    throw e;
  }
}

function utf8Text(bytes: Buffer, ctx: ErrorContext): string {
  try {
    return STRICT_UTF8.decode(bytes);
  } catch {
    throw new InvalidInputError(ErrorCodes.BAD_JSON, 'the file is not valid UTF-8', ctx);
  }
}

/** Which format a file is in, from its extension and first bytes / first line. */
export function detectProducerFormat(path: string, bytes: Uint8Array): Exclude<ProducerFormat, 'auto'> {
  const ext = extname(path).toLowerCase();
  if (ext === '.arrow' || ext === '.feather' || ext === '.ipc' || ext === '.arrows') return 'arrow';
  if (arrowKind(bytes) !== null) return 'arrow';
  const text = Buffer.from(bytes.subarray(0, 1 << 20)).toString('utf8');
  const first = lines(text).next();
  if (!first.done) {
    try {
      const o = JSON.parse(first.value.text) as Record<string, unknown> | null;
      if (o && typeof o === 'object' && 'custom_id' in o && 'response' in o) return 'openai';
    } catch {
      // a long first line cut at 1 MiB, or bad JSON: parseNdjson reports it with its line number
    }
  }
  return 'ndjson';
}

/** Reads a producer file into validated operations, in order. Context of every error names the file. */
export async function readProducerFile(path: string, opts: ReadProducerFileOptions): Promise<Operation[]> {
  const ctx: ErrorContext = { file: path };
  const bytes = await readBytes(path);
  const format = opts.format && opts.format !== 'auto' ? opts.format : detectProducerFormat(path, bytes);
  if (opts.documents !== undefined && format !== 'openai') {
    throw new UsageError(`a documents file can only be joined onto OpenAI batch output, not ${format}`, ctx);
  }
  switch (format) {
    case 'arrow':
      return parseArrowProducerFile(bytes, opts.dimension, ctx);
    case 'ndjson':
      return parseNdjson(utf8Text(bytes, ctx), opts.dimension, ctx);
    case 'openai': {
      const docs =
        opts.documents === undefined
          ? null
          : utf8Text(await readBytes(opts.documents), { ...ctx, documents: opts.documents });
      return parseOpenAIBatch(
        utf8Text(bytes, ctx),
        docs,
        opts.dimension,
        opts.documents === undefined ? ctx : { ...ctx, documents: opts.documents },
      );
    }
    default:
      throw new UsageError(`unknown producer file format ${JSON.stringify(format)}`, ctx);
  }
}
