/**
 * The content hash of a delta, `strata.content_sha256`: SHA-256 over this byte stream (a `field` is a u32
 * LE length and the bytes, or the u32 0xFFFFFFFF for null; strings are UTF-8, as stored):
 *   field("strata.delta.content/1")
 *   field(v) for each of the schema metadata values strata.format, strata.format_version,
 *     strata.collection, strata.dimension, strata.metric, strata.producer, strata.seq_start,
 *     strata.seq_end, strata.count, strata.created_at (in this order)
 *   then for each row, in file order:
 *     field(op) field(id) i64 LE(seq) field(embedding as f32 LE bytes | null)
 *     u8(document_set) field(document | null) u8(metadata_set) field(metadata | null)
 * so a flipped bit in any row or header field is caught even when Arrow still parses the file.
 */
import { FieldHasher } from '../core/hash.js';
import { bitAt, type DeltaBatch, strAt } from './delta-columns.js';
import { DeltaKeys } from './delta-header.js';

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

const UTF8 = new TextEncoder();

/** The content hash (hex) of a delta with schema metadata `meta` and these record batches, in file order. */
export function deltaContentHash(
  meta: ReadonlyMap<string, string>,
  batches: readonly DeltaBatch[],
  dimension: number,
): string {
  const h = new FieldHasher();
  h.field(UTF8.encode('strata.delta.content/1'));
  for (const k of HASHED_KEYS) {
    const v = meta.get(k);
    h.field(v === undefined ? null : UTF8.encode(v));
  }
  const rowBytes = dimension * 4;
  for (const b of batches) {
    const vals = b.embedding.values;
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
  return h.digest();
}
