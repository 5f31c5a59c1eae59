/** What the campaign and its compactor processes (compactor-child.ts) exchange. */
import type { SerializedError } from '../../src/core/errors.js';
import type { CompactReport } from '../../src/pipeline/compact.js';
import type { LeaseTakeover } from '../../src/pipeline/lease.js';
import type { FaultProbabilities, FaultStats } from '../../src/testing/faulty-store.js';

export const RESULT_PREFIX = '@@torture-result ';

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
}

/** A producer: accepts one delta of the operations in `opsFile` (JSON, embeddings as number arrays). */
export interface ProducerJob {
  mode: 'ingest';
  store: string;
  collection: string;
  opsFile: string;
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
