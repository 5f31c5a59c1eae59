import { randomUUID } from 'node:crypto';
import { ErrorCodes, LeaseError, PreconditionFailedError } from '../core/errors.js';
import { failpoint } from '../core/failpoints.js';
import { delay, isTransient, withRetry } from '../core/retry.js';
import type { ObjectStore } from '../store/index.js';
import { readJson, writeJson } from './json-object.js';
import { Keys } from './layout.js';

export interface LeaseRecord {
  collection: string;
  owner: string;
  /** Fencing token: strictly increases with every acquisition, never reused. */
  token: number;
  acquiredAt: number;
  expiresAt: number;
  /** 0 when released. */
  released?: boolean;
}

export interface LeaseOptions {
  ttlMs?: number;
  owner?: string;
  /** Heartbeat every ttl/3 by default; 0 disables (tests freeze heartbeats this way). */
  heartbeatMs?: number;
  /** If another holder has the lease, wait up to this long for it to expire or be released (default 0). */
  waitMs?: number;
  now?: () => number;
}

/**
 * A lease on one collection, held through the store's own compare-and-swap. Every write of the lease
 * object is conditional on the etag read just before, so a heartbeat can never revive a lease someone
 * else has taken, and a stale holder learns it lost the lease on its next heartbeat or check.
 */
export class Lease implements AsyncDisposable {
  readonly collection: string;
  readonly owner: string;
  readonly ttlMs: number;
  #store: ObjectStore;
  #token: number;
  #etag: string;
  #expiresAt: number;
  #timer: NodeJS.Timeout | undefined;
  #lost: LeaseError | undefined;
  #now: () => number;
  #closed = false;

  private constructor(store: ObjectStore, rec: LeaseRecord, etag: string, ttlMs: number, now: () => number) {
    this.#store = store;
    this.collection = rec.collection;
    this.owner = rec.owner;
    this.#token = rec.token;
    this.#etag = etag;
    this.#expiresAt = rec.expiresAt;
    this.ttlMs = ttlMs;
    this.#now = now;
  }

  get token(): number {
    return this.#token;
  }
  get expiresAt(): number {
    return this.#expiresAt;
  }
  /** Set once a heartbeat found the lease taken or expired. */
  get lost(): LeaseError | undefined {
    return this.#lost;
  }

  static async acquire(store: ObjectStore, collection: string, opts: LeaseOptions = {}): Promise<Lease> {
    const ttlMs = opts.ttlMs ?? 60_000;
    const owner = opts.owner ?? `${process.pid}-${randomUUID()}`;
    const now = opts.now ?? Date.now;
    const key = Keys.lease(collection);
    const deadline = now() + (opts.waitMs ?? 0);
    for (;;) {
      try {
        return await Lease.#acquireOnce(store, collection, key, owner, ttlMs, now, opts);
      } catch (e) {
        if (!(e instanceof LeaseError && e.code === ErrorCodes.LEASE_HELD)) throw e;
        const left = deadline - now();
        if (left <= 0) throw e;
        // The holder releases its lease when done (look again soon), or may have crashed (its lease ends at
        // expiresAt): whichever comes first, within the wait.
        const expiresIn = Number(e.context.expiresAt) - now();
        await delay(Math.max(10, Math.min(left, expiresIn, 100 + Math.floor(Math.random() * 100))));
      }
    }
  }

