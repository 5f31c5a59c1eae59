/**
 * FaultyStore: wraps any ObjectStore and injects the failures a real object store (or network) produces,
 * driven by a seeded PRNG so a failing torture run can be replayed.
 *
 * Fault kinds (each with its own probability per eligible call):
 * - error        any call throws a transient StoreError before reaching the backend
 * - timeout      any call waits `timeoutMs`, then throws a transient StoreError; half of the time (by the
 *                PRNG) the backend call was made first (an ambiguous outcome, as with real timeouts)
 * - slow         any call waits `slowMs`, then proceeds normally
 * - partialPut   put/putFile throw a transient StoreError and the backend never sees the object (a real
 *                backend never exposes a partial object; the upload simply did not happen)
 * - listMiss     list drops one random key among those this wrapper wrote in the last `listMissWindowMs`
 *                (eventually consistent listings)
 * - lostResponse a put/putFile WITH a precondition succeeds on the backend, then throws a transient
 *                StoreError to the caller (the caller must find out by reading what happened)
 *
 * Faults are checked in that order; at most one throwing fault per call. `keyPattern` limits faults to
 * matching keys (a list matches by its prefix). `enable(false)` turns everything off; `stats()` counts.
 * With consume, a fault thrown before the backend call leaves the caller's file where it was.
 */

import { StoreError } from '../core/errors.js';
import { type Rng, rng } from '../core/random.js';
import { delay } from '../core/retry.js';
import type { ObjectInfo, ObjectStore, PutFileOptions, PutOptions } from '../store/index.js';

