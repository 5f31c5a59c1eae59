/**
 * `strata/testing`: what programs built on Strata need for their own tests — an ObjectStore wrapper that
 * injects the failures real stores and networks produce (seeded, so a failing test replays), and
 * deterministic synthetic records and change batches. Not part of the main entry.
 */
export {
  type ChangeMix,
  type GenerateChangesOptions,
  type GenerateRecordsOptions,
  generateChanges,
  generateRecords,
} from '../workload/synthetic.js';
export {
  FAULT_KINDS,
  type FaultKind,
  type FaultProbabilities,
  type FaultStats,
  type FaultyOp,
  FaultyStore,
  type FaultyStoreOptions,
} from './faulty-store.js';
