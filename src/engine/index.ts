/**
 * The engine: segments = record store (SQLite) + optional ANN index (usearch) + manifest. Nothing outside
 * this folder touches SQLite or usearch; everything goes through this entry.
 */

export { fsyncDir, fsyncFile, writeFileDurable } from '../core/durable.js';
export {
  type AnnParams,
  exactNearest,
  type IndexFileHeader,
  type IndexScalar,
  readIndexHeader,
} from './ann-index.js';
export { exactCrossover, indexMinRows, walkRowCost } from './crossover.js';
export { cosineDistance, distance, ipDistance, l2sqDistance } from './distance.js';
export { compareIds, idLess } from './ids.js';
export { type KindCounts, pageSizeFor, RECORDS_SCHEMA_VERSION } from './record-store.js';
export type { RowKind, SegmentRow } from './rows.js';
export type { IndexPolicy, SealInfo } from './segment-build.js';
export { SEGMENT_FILES } from './segment-files.js';
export { SegmentMerger, type SegmentMergerOptions } from './segment-merger.js';
export {
  type Hit,
  type OpenOptions,
  type PutRow,
  type SearchOptions,
  SegmentReader,
} from './segment-reader.js';
export { SegmentWriter, type SegmentWriterOptions } from './segment-writer.js';
export { VectorIndex } from './vector-index.js';
export {
  computeSegmentContent,
  hashSegmentRow,
  type SegmentContent,
  type VerifyReport,
  verifySegment,
} from './verify.js';
