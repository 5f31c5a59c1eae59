/**
 * The JSON the Console's endpoints answer (/strata/v1/…), as types only: the server builds these and the
 * browser app (console/) imports them, so both sides agree at compile time. No runtime code here.
 */

export type DeltaState = 'pending' | 'compacting' | 'promoted' | 'rolled-back' | 'quarantined';
export type LedgerCounts = Record<DeltaState, number>;

export interface WireError {
  name?: string;
  code: string;
  message: string;
  context?: Record<string, unknown>;
}

export interface LeaseView {
  owner: string;
  token: number;
  acquiredAt: number;
  expiresAt: number;
  /** Held now (not released, not expired). */
  live: boolean;
}

export interface RunSummary {
  collection: string;
  run: string;
  /** compact: deltas → a new version; merge: segments of the current version → fewer segments. */
  kind: 'compact' | 'merge';
  status: 'running' | 'succeeded' | 'failed' | 'nothing-to-do';
  startedAt: string;
  finishedAt?: string;
  deltas: number;
  chunks: number;
  groups: number;
  groupsSucceeded?: number;
  groupsFailed?: number;
  quarantined?: number;
  /** The version the run published (a merge run: the last of the versions its merges published). */
  version?: number;
  records?: number;
  build?: string;
  /** Merge runs: merges planned, published, dropped (their inputs changed under them). */
  merges?: { planned: number; published: number; dropped: number; versions: number[] };
  timingsMs?: Record<string, number>;
  error?: WireError;
}

export interface RecallView {
  /** Mean recall@k over the recent window (null before the first sample). */
  recall: number | null;
  /** Samples in the window. */
  window: number;
  /** Samples since the server started. */
  samples: number;
  alert: boolean;
  threshold: number;
  k: number | null;
}

export interface OverviewCollection {
  collection: string;
  /** Chroma's name and place of the collection. */
  chroma: { tenant: string; database: string; name: string };
  state: 'ready' | 'pending-first-write';
  dimension: number | null;
  metric: string;
  version: number | null;
  records: number;
  publishedAt: string | null;
  /** Segments of the current version (0 without one). */
  segments: number;
  /** Acknowledged writes this server holds that no version contains yet (read-your-writes tail). */
  tail: TailView | null;
  served: { version: number; records: number } | null;
  ledger: LedgerCounts;
  /** Age of the oldest pending delta in ms (0: nothing pending). */
  freshnessLagMs: number;
  lease: LeaseView | null;
  lastRun: RunSummary | null;
  recall: RecallView | null;
}

/** Acknowledged writes a server holds that no published version contains yet (its read-your-writes tail). */
export interface TailView {
  records: number;
  deltas: number;
  /** Memory the tail's rows take. */
  bytes: number;
  /** Age of its oldest write (0: empty). */
  ageMs: number;
}

export interface Overview {
  store: string;
  now: number;
  writesEnabled: boolean;
  readsNeedToken: boolean;
  recallSample: number;
  collections: OverviewCollection[];
  totals: LedgerCounts & { collections: number; records: number };
}

export interface VersionView {
  version: number;
  current: boolean;
  /** Still reachable (current or retained by the pointer): a rollback target. */
  retained: boolean;
  snapshot: string | null;
  publishedAt: string | null;
  retiredAt?: string;
  run: string | null;
  records: number | null;
  /** How it came to be: publish, merge, rollback (of `restores`). */
  build: string | null;
  restores?: number;
  parentVersion: number | null;
  /** Deltas this version promoted (its run's), and the operations they held. */
  promotedDeltas: number | null;
  /** Bytes of the segments it lists (shared with other versions). */
  bytes: number | null;
  segments?: number;
}

/** One segment of the current version. */
export interface SegmentView {
  segment: string;
  rows: number;
  /** Rows of this segment a newer segment replaced or deleted. */
  superseded: number;
  bytes: number;
  indexed: boolean;
}

