/**
 * Recall watch (`strata serve --recall-sample 0.01`): a fraction of live queries is re-run exactly in the
 * background and recall@k of the answer the client got is kept per collection (mean over the last
 * `window` samples), with an alert state while it is below `alertBelow`.
 *
 * Deliberately narrow, so that it survives the query layer's rework: a sample is the ids the client got
 * (best first) and a function that answers the same query exactly. Off the request path: a request only
 * decides whether to sample (one random number) and enqueues; samples run one per turn of the event loop
 * after pending I/O (setImmediate), and the queue is bounded (a full queue drops the sample and counts it).
 */

export interface RecallSample {
  collection: string;
  k: number;
  /** The ids the client was answered with, best first. */
  approximate: readonly string[];
  /**
   * Answers the same query exactly (ids, best first; at most k). null: the answer already was exact
   * (the planner searched every matching vector), so its recall is 1 by construction.
   */
  exact: (() => readonly string[]) | null;
  /** Called exactly once when the sample is done or dropped (releases what it holds, e.g. a snapshot). */
  release?: () => void;
}

export interface RecallState {
  recall: number | null;
  window: number;
  samples: number;
  alert: boolean;
  threshold: number;
  k: number | null;
}

export interface RecallWatchOptions {
  /** Fraction of queries to re-run, 0..1 (0: off). */
  sample: number;
  /** Alert while the windowed recall is below this (default 0.95). */
  alertBelow?: number;
  /** Samples the mean is taken over (default 200). */
  window?: number;
  /** No alert before this many samples are in the window (default 10). */
  minSamples?: number;
  /** Samples waiting at most (default 64). */
  queueLimit?: number;
  random?: () => number;
  onUpdate?: (collection: string, state: RecallState) => void;
  onDrop?: () => void;
}

/** |approximate ∩ exact| / |exact| (1 when the exact answer is empty: nothing could be missed). */
export function recallAtK(approximate: readonly string[], exact: readonly string[], k: number): number {
  const truth = exact.slice(0, k);
  if (truth.length === 0) return 1;
  const got = new Set(approximate.slice(0, k));
  let hit = 0;
  for (const id of truth) if (got.has(id)) hit++;
  return hit / truth.length;
}

class Window {
  readonly #values: number[] = [];
  #sum = 0;
  samples = 0;
  k: number | null = null;
  constructor(readonly size: number) {}
  push(v: number, k: number): void {
    this.#values.push(v);
    this.#sum += v;
    if (this.#values.length > this.size) this.#sum -= this.#values.shift()!;
    this.samples++;
    this.k = k;
  }
  get length(): number {
    return this.#values.length;
  }
  get mean(): number | null {
    return this.#values.length ? this.#sum / this.#values.length : null;
  }
}

export class RecallWatch {
  readonly sample: number;
  readonly threshold: number;
  readonly queueLimit: number;
  readonly #opts: RecallWatchOptions;
  readonly #windows = new Map<string, Window>();
  readonly #queue: RecallSample[] = [];
  #scheduled: NodeJS.Immediate | undefined;
  #closed = false;
  dropped = 0;

  constructor(opts: RecallWatchOptions) {
    if (!(opts.sample >= 0 && opts.sample <= 1)) throw new RangeError('recall sample must be in 0..1');
    this.sample = opts.sample;
    this.threshold = opts.alertBelow ?? 0.95;
    this.queueLimit = opts.queueLimit ?? 64;
    this.#opts = opts;
  }

  get enabled(): boolean {
    return this.sample > 0 && !this.#closed;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** Whether to sample this query (decide before building the sample: most queries are not sampled). */
  wants(): boolean {
    return this.enabled && (this.#opts.random ?? Math.random)() < this.sample;
  }

  /** Enqueues a sample; false (and released) when the watch is off or its queue is full. */
  offer(s: RecallSample): boolean {
    if (!this.enabled || this.#queue.length >= this.queueLimit) {
      if (this.enabled) {
        this.dropped++;
        this.#opts.onDrop?.();
      }
      s.release?.();
      return false;
    }
    this.#queue.push(s);
    this.#schedule();
    return true;
  }

  /** Records one measured recall (also how tests and the playground's "check recall" feed it). */
  record(collection: string, k: number, recall: number): void {
    let w = this.#windows.get(collection);
    if (!w) {
      w = new Window(this.#opts.window ?? 200);
      this.#windows.set(collection, w);
    }
    w.push(recall, k);
    this.#opts.onUpdate?.(collection, this.state(collection)!);
  }

  state(collection: string): RecallState | undefined {
    const w = this.#windows.get(collection);
    if (!w) return undefined;
    const mean = w.mean;
    return {
      recall: mean,
      window: w.length,
      samples: w.samples,
      alert: mean !== null && w.length >= (this.#opts.minSamples ?? 10) && mean < this.threshold,
      threshold: this.threshold,
      k: w.k,
    };
  }

  states(): Record<string, RecallState> {
    return Object.fromEntries([...this.#windows.keys()].sort().map((c) => [c, this.state(c)!]));
  }

  /** A collection is gone: forget its window. */
  forget(collection: string): void {
    this.#windows.delete(collection);
  }

  #schedule(): void {
    if (this.#scheduled || this.#queue.length === 0 || this.#closed) return;
    this.#scheduled = setImmediate(() => {
      this.#scheduled = undefined;
      const s = this.#queue.shift();
      if (s) this.#process(s);
      this.#schedule();
    });
  }

  #process(s: RecallSample): void {
    try {
      const exact = s.exact ? s.exact() : s.approximate;
      this.record(s.collection, s.k, recallAtK(s.approximate, exact, s.k));
    } catch {
      // the snapshot went away or the query cannot be answered exactly: no measurement
    } finally {
      s.release?.();
    }
  }

  /** Stops sampling and releases whatever is still queued. */
  close(): void {
    this.#closed = true;
    if (this.#scheduled) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    for (const s of this.#queue.splice(0)) s.release?.();
  }
}
