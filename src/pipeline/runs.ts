import type { SerializedError } from '../core/errors.js';
import type { ObjectStore } from '../store/index.js';
import { readJson, writeJson } from './json-object.js';
import { Keys } from './layout.js';

/** A record of one compaction run, for operators (`strata status`, /strata/v1/runs/{id}). Not the ledger. */
export interface RunRecord {
  run: string;
  collection: string;
  /** compact (default): deltas → a new version; merge: segments of a version → fewer segments. */
  kind?: 'compact' | 'merge';
  status: 'running' | 'succeeded' | 'failed' | 'nothing-to-do';
  owner: string;
  token: number;
  startedAt: string;
  finishedAt?: string;
  /** seqStart of every delta the run planned to compact. */
  deltas: number[];
  chunks: number;
  groups: number;
  groupsSucceeded?: number;
  groupsFailed?: number;
  quarantined?: number[];
  snapshot?: {
    version: number;
    prefix: string;
    count: number;
    contentHash: string;
    build?: string;
    segments?: number;
    newBytes?: number;
  };
  /** merge runs: each merge's inputs (segment addresses) and what became of it. */
  merges?: Array<{
    inputs: string[];
    output?: string;
    version?: number;
    build?: string;
    ms?: number;
    dropped?: boolean;
  }>;
  timingsMs?: Record<string, number>;
  failures?: Array<{ step: string; error: SerializedError }>;
  error?: SerializedError;
}

export async function writeRunRecord(store: ObjectStore, r: RunRecord): Promise<void> {
  await writeJson(store, Keys.runRecord(r.collection, r.run), r);
}

export async function readRunRecord(
  store: ObjectStore,
  collection: string,
  run: string,
): Promise<RunRecord | undefined> {
  return (await readJson<RunRecord>(store, Keys.runRecord(collection, run)))?.value;
}

export async function listRuns(store: ObjectStore, collection: string, limit = 20): Promise<RunRecord[]> {
  const keys = (await store.list(Keys.runsPrefix(collection)))
    .filter((o) => o.key.endsWith('/run.json'))
    .map((o) => o.key)
    .sort()
    .reverse()
    .slice(0, limit);
  const out: RunRecord[] = [];
  for (const k of keys) {
    const r = await readJson<RunRecord>(store, k);
    if (r) out.push(r.value);
  }
  return out;
}

/** Sortable, unique run ids: r20261127T021500Z-3f9a1c. */
export function newRunId(now = new Date()): string {
  const ts = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `r${ts}-${Math.random().toString(16).slice(2, 8)}`;
}
