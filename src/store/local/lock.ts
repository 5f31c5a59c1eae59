/**
 * The local store's lock for mutations: one at a time in this process (a one-permit semaphore) plus `BEGIN IMMEDIATE … ROLLBACK` on the
 * SQLite database `.lock.sqlite` under the store's root, so that a precondition check and the rename that
 * follows it are atomic with respect to every other writer on this machine, in this or any other process.
 * SQLite's locks are POSIX fcntl locks: the kernel drops them when a process dies, even by SIGKILL, so a
 * crash never leaves a stuck lock. Not for network filesystems.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ClosedError, StoreError } from '../../core/errors.js';
import { delay } from '../../core/retry.js';
import { Semaphore } from '../../core/semaphore.js';
import { errCode, ioError } from './errors.js';

export interface StoreLockOptions {
  /** How long `run` waits for the lock before a transient StoreError. */
  timeoutMs: number;
  /** Runs while the lock is held, before `fn` (a test hook: see LocalStoreOptions.onLocked). */
  onLocked?: ((key: string) => void | Promise<void>) | undefined;
}

export class StoreLock {
  readonly #root: string;
  readonly #file: string;
  readonly #timeoutMs: number;
  readonly #onLocked: ((key: string) => void | Promise<void>) | undefined;
  /** One mutation (or close) at a time in this process, in arrival order. */
  readonly #one = new Semaphore(1);
  #db: Database.Database | null;

  /** Opens (creating) the lock database of the store at `root`; throws what SQLite throws. */
  constructor(root: string, opts: StoreLockOptions) {
    this.#root = root;
    this.#file = join(root, '.lock.sqlite');
    this.#timeoutMs = opts.timeoutMs;
    this.#onLocked = opts.onLocked;
    const db = new Database(this.#file);
    // Never block the event loop inside SQLite: lock waits are async polls (see #begin).
    db.pragma('busy_timeout = 0');
    this.#db = db;
  }

  get closed(): boolean {
    return this.#db === null;
  }

  /** Runs fn holding both the in-process mutex and the cross-process SQLite write lock. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.#one.with(async () => {
      const db = this.#db;
      if (db === null) throw new ClosedError('LocalStore', { file: this.#root });
      await this.#begin(db, key);
      try {
        if (this.#onLocked) await this.#onLocked(key);
        return await fn();
      } finally {
        // nothing was written: ROLLBACK just releases the lock (and never reports BUSY)
        if (db.inTransaction) db.exec('ROLLBACK');
      }
    });
  }

  /** Closes the lock database after any `run` in flight. Idempotent. */
  async close(): Promise<void> {
    await this.#one.with(async () => {
      this.#db?.close();
      this.#db = null;
    });
  }

  async #begin(db: Database.Database, key: string): Promise<void> {
    const deadline = performance.now() + this.#timeoutMs;
    let backoffMs = 1;
    for (;;) {
      try {
        db.exec('BEGIN IMMEDIATE');
        return;
      } catch (e) {
        const c = errCode(e);
        if (!c?.startsWith('SQLITE_BUSY') && !c?.startsWith('SQLITE_LOCKED')) {
          throw ioError('lock database failed', e, { key });
        }
        if (performance.now() >= deadline) {
          throw new StoreError(
            `store lock busy for ${this.#timeoutMs} ms`,
            { key, file: this.#file },
            { transient: true },
          );
        }
        await delay(backoffMs * (0.5 + Math.random()));
        backoffMs = Math.min(backoffMs * 2, 20);
      }
    }
  }
}
