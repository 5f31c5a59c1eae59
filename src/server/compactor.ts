/**
 * Compaction in the background of `strata serve --compact-every`: every interval, each collection with
 * pending deltas is compacted under its lease (a collection whose lease another compactor holds is
 * skipped this round). Runs never overlap; the steps run in the executor's worker processes so queries
 * keep their latency. After a publish the served version is refreshed at once.
 *
 * Merges run beside compaction, not in it: after a publish, the merges the policy asks for start in their
 * own executor (one merge run per collection at a time) without the lease, so a long merge never holds up
 * the next compaction; each merge takes the lease only to publish, onto whatever was published meanwhile.
 */
import { ErrorCodes, isStrataError, type StrataError, toStrataError, UsageError } from '../core/errors.js';
import { listCollections } from '../pipeline/collections.js';
import { type CompactEvent, type CompactReport, compact } from '../pipeline/compact.js';
import type { ExecutorFactory, StepExecutor } from '../pipeline/executor.js';
import { readLedger } from '../pipeline/ledger.js';
import { type MergeReport, mergeCollection } from '../pipeline/merges.js';
import type { ObjectStore } from '../store/index.js';

export interface CompactorOptions {
  /** Run every this many ms (0 or undefined: only on demand). */
  everyMs?: number;
  leaseTtlMs?: number;
  /** Merge segments as the merge policy asks after each publish (default true). */
  merge?: boolean;
  onReport?: (r: CompactReport) => void;
  onMerge?: (collection: string, r: MergeReport) => void;
  /** Progress of each run (planned, steps, quarantines), as compact() reports it. */
  onEvent?: (collection: string, e: CompactEvent) => void;
  onError?: (collection: string, e: StrataError) => void;
}

export class BackgroundCompactor {
  readonly #store: ObjectStore;
  readonly #executor: ExecutorFactory | undefined;
  readonly #opts: CompactorOptions;
  #exec: StepExecutor | undefined;
  #mergeExec: StepExecutor | undefined;
  readonly #merging = new Map<string, Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;
  runs = 0;

  /** `executor` is called on first use; what it makes is closed by close(). Without it nothing compacts. */
  constructor(store: ObjectStore, executor: ExecutorFactory | undefined, opts: CompactorOptions = {}) {
    if (!executor && (opts.everyMs ?? 0) > 0)
      throw new UsageError('background compaction needs an executor factory');
    this.#store = store;
    this.#executor = executor;
    this.#opts = opts;
  }

  start(): void {
    const every = this.#opts.everyMs ?? 0;
    if (every <= 0 || this.#timer) return;
    this.#timer = setInterval(() => {
      void this.runOnce().catch(() => undefined);
    }, every);
    this.#timer.unref();
  }

  /** Compacts these collections (default: all) that have pending deltas; runs never overlap. */
  runOnce(collections?: string[]): Promise<CompactReport[]> {
    if (!this.#executor)
      return Promise.reject(
        new UsageError('this server compacts nothing: it was started without an executor factory'),
      );
    const run = this.#tail.then(() => this.#run(collections));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #run(only?: string[]): Promise<CompactReport[]> {
    const reports: CompactReport[] = [];
    if (this.#closed) return reports;
    for (const c of only ?? (await listCollections(this.#store))) {
      if (this.#closed) break;
      try {
        const ledger = await readLedger(this.#store, c);
        if (ledger.counts.pending === 0) continue;
        this.#exec ??= await this.#executor!();
        const r = await compact(this.#store, c, {
          executor: this.#exec,
          merge: 'none',
          onEvent: (e) => this.#opts.onEvent?.(c, e),
          // a merge of this server holds the lease only while it publishes: wait for that, not longer
          lease: { ...(this.#opts.leaseTtlMs ? { ttlMs: this.#opts.leaseTtlMs } : {}), waitMs: 5_000 },
        });
        this.runs++;
        reports.push(r);
        this.#opts.onReport?.(r);
        if (r.status === 'published' && this.#opts.merge !== false) this.#startMerges(c);
      } catch (e) {
        if (isStrataError(e, ErrorCodes.LEASE_HELD)) continue;
        const err = toStrataError(e, { collection: c });
        this.#opts.onError?.(c, err);
        if (only) throw err;
      }
    }
    return reports;
  }

  /** Merges the policy asks for, in the background (one merge run per collection at a time). */
  #startMerges(collection: string): void {
    if (this.#merging.has(collection) || this.#closed || !this.#executor) return;
    const run = (async () => {
      this.#mergeExec ??= await this.#executor!();
      const exec = this.#mergeExec;
      const r = await mergeCollection(
        this.#store,
        collection,
        { ttlMs: this.#opts.leaseTtlMs ?? 60_000, waitMs: 5 * (this.#opts.leaseTtlMs ?? 60_000) },
        { step: (t) => exec.run(t), mode: 'auto' },
      );
      if (r.run) this.#opts.onMerge?.(collection, r);
    })()
      .catch((e: unknown) => this.#opts.onError?.(collection, toStrataError(e, { collection })))
      .finally(() => this.#merging.delete(collection));
    this.#merging.set(collection, run);
  }

  /** Merge runs in progress, by collection. */
  get merging(): string[] {
    return [...this.#merging.keys()];
  }

  /** Stops the timer, waits for a running compaction and merges, closes the executors. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#tail;
    await Promise.all(this.#merging.values());
    await this.#exec?.close();
    await this.#mergeExec?.close();
  }
}
