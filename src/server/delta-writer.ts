/**
 * Writes over the API become deltas. Operations of concurrent requests to one collection are batched
 * into one delta — flushed when the batch reaches `maxOps` operations or `maxDelayMs` after its first
 * operation — and each request is answered only after the delta holding its operations was accepted
 * (data and descriptor durably written: the store fsyncs before put resolves). Deltas of a collection
 * are accepted one at a time, in request order. A request's operations never straddle two deltas.
 * The operations are pending until the next compaction publishes them (docs/architecture.md, "Order of
 * operations").
 *
 * A request is validated alone, before it joins a batch: one request the delta encoder would refuse is
 * refused by itself and never fails the requests batched with it, nor reserves sequence numbers. A batch
 * whose write fails after its reservation (the store refused it) is closed by acceptDelta with a tombstone,
 * so the deltas accepted after it are not held up.
 */
import { ErrorCodes, StrataError } from '../core/errors.js';
import type { CollectionConfig, Operation } from '../core/types.js';
import { validateStorableOperation } from '../ingest/index.js';
import { acceptDelta, type DeltaDescriptor } from '../pipeline/deltas.js';
import type { ObjectStore } from '../store/index.js';

export interface DeltaWriterOptions {
  /** Flush when a batch holds this many operations (default 5,000). */
  maxOps?: number;
  /** Flush at most this long after a batch's first operation (default 25 ms). */
  maxDelayMs?: number;
  /** Refuse (429) when this many operations are queued for one collection (default 100,000). */
  maxQueuedOps?: number;
  producer?: string;
  /**
   * Called once a delta is durably accepted, before any of its requests is answered (the query server's
   * tail makes its operations visible here).
   */
  onDelta?: (collection: string, d: DeltaDescriptor, ops: readonly Operation[]) => void;
}

interface Waiter {
  resolve: (d: DeltaDescriptor) => void;
  reject: (e: unknown) => void;
}

interface Batch {
  ops: Operation[];
  waiters: Waiter[];
}

class CollectionQueue {
  readonly config: CollectionConfig;
  current: Batch = { ops: [], waiters: [] };
  timer: NodeJS.Timeout | undefined;
  /** The chain of accepted deltas: each flush starts after the previous one settled. */
  tail: Promise<void> = Promise.resolve();
  queued = 0;
  constructor(config: CollectionConfig) {
    this.config = config;
  }
}

export class DeltaWriter {
  readonly #store: ObjectStore;
  readonly #maxOps: number;
  readonly #maxDelayMs: number;
  readonly #maxQueued: number;
  readonly #producer: string;
  readonly #onDelta: DeltaWriterOptions['onDelta'];
  readonly #queues = new Map<string, CollectionQueue>();
  #closed = false;

  constructor(store: ObjectStore, opts: DeltaWriterOptions = {}) {
    this.#store = store;
    this.#maxOps = opts.maxOps ?? 5_000;
    this.#maxDelayMs = opts.maxDelayMs ?? 25;
    this.#maxQueued = opts.maxQueuedOps ?? 100_000;
    this.#producer = opts.producer ?? `strata-serve@${process.pid}`;
    this.#onDelta = opts.onDelta;
  }

  /** Queues validated operations; resolves with the accepted delta that holds them. */
  write(config: CollectionConfig, ops: Operation[]): Promise<DeltaDescriptor> {
    if (this.#closed)
      return Promise.reject(new StrataError(ErrorCodes.CLOSED, 'the server is shutting down'));
    if (ops.length === 0) {
      return Promise.reject(
        new StrataError(ErrorCodes.DELTA_EMPTY, 'no operations', { collection: config.name }),
      );
    }
    try {
      for (const [i, o] of ops.entries()) {
        validateStorableOperation(o, config.dimension, { collection: config.name, row: i });
      }
    } catch (e) {
      return Promise.reject(e);
    }
    let q = this.#queues.get(config.name);
    if (
      q === undefined ||
      q.config.dimension !== config.dimension ||
      q.config.createdAt !== config.createdAt
    ) {
      q = new CollectionQueue(config);
      this.#queues.set(config.name, q);
    }
    if (q.queued + ops.length > this.#maxQueued) {
      return Promise.reject(
        new StrataError(ErrorCodes.BACKPRESSURE, `${q.queued} operations are already queued; retry later`, {
          collection: config.name,
        }),
      );
    }
    if (q.current.ops.length > 0 && q.current.ops.length + ops.length > this.#maxOps) this.#flush(q);
    const batch = q.current;
    const promise = new Promise<DeltaDescriptor>((resolve, reject) =>
      batch.waiters.push({ resolve, reject }),
    );
    for (const op of ops) batch.ops.push(op);
    q.queued += ops.length;
    if (q.current.ops.length >= this.#maxOps) this.#flush(q);
    else q.timer ??= setTimeout(() => this.#flush(q), this.#maxDelayMs);
    return promise;
  }

  #flush(q: CollectionQueue): void {
    if (q.timer) clearTimeout(q.timer);
    q.timer = undefined;
    const batch = q.current;
    if (batch.ops.length === 0) return;
    q.current = { ops: [], waiters: [] };
    q.tail = q.tail.then(async () => {
      try {
        const d = await acceptDelta(this.#store, q.config, batch.ops, {
          producer: this.#producer,
          source: 'chroma-api',
        });
        this.#onDelta?.(q.config.name, d, batch.ops);
        for (const w of batch.waiters) w.resolve(d);
      } catch (e) {
        for (const w of batch.waiters) w.reject(e);
      } finally {
        q.queued -= batch.ops.length;
      }
    });
  }

  /** Flushes everything queued and waits for it; later writes are refused. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const q of this.#queues.values()) this.#flush(q);
    await Promise.all([...this.#queues.values()].map((q) => q.tail));
  }
}
