/**
 * LocalStore: an ObjectStore on a local directory.
 *
 * Layout under the root:
 *   objects/<key>     the objects (keys map 1:1 onto relative paths; see validateKey)
 *   .tmp/             temp files of puts in flight (same filesystem, so the final step is a rename)
 *   .scratch/         scratchDir(): where callers build files they will putFile({consume:true})
 *   .lock.sqlite      the cross-process lock for mutations (SQLite BEGIN IMMEDIATE)
 *
 * Every put writes a temp file, fsyncs it, renames it into place and fsyncs the directory: a reader (or a
 * crash) sees the old object, the new one or none, never a part. Every mutation (put, putFile, delete) runs
 * inside `BEGIN IMMEDIATE … ROLLBACK` on the lock database, so a precondition check and the rename that
 * follows it are atomic with respect to every other writer on this machine, in this or any other process.
 * SQLite's locks are POSIX fcntl locks: the kernel drops them when a process dies, even by SIGKILL, so a
 * crash never leaves a stuck lock. The body is already durable in a temp file before the lock is taken; the
 * critical section is stat (+ hash for ifMatch) + rename + fsync(dir).
 *
 * etag = sha256 = SHA-256 (hex) of the content, computed while writing; head() hashes the file (cached by
 * inode/size/mtime). Preconditions are always checked against a fresh hash, never the cache.
 *
 * Not for network filesystems: the lock relies on working POSIX locks and rename atomicity.
 */

import { createHash, type Hash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { fsyncDir, writeAll } from '../core/durable.js';
import {
  ClosedError,
  ErrorCodes,
  IntegrityError,
  NotFoundError,
  PreconditionFailedError,
  StoreError,
  StrataError,
} from '../core/errors.js';
import { failpoint } from '../core/failpoints.js';
import { delay } from '../core/retry.js';
import { compareKeys, validateKey, validatePrefix } from './keys.js';
import { Mutex } from './mutex.js';
import type { ObjectInfo, ObjectStore, PutFileOptions, PutOptions } from './object-store.js';

export interface LocalStoreOptions {
  /** How long a mutation waits for the cross-process lock before a transient StoreError (default 10 s). */
  lockTimeoutMs?: number;
  /**
   * Test hook: runs while the cross-process lock is held, before the precondition check. Lets tests hold
   * the lock (and be SIGKILLed holding it). Never set it in production code.
   */
  onLocked?: (key: string) => void | Promise<void>;
}

const COPY_CHUNK = 4 << 20;
const ETAG_CACHE_MAX = 10_000;
const TRANSIENT_CODES = new Set([
  'EAGAIN',
  'EBUSY',
  'EMFILE',
  'ENFILE',
  'EINTR',
  'ETIMEDOUT',
  'ENOSPC',
  'EDQUOT',
]);
const MISSING_CODES = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);

interface CachedEtag {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  sha256: string;
}

interface Written {
  size: number;
  sha256: string;
  mtime: Date;
  dev: bigint;
  ino: bigint;
  mtimeNs: bigint;
}

function errCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

/** StrataErrors pass through; anything else becomes a StoreError (transient for EAGAIN, ENOSPC…). */
function ioError(what: string, e: unknown, context: Record<string, unknown>): StrataError {
  if (e instanceof StrataError) return e;
  const code = errCode(e);
  const msg = e instanceof Error ? e.message : String(e);
  return new StoreError(`${what}: ${msg}`, context, {
    cause: e,
    transient: code ? TRANSIENT_CODES.has(code) : false,
  });
}

/**
 * Copies src → dst from the current positions, hashing what passes; calls `atHalf` once, after
 * `half` bytes are written (before anything when half = 0). Returns the byte count.
 */
async function copyHashing(
  src: FileHandle,
  dst: FileHandle,
  hash: Hash,
  half: number,
  atHalf: () => void,
): Promise<number> {
  const buf = Buffer.allocUnsafe(COPY_CHUNK);
  let total = 0;
  let fired = false;
  if (half <= 0) {
    atHalf();
    fired = true;
  }
  for (;;) {
    const { bytesRead } = await src.read(buf, 0, buf.length, null);
    if (bytesRead === 0) break;
    const chunk = buf.subarray(0, bytesRead);
    hash.update(chunk);
    if (!fired && total + bytesRead >= half) {
      const first = half - total;
      await writeAll(dst, chunk.subarray(0, first));
      atHalf();
      fired = true;
      await writeAll(dst, chunk.subarray(first));
    } else {
      await writeAll(dst, chunk);
    }
    total += bytesRead;
  }
  if (!fired) atHalf();
  return total;
}