export const FAULT_KINDS = ['error', 'timeout', 'slow', 'partialPut', 'listMiss', 'lostResponse'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export type FaultProbabilities = Partial<Record<FaultKind, number>>;
export type FaultStats = Record<FaultKind, number>;

export interface FaultyStoreOptions {
  /** PRNG seed (default 1). */
  seed?: number;
  /** Probability per eligible call, 0..1 (default 0 for every kind). */
  probabilities?: FaultProbabilities;
  /** Delay of a `slow` call (default 50 ms). */
  slowMs?: number;
  /** Delay before a `timeout` throws (default 200 ms). */
  timeoutMs?: number;
  /** How recent a write must be for `listMiss` to hide it (default 1000 ms). */
  listMissWindowMs?: number;
  /** Only keys (and list prefixes) matching this pattern get faults (default: all). */
  keyPattern?: RegExp;
  /** Start enabled (default true). */
  enabled?: boolean;
  /**
   * Called at the start of every call, enabled or not, before any fault (the torture campaign uses it to
   * kill the S3 server while the n-th upload is in flight).
   */
  onCall?: (op: FaultyOp, key: string) => void;
}

export type FaultyOp = 'get' | 'getObject' | 'head' | 'put' | 'putFile' | 'getToFile' | 'list' | 'delete';
type Op = FaultyOp;

function zeroStats(): FaultStats {
  return { error: 0, timeout: 0, slow: 0, partialPut: 0, listMiss: 0, lostResponse: 0 };
}

export class FaultyStore implements ObjectStore {
  readonly kind: string;
  readonly url: string;
  readonly inner: ObjectStore;
  /** Present when the wrapped store has it (no faults: it only computes a path). */
  readonly localPath?: (key: string) => string | undefined;
  /** Present when the wrapped store has it. */
  readonly scratchDir?: () => string;
  #rng: Rng;
  #p: Record<FaultKind, number>;
  #enabled: boolean;
  #stats: FaultStats = zeroStats();
  readonly #slowMs: number;
  readonly #timeoutMs: number;
  readonly #windowMs: number;
  readonly #pattern: RegExp | undefined;
  readonly #onCall: FaultyStoreOptions['onCall'];
  /** key → time of the last successful write through this wrapper (for listMiss). */
  readonly #recent = new Map<string, number>();

  constructor(inner: ObjectStore, opts: FaultyStoreOptions = {}) {
    this.inner = inner;
    this.kind = `faulty(${inner.kind})`;
    this.url = inner.url;
    this.#rng = rng(opts.seed ?? 1);
    this.#p = { ...zeroStats(), ...opts.probabilities };
    this.#enabled = opts.enabled ?? true;
    this.#slowMs = opts.slowMs ?? 50;
    this.#timeoutMs = opts.timeoutMs ?? 200;
    this.#windowMs = opts.listMissWindowMs ?? 1000;
    this.#pattern = opts.keyPattern;
    this.#onCall = opts.onCall;
    if (inner.localPath) {
      const lp = inner.localPath.bind(inner);
      this.localPath = (key: string) => lp(key);
    }
    if (inner.scratchDir) {
      const sd = inner.scratchDir.bind(inner);
      this.scratchDir = () => sd();
    }
  }

  /** Injected faults so far, by kind. */
  stats(): FaultStats {
    return { ...this.#stats };
  }

  resetStats(): void {
    this.#stats = zeroStats();
  }

  enable(on = true): void {
    this.#enabled = on;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  setProbabilities(p: FaultProbabilities): void {
    this.#p = { ...this.#p, ...p };
  }

  get(key: string): Promise<Uint8Array> {
    return this.#call('get', key, () => this.inner.get(key));
  }

  getObject(key: string): Promise<{ body: Uint8Array; info: ObjectInfo }> {
    return this.#call('getObject', key, () => this.inner.getObject(key));
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.#call('head', key, () => this.inner.head(key));
  }

  put(key: string, body: Uint8Array | string, opts?: PutOptions): Promise<ObjectInfo> {
    return this.#call('put', key, () => this.#wrote(key, this.inner.put(key, body, opts)), conditional(opts));
  }

  putFile(key: string, path: string, opts?: PutFileOptions): Promise<ObjectInfo> {
    return this.#call(
      'putFile',
      key,
      () => this.#wrote(key, this.inner.putFile(key, path, opts)),
      conditional(opts),
    );
  }

  getToFile(key: string, path: string): Promise<ObjectInfo> {
    return this.#call('getToFile', key, () => this.inner.getToFile(key, path));
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const items = await this.#call('list', prefix, () => this.inner.list(prefix));
    if (!this.#active(prefix) || !this.#draw('listMiss')) return items;
    const now = Date.now();
    const recent: number[] = [];
    items.forEach((it, i) => {
      const t = this.#recent.get(it.key);
      if (t !== undefined && now - t <= this.#windowMs) recent.push(i);
    });
    if (recent.length === 0) return items;
    const drop = recent[this.#rng.int(recent.length)]!;
    this.#stats.listMiss++;
    return items.filter((_, i) => i !== drop);
  }

  delete(key: string): Promise<void> {
    return this.#call('delete', key, () => this.inner.delete(key));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  // ---------------------------------------------------------------------------------------------------

  #active(key: string): boolean {
    return this.#enabled && (this.#pattern === undefined || this.#pattern.test(key));
  }

  /** One PRNG draw per check, even for probability 0, so a schedule depends only on the call sequence. */
  #draw(kind: FaultKind): boolean {
    const u = this.#rng.next();
    return u < this.#p[kind];
  }

  #fault(kind: FaultKind, op: Op, key: string, message: string): StoreError {
    this.#stats[kind]++;
    return new StoreError(
      `injected fault (${kind}): ${message}`,
      { key, op, fault: kind, injected: true },
      {
        transient: true,
      },
    );
  }

  async #wrote(key: string, p: Promise<ObjectInfo>): Promise<ObjectInfo> {
    const info = await p;
    const now = Date.now();
    this.#recent.set(key, now);
    if (this.#recent.size > 10_000) {
      for (const [k, t] of this.#recent) if (now - t > this.#windowMs) this.#recent.delete(k);
    }
    return info;
  }

  async #call<T>(op: Op, key: string, fn: () => Promise<T>, conditionalPut = false): Promise<T> {
    this.#onCall?.(op, key);
    if (!this.#active(key)) return fn();
    const isPut = op === 'put' || op === 'putFile';
    if (this.#draw('error')) throw this.#fault('error', op, key, `${op} failed`);
    if (this.#draw('timeout')) {
      const reached = this.#rng.chance(0.5);
      const err = this.#fault(
        'timeout',
        op,
        key,
        `${op} timed out${reached ? '' : ' before reaching the store'}`,
      );
      if (reached) await fn().catch(() => undefined);
      await delay(this.#timeoutMs);
      throw err;
    }
    if (this.#draw('slow')) {
      this.#stats.slow++;
      await delay(this.#slowMs);
    }
    if (isPut && this.#draw('partialPut')) throw this.#fault('partialPut', op, key, 'upload interrupted');
    if (isPut && conditionalPut && this.#draw('lostResponse')) {
      await fn();
      throw this.#fault('lostResponse', op, key, 'the response was lost (the write succeeded)');
    }
    return fn();
  }
}

function conditional(opts: PutOptions | undefined): boolean {
  return opts?.ifMatch !== undefined || opts?.ifNoneMatch !== undefined;
}
