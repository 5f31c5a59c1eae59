import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ErrorCodes, LeaseError, PreconditionFailedError } from '../core/errors.js';
import { failpoint } from '../core/failpoints.js';
import { delay, isTransient, withRetry } from '../core/retry.js';
import type { ObjectStore } from '../store/index.js';
import { holderIsDead, type LeaseHolder, thisHolder } from './holder.js';
import { readJson, writeJson } from './json-object.js';
import { Keys } from './layout.js';
import { fencePointer } from './pointer.js';

export interface LeaseRecord {
  collection: string;
  owner: string;
  /** Fencing token: strictly increases with every acquisition, never reused. */
  token: number;
  acquiredAt: number;
  expiresAt: number;
  /** 0 when released. */
  released?: boolean;
  /** The process holding it (host, boot, pid namespace, pid, start time): lets this host prove it dead. */
  holder?: LeaseHolder;
  /** Set when this lease was taken from a holder that never released it. */
  takenOver?: LeaseTakeover;
}

/** How a lease was taken from a holder that never released it. */
export interface LeaseTakeover {
  owner: string;
  token: number;
  /** `expired`: by the taker's clock; `holder-dead`: its process is provably gone (same host and boot). */
  why: 'expired' | 'holder-dead';
  /** The pointer version fenced with the new token (absent: the collection had no pointer yet). */
  fencedVersion?: number;
}

/**
 * Whether a lease record still binds others: not released, not expired by this process's clock, and its
 * holder not provably dead.
 */
export function isLeaseLive(rec: LeaseRecord | undefined, now: number = Date.now()): boolean {
  return rec !== undefined && !rec.released && rec.expiresAt > now && !holderIsDead(rec.holder);
}

export interface LeaseOptions {
  ttlMs?: number;
  owner?: string;
  /** Heartbeat every ttl/3 by default; 0 disables (tests freeze heartbeats this way). */
  heartbeatMs?: number;
  /** If another holder has the lease, wait up to this long for it to expire or be released (default 0). */
  waitMs?: number;
  now?: () => number;
  /** Called with every lease this acquisition yields (after a takeover, once the pointer is fenced). */
  onAcquired?: (lease: Lease) => void;
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
  /**
   * The end of the lease as this process can prove it: the monotonic instant before the write that
   * started or extended the lease, plus the TTL. Immune to wall-clock steps (NTP, a VM resumed); only set
   * on the real clock (tests that inject `now` drive time through the record alone).
   */
  #provenUntil: number | undefined;
  #takeover: LeaseTakeover | undefined;

  private constructor(
    store: ObjectStore,
    rec: LeaseRecord,
    etag: string,
    ttlMs: number,
    now: () => number,
    provenUntil: number | undefined,
  ) {
    this.#store = store;
    this.collection = rec.collection;
    this.owner = rec.owner;
    this.#token = rec.token;
    this.#etag = etag;
    this.#expiresAt = rec.expiresAt;
    this.ttlMs = ttlMs;
    this.#now = now;
    this.#provenUntil = provenUntil;
    this.#takeover = rec.takenOver;
  }

  /** Set when this lease was taken from a holder that never released it (and the pointer fenced). */
  get takeover(): LeaseTakeover | undefined {
    return this.#takeover;
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
    const realClock = opts.now === undefined;
    const lease = await withRetry(
      async () => {
        const cur = await readJson<LeaseRecord>(store, key);
        const t = now();
        const held = cur !== undefined && !cur.value.released && cur.value.owner !== owner;
        const dead = held && holderIsDead(cur!.value.holder);
        if (held && cur!.value.expiresAt > t && !dead) {
          const c = cur!.value;
          const who = c.holder ? ` (pid ${c.holder.pid} on ${c.holder.host})` : '';
          throw new LeaseError(
            ErrorCodes.LEASE_HELD,
            `collection ${collection} is being compacted by ${c.owner}${who} (lease token ${c.token}, expires in ${Math.ceil((c.expiresAt - t) / 1000)} s)`,
            { collection, owner: c.owner, token: c.token, expiresAt: c.expiresAt },
          );
        }
        // Tokens only grow: past the last lease's and past the one the pointer was published under (a lease
        // object lost or deleted must not restart the count below it, or every later publish is fenced).
        const published = (await readJson<{ fencingToken?: number }>(store, Keys.pointer(collection)))?.value;
        const holder = thisHolder();
        const rec: LeaseRecord = {
          collection,
          owner,
          token: Math.max(cur?.value.token ?? 0, published?.fencingToken ?? 0) + 1,
          acquiredAt: t,
          expiresAt: t + ttlMs,
          ...(holder ? { holder } : {}),
          ...(held
            ? {
                takenOver: {
                  owner: cur!.value.owner,
                  token: cur!.value.token,
                  why: dead && cur!.value.expiresAt > t ? ('holder-dead' as const) : ('expired' as const),
                },
              }
            : {}),
        };
        const mono = performance.now();
        const info = await writeJson(store, key, rec, cur ? { ifMatch: cur.etag } : { ifNoneMatch: '*' });
        return new Lease(store, rec, info.etag!, ttlMs, now, realClock ? mono + ttlMs : undefined);
      },
      { attempts: 8, retryable: (e) => isTransient(e) || e instanceof PreconditionFailedError },
    );
    if (lease.#takeover) {
      // The superseded holder may still be running (a clock that ran slow or behind, a frozen process): it
      // must not publish from here on. Raise the pointer's fencing token before doing anything else.
      try {
        const v = await withRetry(() => fencePointer(store, collection, lease.token), {
          attempts: 6,
          retryable: isTransient,
        });
        if (v !== undefined) lease.#takeover.fencedVersion = v;
      } catch (e) {
        await lease.release();
        throw e;
      }
    }
    const hb = opts.heartbeatMs ?? Math.floor(ttlMs / 3);
    if (hb > 0) lease.#startHeartbeat(hb);
    opts.onAcquired?.(lease);
    return lease;
  }

  #startHeartbeat(everyMs: number): void {
    let beating = false;
    this.#timer = setInterval(() => {
      // never two heartbeats at once: a slow one (a full or slow disk) overtaken by the next would lose
      // the compare-and-swap to its own sibling and give the lease up for nothing
      if (beating) return;
      beating = true;
      this.heartbeat()
        .catch(() => {
          /* recorded in #lost; the holder checks before it publishes */
        })
        .finally(() => {
          beating = false;
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
    const mono = performance.now();
    try {
      const info = await writeJson(this.#store, key, rec, { ifMatch: cur.etag });
      this.#etag = info.etag!;
      this.#expiresAt = rec.expiresAt;
      if (this.#provenUntil !== undefined) this.#provenUntil = mono + this.ttlMs;
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
    // The wall clock may have been stepped back since the lease was written: never count on more lease
    // time than the monotonic clock has measured since the write that started or extended it.
    if (this.#provenUntil !== undefined && this.#provenUntil - performance.now() < marginMs) {
      throw this.#markLost('the lease time this process can prove (monotonic clock) is over before publish');
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
