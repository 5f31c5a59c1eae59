/**
 * The events and results of the serverless handlers: what the state machine passes between steps. Keys,
 * hashes and small descriptors only — never data (Step Functions caps a state at 256 KB).
 */
import type { Versioned } from '../../pipeline/json-object.js';
import type { MergePolicyOptions } from '../../pipeline/merge-policy.js';
import type { MergeMode, MergePlan, MergeReport } from '../../pipeline/merges.js';
import type { Pointer } from '../../pipeline/pointer.js';
import type { GroupOutcome, LeaseHandle, Promotion, RunOptions } from '../../pipeline/run.js';
import type { ChunkTask, MergeTask, StepResult } from '../../pipeline/steps.js';

export type { GroupOutcome, LeaseHandle };

/** The execution's input. */
export interface PlanEvent extends RunOptions {
  /** The store every handler opens, as openStore takes it (s3://bucket/prefix on AWS; a directory locally). */
  storeSpec: string;
  collection: string;
  /**
   * Lease time-to-live: must cover the whole execution, merges included (no heartbeats between Lambda
   * invocations). Default 30 min.
   */
  leaseTtlMs?: number;
  /**
   * After the publish: merge segments as the merge policy asks (auto, the default), not at all (none), or
   * down to one segment (all). The merges run as steps of the same execution, under its lease.
   */
  merge?: MergeMode;
  mergePolicy?: Partial<MergePolicyOptions>;
}

/** The execution's state after Plan; later steps add their results to it. */
export interface RunState {
  storeSpec: string;
  collection: string;
  run: string;
  lease: LeaseHandle;
  retain: number;
  finalAttempts: number;
  merge: MergeMode;
  mergePolicy?: Partial<MergePolicyOptions>;
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
  /**
   * True: the merge phase follows (PlanMerges), still under the lease; false: nothing published or
   * `merge: 'none'`, and Publish released the lease.
   */
  mergesNext: boolean;
  /** What the merge phase did (set by PublishMerges; absent when it planned nothing). */
  merges?: MergeReport;
}

/** The state after Publish: PlanMerges plans the merges on the version just published. */
export interface PlanMergesEvent extends PublishEvent {
  published: PublishResult;
}

/** The merge run PlanMerges began (`run` null and no tasks: nothing to merge, the lease is released). */
export interface MergePlanResult {
  run: string | null;
  base: MergePlan['base'] | null;
  tasks: MergeTask[];
  count: number;
}

export interface MergeStepEvent {
  storeSpec: string;
  task: MergeTask;
}

/** One merge step's outcome as the Merges map collects it (MergeFailed passes a caught error on). */
export type MergeStepOutcome =
  | { ok: true; index: number; result: StepResult }
  | { ok: false; index: number; error?: string; cause?: string };

export interface PublishMergesEvent extends PlanMergesEvent {
  merging: MergePlanResult;
  mergeResults: MergeStepOutcome[];
}

export interface AbortEvent extends Partial<RunState> {
  error?: CaughtError;
  /** Present when Publish ended (the run record is final then: the failure is the merge phase's). */
  published?: PublishResult;
  /** Present when PlanMerges began a merge run: its record records the failure. */
  merging?: MergePlanResult;
}
