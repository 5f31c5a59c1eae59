/** What the campaign and its compactor processes (compactor-child.ts) exchange. */
import type { SerializedError } from '../../src/core/errors.js';
import type { CompactReport } from '../../src/pipeline/compact.js';
import type { LeaseTakeover } from '../../src/pipeline/lease.js';
import type { FaultProbabilities, FaultStats } from '../../src/testing/faulty-store.js';

export const RESULT_PREFIX = '@@torture-result ';
/** A line a traced child prints as it goes (power-loss episodes): what it is doing, or what it acknowledged. */
export const EVENT_PREFIX = '@@torture-event ';

/** Events of a traced child: a stage begins or ends; a producer's delta is acknowledged (acceptDelta returned). */
export type ChildEvent =
  | { stage: TracedStage; phase: 'begin' | 'end' }
  | { ack: { index: number; seqStart: number; seqEnd: number } };
/** Where a traced child can be: ingest (inside acceptDelta), a compaction's steps, its publish, a GC. */
export type TracedStage = 'ingest' | 'plan' | 'chunk' | 'group' | 'final' | 'merge' | 'publish' | 'gc';

export interface CompactorJob {
  mode?: 'compact';
  store: string;
  collection: string;
  executor: 'inline' | 'local';
  concurrency: number;
  chunkSize: number;
  groupSize: number;
  leaseTtlMs: number;
  owner: string;
  /** How long to keep waiting for a lease held by another compactor. */
  leaseWaitMs: number;
  faults?: { seed: number; probabilities: FaultProbabilities; slowMs: number; timeoutMs: number };
  /** Environment for the local pool's workers (their failpoints). */
  workerEnv?: Record<string, string>;
  /** Print stage events (EVENT_PREFIX): plan, each step's begin and end, publish. */
  trace?: boolean;
  /** A reservation younger than this without its delta is in flight (default 0: producers are done). */
  inFlightMs?: number;
}

/** A producer: accepts one delta of the operations in `opsFile` (JSON, embeddings as number arrays). */
export interface ProducerJob {
  mode: 'ingest';
  store: string;
  collection: string;
  opsFile: string;
}

/**
 * A producer of several deltas, one after the other: `opsFile` holds an array of deltas (each an array of
 * operations); each acknowledged one is an `ack` event, each acceptDelta call an `ingest` stage. Its
 * producer name is written into every descriptor, so a delta that became durable unacknowledged is known.
 */
export interface ProducerManyJob {
  mode: 'ingest-many';
  store: string;
  collection: string;
  opsFile: string;
  producer: string;
}

/** One garbage collection of a collection (stage events `gc`). */
export interface GcJob {
  mode: 'gc';
  store: string;
  collection: string;
  graceMs: number;
}

export interface CompactorOutcome {
  ok: boolean;
  /** Producer jobs: the accepted delta. */
  accepted?: { seqStart: number; seqEnd: number };
  report?: Pick<CompactReport, 'run' | 'status' | 'deltas' | 'promoted' | 'snapshot'> & {
    quarantined: number;
  };
  error?: SerializedError;
  faults?: FaultStats;
  retries: number;
  /** Every lease the compactor acquired, in order (the last one is the publishing one, if it published). */
  leases?: Array<{ token: number; takeover?: LeaseTakeover }>;
}
