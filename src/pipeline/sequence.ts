import { PreconditionFailedError, StoreError } from '../core/errors.js';
import { withRetry } from '../core/retry.js';
import type { ObjectStore } from '../store/index.js';
import { readJson, writeJson } from './json-object.js';
import { Keys } from './layout.js';

/** A reservation of the sequence space: [start, start + count - 1], made at `at` (ms since the epoch). */
export type Allocation = [start: number, count: number, at: number];

export interface Counter {
  next: number;
  /**
   * Recent reservations (the last hour, at most MAX_RECENT): the planner tells a reservation whose delta is
   * still being written (in flight: later deltas must wait for it) from one abandoned by a crash.
   */
  recent?: Allocation[];
}

const RECENT_MS = 60 * 60_000;
const MAX_RECENT = 5_000;

/**
 * Reserves `count` consecutive sequence numbers for a collection by compare-and-swap on its counter
 * object. Numbers are never handed out twice; a crash after the swap only leaves a gap.
 */
export async function allocateSequence(
  store: ObjectStore,
  collection: string,
  count: number,
): Promise<number> {
  const key = Keys.counter(collection);
  return withRetry(
    async () => {
      const cur = await readJson<Counter>(store, key);
      const start = cur?.value.next ?? 1;
      const now = Date.now();
      const recent = (cur?.value.recent ?? []).filter((a) => now - a[2] < RECENT_MS).slice(-(MAX_RECENT - 1));
      recent.push([start, count, now]);
      await writeJson(
        store,
        key,
        { next: start + count, recent } satisfies Counter,
        cur ? { ifMatch: cur.etag } : { ifNoneMatch: '*' },
      );
      return start;
    },
    {
      attempts: 50,
      baseMs: 5,
      maxMs: 500,
      retryable: (e) => e instanceof PreconditionFailedError || (e instanceof StoreError && e.transient),
    },
  );
}

export async function readCounter(store: ObjectStore, collection: string): Promise<Counter> {
  return (await readJson<Counter>(store, Keys.counter(collection)))?.value ?? { next: 1 };
}
