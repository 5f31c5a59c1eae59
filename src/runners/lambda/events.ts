/**
 * The events and results of the serverless handlers: what the state machine passes between steps. Keys,
 * hashes and small descriptors only — never data (Step Functions caps a state at 256 KB).
 */
import type { Versioned } from '../../pipeline/json-object.js';
import type { Pointer } from '../../pipeline/pointer.js';
import type { GroupOutcome, LeaseHandle, Promotion, RunOptions } from '../../pipeline/run.js';
import type { ChunkTask, StepResult } from '../../pipeline/steps.js';

export type { GroupOutcome, LeaseHandle };

/** The execution's input. */
export interface PlanEvent extends RunOptions {
  /** The store every handler opens, as openStore takes it (s3://bucket/prefix on AWS; a directory locally). */
  storeSpec: string;
  collection: string;
  /** Lease time-to-live: must cover the whole execution (no heartbeats between Lambda invocations). Default 30 min. */
  leaseTtlMs?: number;
}

/** The execution's state after Plan; later steps add their results to it. */
export interface RunState {
  storeSpec: string;
  collection: string;
  run: string;
  lease: LeaseHandle;
  retain: number;
  finalAttempts: number;
}

export interface PlanResult extends RunState {
  /** True when nothing is pending (the execution ends right away). */
  empty: boolean;
  deltas: number;
  groups: Array<{ index: number; chunks: ChunkTask[] }>;
}

export interface ChunkEvent {
  storeSpec: string;
  task: ChunkTask;
}

export interface GroupEvent {
  storeSpec: string;
  collection: string;
  run: string;
  index: number;
  chunkResults: StepResult[];
}

/** A caught error as Step Functions passes it on: { Error, Cause }. */
export interface CaughtError {
  Error: string;
  Cause?: string;
}

export interface FinalEvent extends RunState {
  groupResults: GroupOutcome[];
  /** Present when the publish found the pointer moved and the final merge is being rebuilt. */
  final?: FinalOutcome;
  conflict?: CaughtError;
}

export interface FinalOutcome extends Pick<Promotion, 'promote' | 'quarantine' | 'groupsFailed'> {
  attempt: number;
  /** The pointer this snapshot was built on (null: first snapshot), with its etag for the CAS. */
  base: Versioned<Pointer> | null;
  /** Null when no group produced anything to publish. */
  result: StepResult | null;
}

export interface PublishEvent extends FinalEvent {
  final: FinalOutcome;
}

export interface PublishResult {
  status: 'published' | 'nothing-to-do';
  snapshot: { version: number; prefix: string; count: number; contentHash: string } | null;
  promoted: number;
  quarantined: number[];
  groupsFailed: number;
}

export interface AbortEvent extends Partial<RunState> {
  error?: CaughtError;
}
