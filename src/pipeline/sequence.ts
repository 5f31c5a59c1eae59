import { PreconditionFailedError, StoreError } from '../core/errors.js';
import { withRetry } from '../core/retry.js';
import type { ObjectStore } from '../store/object-store.js';
import { readJson, writeJson } from './json-object.js';
import { Keys } from './layout.js';

interface Counter {
  next: number;
}

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
      await writeJson(
        store,
        key,
        { next: start + count } satisfies Counter,
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
