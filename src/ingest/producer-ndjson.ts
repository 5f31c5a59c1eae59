/** Producer files in NDJSON: one operation object per line. */
import type { ErrorContext } from '../core/errors.js';
import type { Operation } from '../core/types.js';
import {
  checkSeq,
  finishRows,
  lines,
  type ProducerRow,
  parseJsonObject,
  refuseUnknownKeys,
} from './producer-rows.js';

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
    refuseUnknownKeys(Object.keys(o), NDJSON_KEYS, where);
    const { seq, ...raw } = o;
    rows.push({ raw, seq: checkSeq(seq, where), where: { line } });
  }
  return finishRows(rows, dimension, ctx);
}
