import type { ObjectStore } from '../store/index.js';
import type { Access, TokenAuth } from './auth.js';
import type { Catalog } from './catalog.js';
import type { BackgroundCompactor } from './compactor.js';
import type { ConsoleServices } from './console/services.js';
import type { DeltaWriter } from './delta-writer.js';
import type { ServerMetrics } from './metrics.js';
import type { RecallWatch } from './recall-watch.js';
import type { ServedSnapshot } from './served-snapshot.js';
import type { SnapshotSet } from './snapshots.js';
import type { Tails } from './tails.js';

/** What the route modules share: owned and closed by StrataServer. */
export interface ServerContext {
  store: ObjectStore;
  catalog: Catalog;
  snapshots: SnapshotSet;
  /** Read-your-writes (undefined: reads see a write only once a version contains it). */
  tails: Tails | undefined;
  writer: DeltaWriter;
  auth: TokenAuth;
  metrics: ServerMetrics;
  compactor: BackgroundCompactor;
  limits: { maxBatchSize: number; maxResults: number };
  recall: RecallWatch;
  console: ConsoleServices;
}

export type { Access };

/**
 * A reference on the collection's current snapshot (loading it on first use), or undefined when the
 * collection has no published snapshot yet. The caller must release() it.
 */
export async function acquireCurrent(
  ctx: ServerContext,
  strata: string,
): Promise<ServedSnapshot | undefined> {
  await ctx.snapshots.get(strata);
  // Taken synchronously after the await: a swap that happened meanwhile is honoured, never a retired one.
  return ctx.snapshots.current(strata)?.acquire();
}