export interface CollectionDetail {
  collection: string;
  chroma: {
    tenant: string;
    database: string;
    name: string;
    id: string;
    metadata: Record<string, unknown> | null;
  };
  config: {
    dimension: number;
    metric: string;
    quantization: string;
    connectivity: number;
    expansionAdd: number;
    expansionSearch: number;
    createdAt: string;
  } | null;
  current: {
    version: number;
    snapshot: string;
    records: number;
    publishedAt: string;
    run: string;
    contentHash: string;
    bytes: number;
    indexed: boolean;
    build: string | null;
  } | null;
  served: { version: number; records: number; openMs: number } | null;
  /** This server's tail of unpublished writes (null: read-your-writes off). */
  tail: TailView | null;
  ledger: LedgerCounts;
  freshnessLagMs: number;
  lease: LeaseView | null;
  versions: VersionView[];
  /** The segments of the current version: rows, superseded rows, bytes, indexed or searched exactly. */
  segments?: SegmentView[];
  /** Merges the merge policy asks for on the current version. */
  pendingMerges?: number;
  recall: RecallView | null;
  writesEnabled: boolean;
}

export interface StepView {
  step: string;
  kind: string;
  index: number;
  status: 'running' | 'succeeded' | 'failed';
  submittedAt: string;
  startedAt?: string;
  finishedAt?: string;
  ms?: number;
  attempts: number;
  worker?: string;
  inputs: number;
  records?: number;
  build?: string;
  rejected?: number;
  error?: WireError;
  retries?: WireError[];
}

export interface RunDetail extends RunSummary {
  owner: string;
  failures: Array<{ step: string; error: WireError }>;
  /** From the step journal, plus the publish derived from the run record; empty for runs without one. */
  steps: StepView[];
  /** Whether the run wrote a step journal (runs of older servers did not). */
  journal: boolean;
}

export interface DeltaView {
  seqStart: number;
  seqEnd: number;
  count: number;
  state: DeltaState;
  acceptedAt: string;
  producer: string;
  source?: string;
  key: string;
  size: number;
  version?: number;
  run?: string;
  quarantine?: {
    code: string;
    message: string;
    file?: string;
    chunk?: number;
    at?: string;
    context?: Record<string, unknown>;
  };
}

export interface DeltaPage {
  collection: string;
  total: number;
  /** Matching the filter (before paging). */
  matching: number;
  counts: LedgerCounts;
  offset: number;
  limit: number;
  deltas: DeltaView[];
}

export interface SearchRequest {
  id?: string;
  vector?: number[];
  k?: number;
  where?: Record<string, unknown>;
  where_document?: Record<string, unknown>;
  /** Also answer exactly and report recall@k of the normal answer. */
  checkRecall?: boolean;
}

export interface SearchHitView {
  id: string;
  distance: number;
  document: string | null;
  metadata: Record<string, unknown> | null;
}

export interface SearchResponse {
  collection: string;
  version: number | null;
  k: number;
  strategy: string | null;
  ms: number;
  results: SearchHitView[];
  exact?: { ids: string[]; distances: number[]; ms: number };
  recall?: number;
}

export interface SeriesPoint {
  t: number;
  collections: Record<
    string,
    {
      qps: number;
      p50: number | null;
      p95: number | null;
      p99: number | null;
      swaps: number;
      compactions: number;
      compactionSeconds: number | null;
      recall: number | null;
    }
  >;
}

export interface Series {
  everyMs: number;
  points: SeriesPoint[];
}

export interface RecallReport {
  sample: number;
  threshold: number;
  queue: { length: number; limit: number; dropped: number };
  collections: Record<string, RecallView>;
}

export type ConsoleEvent =
  | { type: 'hello'; at: number }
  | { type: 'run'; run: RunSummary }
  | { type: 'step'; collection: string; run: string; step: StepView }
  | { type: 'swap'; collection: string; from: number | null; to: number | null }
  | { type: 'ledger'; collection: string }
  | { type: 'recall'; collection: string; recall: RecallView };
