/** The engine: segments = record store (SQLite) + ANN index (usearch) + manifest. */

export { fsyncDir, fsyncFile, writeFileDurable } from '../core/durable.js';
export { type AnnParams, type IndexFileHeader, readIndexHeader } from './ann-index.js';
export { cosineDistance, distance, ipDistance, l2sqDistance } from './distance.js';
export { compareIds, idLess } from './ids.js';
export { type KindCounts, pageSizeFor, RECORDS_SCHEMA_VERSION, type SqliteDatabase } from './record-store.js';
export type { RowKind, SegmentRow } from './rows.js';
export { SEGMENT_FILES } from './segment-files.js';
export { type Hit, type OpenOptions, type SearchOptions, SegmentReader } from './segment-reader.js';
export { type SealInfo, SegmentWriter, type SegmentWriterOptions } from './segment-writer.js';
export {
  computeSegmentContent,
  hashSegmentRow,
  type SegmentContent,
  type VerifyReport,
  verifySegment,
} from './verify.js';
