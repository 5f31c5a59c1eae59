/** The query layer: filters, per-segment views, k-NN plans and their merge across a version's segments. */
export { evaluateFilter, isEmptyFilter, type Mask, normalizeFilter, type RowFilter } from './filter.js';
export { exactLimit, type KnnOptions, type KnnResult, type KnnStrategy, knn } from './knn.js';
export type { RowSource } from './row-source.js';
export { type SearchHit, type SearchOptions, type SearchPlan, searchVersion } from './search.js';
export { type Column, SegmentView, Tag, VectorBudget, type ViewOptions } from './segment-view.js';
export { type TailRecord, TailRows } from './tail-rows.js';
export {
  type Evaluated,
  type Hit,
  liveMask,
  type Part,
  type RowRef,
  segmentPart,
  VersionView,
} from './version-view.js';
export {
  matchesWhere,
  matchesWhereDocument,
  validateWhere,
  validateWhereDocument,
  type Where,
  type WhereDocument,
} from './where.js';