async function hashHandle(fh: FileHandle): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(COPY_CHUNK);
  let size = 0;
  let pos = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    h.update(buf.subarray(0, bytesRead));
    size += bytesRead;
    pos += bytesRead;
  }
  return { sha256: h.digest('hex'), size };
}

function checkSha(expected: string | undefined, actual: string, key: string): void {
  if (expected !== undefined && expected.toLowerCase() !== actual) {
    throw new IntegrityError(ErrorCodes.STORE_INTEGRITY, 'body does not match the SHA-256 the caller gave', {
      key,
      expected,
      actual,
    });
  }
}

export class LocalStore implements ObjectStore {
  readonly kind = 'local';
  readonly url: string;
  /** Absolute path of the store's root directory. */
  readonly root: string;
  readonly #objects: string;
  readonly #tmp: string;
  readonly #scratch: string;
  readonly #lockTimeoutMs: number;
  readonly #onLocked: ((key: string) => void | Promise<void>) | undefined;
  readonly #mutex = new Mutex();
  readonly #etags = new Map<string, CachedEtag>();
  /** Temp files this instance is writing right now (removeTempFiles leaves them alone). */
  readonly #active = new Set<string>();
  #db: Database.Database | null;

  constructor(rootDir: string, opts: LocalStoreOptions = {}) {
    this.root = resolve(rootDir);
    this.url = pathToFileURL(this.root).href;
    this.#objects = join(this.root, 'objects');
    this.#tmp = join(this.root, '.tmp');
    this.#scratch = join(this.root, '.scratch');
    this.#lockTimeoutMs = opts.lockTimeoutMs ?? 10_000;
    this.#onLocked = opts.onLocked;
    try {
      const made = [this.#objects, this.#tmp, this.#scratch]
        .map((d) => mkdirSync(d, { recursive: true }))
        .filter((m): m is string => m !== undefined)
        .sort((a, b) => a.length - b.length)[0];
      if (made !== undefined) {
        // new directories: make their entries durable (the root, and every new ancestor's parent)
        for (let d = this.root; ; d = dirname(d)) {
          const fd = openSync(d, 'r');
          try {
            fsyncSync(fd);
          } finally {
            closeSync(fd);
          }
          if (d === dirname(made) || d === dirname(d)) break;
        }
      }
      const db = new Database(join(this.root, '.lock.sqlite'));
      // Never block the event loop inside SQLite: lock waits are async polls (see #begin).
      db.pragma('busy_timeout = 0');
      this.#db = db;
    } catch (e) {
      throw ioError('cannot open local store', e, { file: this.root });
    }
  }

  /** Opens (creating if needed) a local store at `root`. */
  static async open(root: string, opts: LocalStoreOptions = {}): Promise<LocalStore> {
    return new LocalStore(root, opts);
  }

  /** Absolute path of the file that holds `key` (whether or not it exists). */
  localPath(key: string): string {
    validateKey(key);
    const p = join(this.#objects, key);
    if (!p.startsWith(this.#objects + sep)) {
      throw new StrataError(ErrorCodes.STORE_KEY, 'store key escapes the store root', { key });
    }
    return p;
  }

  async get(key: string): Promise<Uint8Array> {
    const p = this.localPath(key);
    this.#assertOpen();
    try {
      return await readFile(p);
    } catch (e) {
      throw this.#readError(e, key);
    }
  }

  /**
   * A directory on the same filesystem as the objects, so putFile({consume:true}) of a file built there is
   * a rename. Shared by everyone using this root: make a private subdirectory (mkdtemp) in it. Removing
   * leftovers is the caller's job (removeTempFiles cleans only .tmp).
   */
  scratchDir(): string {
    return this.#scratch;
  }

  /** Opens the object's file for reading; a missing key is NotFoundError. */
  async #openForRead(key: string): Promise<FileHandle> {
    const p = this.localPath(key);
    this.#assertOpen();
    try {
      return await open(p, 'r');
    } catch (e) {
      throw this.#readError(e, key);
    }
  }

  async getObject(key: string): Promise<{ body: Uint8Array; info: ObjectInfo }> {
    // One open file: the body and its stat belong to the same version even if a rename replaces the key.
    const fh = await this.#openForRead(key);
    try {
      const st = await fh.stat({ bigint: true });
      if (!st.isFile()) throw new NotFoundError('no object at this key', { key });
      const body = await fh.readFile();
      const sha = createHash('sha256').update(body).digest('hex');
      this.#remember(key, { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, sha256: sha });
      return { body, info: { key, size: body.byteLength, etag: sha, sha256: sha, lastModified: st.mtime } };
    } catch (e) {
      throw this.#readError(e, key);
    } finally {
      await fh.close();
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const p = this.localPath(key);
    this.#assertOpen();
    let fh: FileHandle;
    try {
      fh = await open(p, 'r');
    } catch (e) {
      if (MISSING_CODES.has(errCode(e) ?? '')) return undefined;
      throw ioError('head failed', e, { key });
    }
    try {
      const st = await fh.stat({ bigint: true });
      if (!st.isFile()) return undefined;
      const c = this.#etags.get(key);
      let sha: string;
      if (c && c.dev === st.dev && c.ino === st.ino && c.size === st.size && c.mtimeNs === st.mtimeNs) {
        sha = c.sha256;
      } else {
        sha = (await hashHandle(fh)).sha256;
        this.#remember(key, { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, sha256: sha });
      }
      return { key, size: Number(st.size), etag: sha, sha256: sha, lastModified: st.mtime };
    } catch (e) {
      if (MISSING_CODES.has(errCode(e) ?? '')) return undefined;
      throw ioError('head failed', e, { key });
    } finally {
      await fh.close();
    }
  }

  async put(key: string, body: Uint8Array | string, opts: PutOptions = {}): Promise<ObjectInfo> {
    this.localPath(key);
    this.#assertOpen();
    const data = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const sha256 = createHash('sha256').update(data).digest('hex');
    checkSha(opts.sha256, sha256, key);
    const tmp = this.#tempName();
    try {
      let written: Written;
      const fh = await open(tmp, 'wx', 0o644);
      try {
        const half = Math.floor(data.byteLength / 2);
        await writeAll(fh, data.subarray(0, half));
        failpoint('store.put.partial');
        await writeAll(fh, data.subarray(half));
        await fh.sync();
        written = this.#written(await fh.stat({ bigint: true }), sha256);
      } finally {
        await fh.close();
      }
      return await this.#commit(key, tmp, written, opts);
    } catch (e) {
      throw ioError('put failed', e, { key });
    } finally {
      await this.#dropTemp(tmp);
    }
  }

  async putFile(key: string, path: string, opts: PutFileOptions = {}): Promise<ObjectInfo> {
    this.localPath(key);
    this.#assertOpen();
    const tmp = this.#tempName();
    let moved = false;
    let ok = false;
    try {
      if (opts.consume) {
        try {
          await rename(path, tmp);
          moved = true;
        } catch (e) {
          if (errCode(e) !== 'EXDEV') throw ioError('cannot move the source file', e, { key, file: path });
        }
      }
      let written: Written;
      if (moved) {
        const fh = await open(tmp, 'r');
        try {
          failpoint('store.put.partial');
          const { sha256 } = await hashHandle(fh);
          await fh.sync();
          written = this.#written(await fh.stat({ bigint: true }), sha256);
        } finally {
          await fh.close();
        }
      } else {
        written = await this.#copyIn(path, tmp, key);
      }
      checkSha(opts.sha256, written.sha256, key);
      const info = await this.#commit(key, tmp, written, opts);
      ok = true;
      if (opts.consume && !moved) {
        await unlink(path).catch(() => undefined);
      }
      return info;
    } catch (e) {
      throw ioError('putFile failed', e, { key, file: path });
    } finally {
      if (!ok && moved) {
        // give the caller its file back (best effort: the object may have been renamed into place already)
        await rename(tmp, path).catch(() => undefined);
      }
      await this.#dropTemp(tmp);
    }
  }

  async getToFile(key: string, path: string): Promise<ObjectInfo> {
    const src = await this.#openForRead(key);
    const dest = resolve(path);
    const dir = dirname(dest);
    const tmp = join(dir, `.${basename(dest)}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
    try {
      const st = await src.stat({ bigint: true });
      if (!st.isFile()) throw new NotFoundError('no object at this key', { key });
      await mkdir(dir, { recursive: true });
      const h = createHash('sha256');
      const dst = await open(tmp, 'wx', 0o644);
      let size: number;
      try {
        size = await copyHashing(src, dst, h, 0, () => undefined);
        await dst.sync();
      } finally {
        await dst.close();
      }
      if (size !== Number(st.size)) {
        throw new StoreError('object changed size while it was read', { key }, { transient: true });
      }
      const sha = h.digest('hex');
      await rename(tmp, dest);
      await fsyncDir(dir);
      this.#remember(key, { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, sha256: sha });
      return { key, size, etag: sha, sha256: sha, lastModified: st.mtime };
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw ioError('getToFile failed', e, { key, file: dest });
    } finally {
      await src.close();
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    validatePrefix(prefix);
    this.#assertOpen();
    const cut = prefix.lastIndexOf('/');
    const dirKey = cut >= 0 ? prefix.slice(0, cut + 1) : '';
    const out: ObjectInfo[] = [];
    const walk = async (keyDir: string): Promise<void> => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(join(this.#objects, keyDir), { withFileTypes: true });
      } catch (e) {
        if (MISSING_CODES.has(errCode(e) ?? '')) return;
        throw ioError('list failed', e, { key: keyDir });
      }
      await Promise.all(
        entries.map(async (ent) => {
          const k = keyDir + ent.name;
          if (ent.isDirectory()) {
            const d = `${k}/`;
            if (d.startsWith(prefix) || prefix.startsWith(d)) await walk(d);
          } else if (ent.isFile() && k.startsWith(prefix)) {
            try {
              const st = await stat(join(this.#objects, k));
              if (st.isFile()) out.push({ key: k, size: st.size, lastModified: st.mtime });
            } catch (e) {
              if (!MISSING_CODES.has(errCode(e) ?? '')) throw ioError('list failed', e, { key: k });
            }
          }
        }),
      );
    };
    await walk(dirKey);
    out.sort((a, b) => compareKeys(a.key, b.key));
    return out;
  }

  async delete(key: string): Promise<void> {
    const p = this.localPath(key);
    this.#assertOpen();
    try {
      await this.#locked(key, async () => {
        try {
          await unlink(p);
        } catch (e) {
          const c = errCode(e);
          if (c && (MISSING_CODES.has(c) || c === 'EPERM')) return;
          throw e;
        }
        this.#etags.delete(key);
        await fsyncDir(dirname(p));
      });
    } catch (e) {
      throw ioError('delete failed', e, { key });
    }
  }

  /**
   * Removes temp files (of puts interrupted by a crash) older than `olderThanMs`. Temp files this instance
   * is writing are never removed. Returns how many were removed.
   */
  async removeTempFiles(olderThanMs: number): Promise<number> {
    this.#assertOpen();
    const names = await readdir(this.#tmp).catch(() => [] as string[]);
    const cutoff = Date.now() - olderThanMs;
    let n = 0;
    for (const name of names) {
      const p = join(this.#tmp, name);
      if (this.#active.has(p)) continue;
      try {
        const st = await stat(p);
        if (st.mtimeMs <= cutoff && st.isFile()) {
          await unlink(p);
          n++;
        }
      } catch {
        // vanished meanwhile: someone else finished or removed it
      }
    }
    return n;
  }

  /** Closes the lock database after any mutation in flight. Idempotent. */
  async close(): Promise<void> {
    await this.#mutex.run(() => {
      this.#db?.close();
      this.#db = null;
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---------------------------------------------------------------------------------------------------

  #assertOpen(): Database.Database {
    if (this.#db === null) throw new ClosedError('LocalStore', { file: this.root });
    return this.#db;
  }

  #tempName(): string {
    const p = join(this.#tmp, `${process.pid}-${Date.now()}-${randomBytes(8).toString('hex')}.tmp`);
    this.#active.add(p);
    return p;
  }

  async #dropTemp(tmp: string): Promise<void> {
    await unlink(tmp).catch(() => undefined);
    this.#active.delete(tmp);
  }

  #written(
    st: { size: bigint; mtime: Date; dev: bigint; ino: bigint; mtimeNs: bigint },
    sha256: string,
  ): Written {
    return { size: Number(st.size), sha256, mtime: st.mtime, dev: st.dev, ino: st.ino, mtimeNs: st.mtimeNs };
  }

  #remember(key: string, e: CachedEtag): void {
    this.#etags.delete(key);
    this.#etags.set(key, e);
    if (this.#etags.size > ETAG_CACHE_MAX) {
      const first = this.#etags.keys().next();
      if (!first.done) this.#etags.delete(first.value);
    }
  }

  #readError(e: unknown, key: string): StrataError {
    if (e instanceof StrataError) return e;
    if (MISSING_CODES.has(errCode(e) ?? '')) return new NotFoundError('no object at this key', { key });
    return ioError('read failed', e, { key });
  }

  async #copyIn(src: string, tmp: string, key: string): Promise<Written> {
    let sfh: FileHandle;
    try {
      sfh = await open(src, 'r');
    } catch (e) {
      throw ioError('cannot read the source file', e, { key, file: src });
    }
    try {
      const sst = await sfh.stat();
      if (!sst.isFile()) throw new StoreError('source is not a regular file', { key, file: src });
      const h = createHash('sha256');
      const dfh = await open(tmp, 'wx', 0o644);
      try {
        await copyHashing(sfh, dfh, h, Math.floor(sst.size / 2), () => failpoint('store.put.partial'));
        await dfh.sync();
        return this.#written(await dfh.stat({ bigint: true }), h.digest('hex'));
      } finally {
        await dfh.close();
      }
    } finally {
      await sfh.close();
    }
  }

  /** Creates the directories up to `dir`, making new entries durable. */
  async #ensureDir(dir: string, key: string): Promise<void> {
    try {
      const st = await stat(dir);
      if (st.isDirectory()) return;
    } catch {
      // create below
    }
    let created: string | undefined;
    try {
      created = await mkdir(dir, { recursive: true });
    } catch (e) {
      const c = errCode(e);
      if (c === 'ENOTDIR' || c === 'EEXIST') throw this.#conflict(key);
      throw e;
    }
    if (created !== undefined) {
      for (let d = dir; ; d = dirname(d)) {
        await fsyncDir(dirname(d));
        if (d === created || dirname(d) === this.#objects || d === dirname(d)) break;
      }
    }
  }

  #conflict(key: string): StrataError {
    return new StrataError(
      ErrorCodes.STORE_KEY,
      'key conflicts with an existing object: a local store cannot hold both "a" and "a/b"',
      { key },
    );
  }

  async #commit(key: string, tmp: string, w: Written, opts: PutOptions): Promise<ObjectInfo> {
    const final = this.localPath(key);
    const dir = dirname(final);
    await this.#ensureDir(dir, key);
    await this.#locked(key, async () => {
      if (opts.ifNoneMatch !== undefined || opts.ifMatch !== undefined) await this.#check(key, final, opts);
      try {
        await rename(tmp, final);
      } catch (e) {
        const c = errCode(e);
        if (c === 'EISDIR' || c === 'ENOTDIR' || c === 'ENOTEMPTY' || c === 'EEXIST')
          throw this.#conflict(key);
        throw e;
      }
      this.#active.delete(tmp);
      this.#remember(key, {
        dev: w.dev,
        ino: w.ino,
        size: BigInt(w.size),
        mtimeNs: w.mtimeNs,
        sha256: w.sha256,
      });
      await fsyncDir(dir);
    });
    return { key, size: w.size, etag: w.sha256, sha256: w.sha256, lastModified: w.mtime };
  }

  /** Runs inside the lock: checks ifNoneMatch / ifMatch against the object as it is now (fresh hash). */
  async #check(key: string, final: string, opts: PutOptions): Promise<void> {
    let fh: FileHandle | undefined;
    try {
      fh = await open(final, 'r');
      if (!(await fh.stat()).isFile()) {
        await fh.close();
        fh = undefined;
      }
    } catch (e) {
      if (!MISSING_CODES.has(errCode(e) ?? '')) throw e;
    }
    try {
      if (opts.ifNoneMatch === '*' && fh) {
        throw new PreconditionFailedError('object already exists (ifNoneMatch: *)', { key });
      }
      if (opts.ifMatch !== undefined) {
        if (!fh)
          throw new PreconditionFailedError('no object to replace (ifMatch)', {
            key,
            expected: opts.ifMatch,
          });
        const { sha256 } = await hashHandle(fh);
        if (sha256 !== opts.ifMatch) {
          throw new PreconditionFailedError('object changed (ifMatch etag mismatch)', {
            key,
            expected: opts.ifMatch,
            actual: sha256,
          });
        }
      }
    } finally {
      await fh?.close();
    }
  }

  /** Runs fn holding both the in-process mutex and the cross-process SQLite write lock. */
  async #locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.#mutex.run(async () => {
      const db = this.#assertOpen();
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

  async #begin(db: Database.Database, key: string): Promise<void> {
    const deadline = performance.now() + this.#lockTimeoutMs;
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
            `store lock busy for ${this.#lockTimeoutMs} ms`,
            { key, file: join(this.root, '.lock.sqlite') },
            { transient: true },
          );
        }
        await delay(backoffMs * (0.5 + Math.random()));
        backoffMs = Math.min(backoffMs * 2, 20);
      }
    }
  }
}
