/** Producer files from the OpenAI Batch API: `/v1/embeddings` output, joined with an optional documents file. */
import { ErrorCodes, type ErrorContext, InvalidInputError } from '../core/errors.js';
import type { Operation } from '../core/types.js';
import { validateId } from '../core/validate.js';
import { finishRows, lines, type ProducerRow, parseJsonObject, refuseUnknownKeys } from './producer-rows.js';

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const DOCUMENT_KEYS = new Set(['custom_id', 'id', 'document', 'metadata']);

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
  if (documentsJsonl !== null) joinDocuments(documentsJsonl, byId, ctx);
  return finishRows(rows, dimension, ctx);
}

/** Sets `document` and `metadata` of the rows the documents file names (each at most once). */
function joinDocuments(
  documentsJsonl: string,
  byId: ReadonlyMap<string, ProducerRow>,
  ctx: ErrorContext,
): void {
  const joined = new Map<string, number>();
  for (const { line, text } of lines(documentsJsonl)) {
    const where = { ...ctx, documentsLine: line };
    const d = parseJsonObject(text, where);
    refuseUnknownKeys(Object.keys(d), DOCUMENT_KEYS, where);
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
      throw new InvalidInputError(ErrorCodes.DUPLICATE_ID, `two documents lines for ${JSON.stringify(key)}`, {
        ...where,
        id: key,
        firstDocumentsLine: joined.get(key),
      });
    }
    joined.set(key, line);
    row.raw.document = d.document;
    row.raw.metadata = d.metadata;
    row.where = { ...row.where, documentsLine: line };
  }
}
