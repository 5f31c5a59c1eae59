/**
 * Strata's public library API. Everything a program needs to ingest, compact, publish, verify and query;
 * internals stay internal. Layers (DESIGN.md): core → engine/store → pipeline → runners → cli/server.
 */

// core
export {
  ErrorCodes,
  type ErrorCode,
  type ErrorContext,
  StrataError,
  InvalidInputError,
  DeltaFormatError,
  NotFoundError,
  PreconditionFailedError,
  IntegrityError,
  StoreError,
  LeaseError,
  FencedError,
  VerificationError,
  StepError,
  UsageError,
  CollectionError,
  type SerializedError,
  isStrataError,
} from './core/errors.js';
export type {
  CollectionConfig,
  Metadata,
  MetadataPatch,
  MetadataValue,
  Metric,
  Operation,
  Quantization,
  SequencedOperation,
  VectorRecord,
} from './core/types.js';
export { validateOperation, validateName } from './core/validate.js';
export {
  MANIFEST_FORMAT,
  MANIFEST_FORMAT_VERSION,
  type SegmentManifest,
  type ManifestFile,
  type PromotedRange,
  parseManifest,
} from './core/manifest.js';
export { FAILPOINTS, type FailpointName } from './core/failpoints.js';

// storage
export type { ObjectStore, ObjectInfo, PutOptions, PutFileOptions } from './store/object-store.js';
export { LocalStore, type LocalStoreOptions } from './store/local-store.js';
export { FaultyStore, type FaultyStoreOptions } from './store/faulty-store.js';
export { openStore } from './store/open.js';

// engine
export {
  SegmentReader,
  SegmentWriter,
  type Hit,
  type OpenOptions,
  type SegmentWriterOptions,
  verifySegment,
  type VerifyReport,
} from './engine/index.js';
export type { SegmentRow } from './engine/rows.js';

// deltas and producer files
export {
  decodeDelta,
  encodeDelta,
  readProducerFile,
  parseNdjson,
  parseOpenAIBatch,
  parseArrowProducerFile,
} from './ingest/index.js';

// pipeline
export {
  createCollection,
  getCollection,
  findCollection,
  listCollections,
  deleteCollection,
  type CreateCollectionOptions,
} from './pipeline/collections.js';
export { acceptDelta, listDeltas, type DeltaDescriptor, type AcceptOptions } from './pipeline/deltas.js';
export { compact, type CompactOptions, type CompactReport, type CompactEvent } from './pipeline/compact.js';
export type { StepExecutor } from './pipeline/executor.js';
export { runStep, type StepTask, type StepResult, type StepEnv } from './pipeline/steps.js';
export { Lease, type LeaseOptions, type LeaseRecord } from './pipeline/lease.js';
export { readPointer, type Pointer } from './pipeline/pointer.js';
export { readLedger, type Ledger, type LedgerEntry, type DeltaState } from './pipeline/ledger.js';
export { listRuns, readRunRecord, type RunRecord } from './pipeline/runs.js';
export { gcCollection, type GcOptions, type GcReport } from './pipeline/gc.js';
export { verifyCollection, type SnapshotVerification } from './pipeline/verify.js';
export { openCurrentSnapshot } from './pipeline/current.js';
export { openStoredSegment, OpenedSegment } from './pipeline/segments.js';

// runners
export { InlineExecutor } from './runners/inline.js';
export { LocalPoolExecutor, type LocalPoolOptions } from './runners/local/pool.js';

// query
export { searchSnapshot, type SearchOptions } from './query/search.js';
export { matchesWhere, matchesWhereDocument, type Where, type WhereDocument } from './query/where.js';

// workload (synthetic data for demos, tests and benchmarks)
export { generateRecords, generateChanges } from './workload/synthetic.js';