  static async #acquireOnce(
    store: ObjectStore,
    collection: string,
    key: string,
    owner: string,
    ttlMs: number,
    now: () => number,
    opts: LeaseOptions,
  ): Promise<Lease> {
    const lease = await withRetry(
      async () => {
        const cur = await readJson<LeaseRecord>(store, key);
        const t = now();
        if (cur && !cur.value.released && cur.value.expiresAt > t && cur.value.owner !== owner) {
          throw new LeaseError(
            ErrorCodes.LEASE_HELD,
            `collection ${collection} is being compacted by ${cur.value.owner} (lease token ${cur.value.token}, expires in ${Math.ceil((cur.value.expiresAt - t) / 1000)} s)`,
            { collection, owner: cur.value.owner, token: cur.value.token, expiresAt: cur.value.expiresAt },
          );
        }
        // Tokens only grow: past the last lease's and past the one the pointer was published under (a lease
        // object lost or deleted must not restart the count below it, or every later publish is fenced).
        const published = (await readJson<{ fencingToken?: number }>(store, Keys.pointer(collection)))?.value;
        const rec: LeaseRecord = {
          collection,
          owner,
          token: Math.max(cur?.value.token ?? 0, published?.fencingToken ?? 0) + 1,
          acquiredAt: t,
          expiresAt: t + ttlMs,
        };
        const info = await writeJson(store, key, rec, cur ? { ifMatch: cur.etag } : { ifNoneMatch: '*' });
        return new Lease(store, rec, info.etag!, ttlMs, now);
      },
      { attempts: 8, retryable: (e) => isTransient(e) || e instanceof PreconditionFailedError },
    );
    const hb = opts.heartbeatMs ?? Math.floor(ttlMs / 3);
    if (hb > 0) lease.#startHeartbeat(hb);
    return lease;
  }

  #startHeartbeat(everyMs: number): void {
    this.#timer = setInterval(() => {
      this.heartbeat().catch(() => {
        /* recorded in #lost; the holder checks before it publishes */
      });
    }, everyMs);
    this.#timer.unref();
  }

  /** Extends the lease, only if this holder still owns it (conditional write on the etag it last wrote). */
  async heartbeat(): Promise<void> {
    if (this.#lost) throw this.#lost;
    const key = Keys.lease(this.collection);
    const cur = await readJson<LeaseRecord>(this.#store, key);
    if (!cur || cur.value.owner !== this.owner || cur.value.token !== this.#token || cur.value.released) {
      throw this.#markLost('the lease object was taken by another compactor');
    }
    if (cur.value.expiresAt <= this.#now()) throw this.#markLost('the lease expired before this heartbeat');
    failpoint('lease.mid-heartbeat');
    // Read the clock again right before the write: a holder frozen between the read and the write (SIGSTOP,
    // a GC pause) must not revive a lease that lapsed meanwhile, even if nobody has taken it yet.
    const t = this.#now();
    if (cur.value.expiresAt <= t) throw this.#markLost('the lease lapsed during the heartbeat');
    const rec: LeaseRecord = { ...cur.value, expiresAt: t + this.ttlMs };
    try {
      const info = await writeJson(this.#store, key, rec, { ifMatch: cur.etag });
      this.#etag = info.etag!;
      this.#expiresAt = rec.expiresAt;
    } catch (e) {
      if (e instanceof PreconditionFailedError)
        throw this.#markLost('the lease changed during the heartbeat');
      throw e;
    }
  }

  /**
   * Throws unless the store still shows this holder's lease with at least `marginMs` left. Called right
   * before the pointer swap; the swap itself is also fenced by token and conditional on the pointer etag.
   */
  async assertHeld(marginMs = Math.min(2_000, this.ttlMs / 4)): Promise<void> {
    if (this.#lost) throw this.#lost;
    const cur = await readJson<LeaseRecord>(this.#store, Keys.lease(this.collection));
    if (!cur || cur.value.owner !== this.owner || cur.value.token !== this.#token || cur.value.released) {
      throw this.#markLost('the lease is now held by another compactor');
    }
    if (cur.value.expiresAt - this.#now() < marginMs) {
      throw this.#markLost('the lease expired (or is about to) before publish');
    }
  }

  #markLost(why: string): LeaseError {
    this.#lost ??= new LeaseError(ErrorCodes.LEASE_LOST, `lost the lease on ${this.collection}: ${why}`, {
      collection: this.collection,
      owner: this.owner,
      token: this.#token,
    });
    this.#stop();
    return this.#lost;
  }

  #stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Stops heartbeats and releases the lease if still held (conditional; losing that race is fine). */
  async release(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop();
    if (this.#lost) return;
    const key = Keys.lease(this.collection);
    const cur = await readJson<LeaseRecord>(this.#store, key).catch(() => undefined);
    if (!cur || cur.value.owner !== this.owner || cur.value.token !== this.#token) return;
    await writeJson(
      this.#store,
      key,
      { ...cur.value, released: true, expiresAt: this.#now() },
      { ifMatch: cur.etag },
    ).catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

export async function readLease(store: ObjectStore, collection: string): Promise<LeaseRecord | undefined> {
  return (await readJson<LeaseRecord>(store, Keys.lease(collection)))?.value;
}
