/**
 * Strata's public library API. Everything a program needs to ingest, compact, publish, verify and query;
 * internals stay internal. Layers, bottom to top (README, "Architecture"; docs/architecture.md, "Layers"):
 * core → engine, store, ingest → query → pipeline → runners, interop → server, cli.
 */

export { DeletionVector } from './core/deletion-vector.js';
// core
export {
  CollectionError,
  DeltaFormatError,
  type ErrorCode,
  ErrorCodes,
  type ErrorContext,
  FencedError,
  IntegrityError,
  InvalidInputError,
  isStrataError,
  LeaseError,
  NotFoundError,
  PreconditionFailedError,
  type SerializedError,
  StepError,
  StoreError,
  StrataError,
  UsageError,
  VerificationError,
} from './core/errors.js';
export { FAILPOINTS, type FailpointName } from './core/failpoints.js';
export { LtHash } from './core/lthash.js';
export {
  MANIFEST_FORMAT,
  MANIFEST_FORMAT_VERSION,
  type ManifestFile,
  type PromotedRange,
  parseManifest,
  type SegmentManifest,
} from './core/manifest.js';
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
export { validateName, validateOperation } from './core/validate.js';
export {
  parseVersionManifest,
  VERSION_FORMAT,
  type VersionCause,
  type VersionManifest,
  type VersionSegment,
} from './core/version-manifest.js';
// engine
export {
  type Hit,
  type OpenOptions,
  SegmentReader,
  type SegmentRow,
  SegmentWriter,
  type SegmentWriterOptions,
  type VerifyReport,
  verifySegment,
} from './engine/index.js';
// deltas and producer files
export {
  decodeDelta,
  encodeDelta,
  parseArrowProducerFile,
  parseNdjson,
  parseOpenAIBatch,
  readProducerFile,
} from './ingest/index.js';
// interop: Chroma persistent directories (read without Chroma, import as deltas, export through Chroma)
export {
  assertNotInUse as assertChromaNotInUse,
  ChromaDirectory,
  type ExportChromaOptions,
  type ExportChromaReport,
  exportChroma,
  type ImportChromaOptions,
  type ImportChromaReport,
  importChroma,
  inspectInUse as inspectChromaInUse,
} from './interop/chroma/index.js';
// pipeline
export {
  type CreateCollectionOptions,
  createCollection,
  deleteCollection,
  findCollection,
  getCollection,
  listCollections,
} from './pipeline/collections.js';
export { type CompactEvent, type CompactOptions, type CompactReport, compact } from './pipeline/compact.js';
export { openCurrentVersion, type QueryableOptions, QueryableVersion } from './pipeline/current.js';
export { type AcceptOptions, acceptDelta, type DeltaDescriptor, listDeltas } from './pipeline/deltas.js';
export type { ExecutorFactory, StepExecutor } from './pipeline/executor.js';
export { type GcOptions, type GcReport, gcCollection } from './pipeline/gc.js';
export { Lease, type LeaseOptions, type LeaseRecord } from './pipeline/lease.js';
export { type DeltaState, type Ledger, type LedgerEntry, readLedger } from './pipeline/ledger.js';
export {
  defaultMergePolicy,
  findMerges,
  type MergePolicyOptions,
  mergeAll,
  type PolicySegment,
} from './pipeline/merge-policy.js';
export {
  type MergeMode,
  type MergeOptions,
  type MergeReport,
  mergeCollection,
  planMerges,
} from './pipeline/merges.js';
export { OpenedVersion, openVersion } from './pipeline/open-version.js';
export { type Pointer, readPointer } from './pipeline/pointer.js';
export { type RollbackOptions, type RollbackReport, rollbackCollection } from './pipeline/rollback.js';
export { listRuns, type RunRecord, readRunRecord } from './pipeline/runs.js';
export { OpenedSegment, openStoredSegment } from './pipeline/segments.js';
export { runStep, type StepEnv, type StepResult, type StepTask } from './pipeline/steps.js';
export { type SnapshotVerification, verifyCollection } from './pipeline/verify.js';
export { type ResolvedVersion, readDeletionVector, readVersion } from './pipeline/versions.js';
// query
export {
  matchesWhere,
  matchesWhereDocument,
  type SearchHit,
  type SearchOptions,
  type SearchPlan,
  searchVersion,
  VersionView,
  type Where,
  type WhereDocument,
} from './query/index.js';
// runners
export {
  type AslDefinition,
  BullMQExecutor,
  type BullMQExecutorOptions,
  buildStateMachine,
  InlineExecutor,
  LocalPoolExecutor,
  type LocalPoolOptions,
  lambdaHandlers,
  type OpenExecutorOptions,
  openExecutor,
  RUNNERS,
  type Runner,
  type StateMachineOptions,
  StepWorker,
  type StepWorkerOptions,
} from './runners/index.js';
// storage
export {
  LocalStore,
  type LocalStoreOptions,
  type ObjectInfo,
  type ObjectStore,
  openStore,
  type PutFileOptions,
  type PutOptions,
} from './store/index.js';
