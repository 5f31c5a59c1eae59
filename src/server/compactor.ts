/**
 * Compaction in the background of `strata serve --compact-every`: every interval, each collection with
 * pending deltas is compacted under its lease (a collection whose lease another compactor holds is
 * skipped this round). Runs never overlap; the steps run in the executor's worker processes so queries
 * keep their latency. After a publish the served snapshot is refreshed at once.
 */
import { ErrorCodes, isStrataError, type StrataError, toStrataError } from '../core/errors.js';
import { listCollections } from '../pipeline/collections.js';
import { type CompactEvent, type CompactReport, compact } from '../pipeline/compact.js';
import type { StepExecutor } from '../pipeline/executor.js';
import { readLedger } from '../pipeline/ledger.js';
import type { ObjectStore } from '../store/object-store.js';

export interface CompactorOptions {
  /** Run every this many ms (0 or undefined: only on demand). */
  everyMs?: number;
  leaseTtlMs?: number;
  onReport?: (r: CompactReport) => void;
  /** Progress of each run (planned, steps, quarantines), as compact() reports it. */
  onEvent?: (collection: string, e: CompactEvent) => void;
  onError?: (collection: string, e: StrataError) => void;
}

export class BackgroundCompactor {
  readonly #store: ObjectStore;
  readonly #executor: () => StepExecutor;
  readonly #opts: CompactorOptions;
  #exec: StepExecutor | undefined;
  #timer: NodeJS.Timeout | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;
  runs = 0;

  /** `executor` is created on first use and closed by close(). */
  constructor(store: ObjectStore, executor: () => StepExecutor, opts: CompactorOptions = {}) {
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
        this.#exec ??= this.#executor();
        const r = await compact(this.#store, c, {
          executor: this.#exec,
          onEvent: (e) => this.#opts.onEvent?.(c, e),
          ...(this.#opts.leaseTtlMs ? { lease: { ttlMs: this.#opts.leaseTtlMs } } : {}),
        });
        this.runs++;
        reports.push(r);
        this.#opts.onReport?.(r);
      } catch (e) {
        if (isStrataError(e, ErrorCodes.LEASE_HELD)) continue;
        const err = toStrataError(e, { collection: c });
        this.#opts.onError?.(c, err);
        if (only) throw err;
      }
    }
    return reports;
  }

  /** Stops the timer, waits for a running compaction, closes the executor. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#tail;
    await this.#exec?.close();
  }
}
