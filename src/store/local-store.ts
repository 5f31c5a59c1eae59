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
 * holding the cross-process lock (local/lock.ts), so a precondition check and the rename that follows it
 * are atomic with respect to every other writer on this machine. The body is already durable in a temp
 * file before the lock is taken; the critical section is stat (+ hash for ifMatch) + rename + fsync(dir).
 *
 * etag = sha256 = SHA-256 (hex) of the content, computed while writing; head() hashes the file (cached by
 * file version: local/etag-cache.ts). Preconditions are always checked against a fresh hash, never the cache.
 *
 * Not for network filesystems: the lock relies on working POSIX locks and rename atomicity.
 */

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fsyncDir, replaceFileDurable, writeAll } from '../core/durable.js';
import {
  ClosedError,
  ErrorCodes,
  NotFoundError,
  PreconditionFailedError,
  StoreError,
  StrataError,
} from '../core/errors.js';
import { failpoint } from '../core/failpoints.js';
import { fileChunks, sha256Chunks, sha256Handle, sha256Hex } from '../core/hash.js';
import { compareKeys, validateKey, validatePrefix } from './keys.js';
import { errCode, ioError, isMissing } from './local/errors.js';
import { EtagCache, type FileVersion, fileVersion } from './local/etag-cache.js';
import { StoreLock } from './local/lock.js';
import {
  checkGivenSha256,
  type ObjectInfo,
  type ObjectStore,
  type PutFileOptions,
  type PutOptions,
} from './object-store.js';

export interface LocalStoreOptions {
  /** How long a mutation waits for the cross-process lock before a transient StoreError (default 10 s). */
  lockTimeoutMs?: number;
  /**
   * Test hook: runs while the cross-process lock is held, before the precondition check. Lets tests hold
   * the lock (and be SIGKILLed holding it). Never set it in production code.
   */
  onLocked?: (key: string) => void | Promise<void>;
}

/** A file written for an object, ready to be renamed into place. */
interface Written {
  size: number;
  sha256: string;
  mtime: Date;
  version: FileVersion;
}

/**
 * Copies the whole of `src` into `dst`, hashing what passes; calls `atHalf` once, after `half` bytes are
 * written (before anything when half = 0).
 */
async function copyHashing(
  src: FileHandle,
  dst: FileHandle,
  half: number,
  atHalf: () => void,
): Promise<{ sha256: string; size: number }> {
  let total = 0;
  let fired = false;
  if (half <= 0) {
    atHalf();
    fired = true;
  }
  const hashed = await sha256Chunks(fileChunks(src), async (chunk) => {
    if (!fired && total + chunk.byteLength >= half) {
      const first = half - total;
      await writeAll(dst, chunk.subarray(0, first));
      atHalf();
      fired = true;
      await writeAll(dst, chunk.subarray(first));
    } else {
      await writeAll(dst, chunk);
    }
    total += chunk.byteLength;
  });
  if (!fired) atHalf();
  return hashed;
}

export class LocalStore implements ObjectStore {
  readonly kind = 'local';
  readonly url: string;
  /** Absolute path of the store's root directory. */
  readonly root: string;
  readonly #objects: string;
  readonly #tmp: string;
  readonly #scratch: string;
  readonly #lock: StoreLock;
  readonly #etags = new EtagCache();
  /** Temp files this instance is writing right now (removeTempFiles leaves them alone). */
  readonly #active = new Set<string>();
  /** Directories under objects/ whose entry, and every ancestor's up to objects/, this instance made durable. */
  readonly #durableDirs = new Set<string>();

  constructor(rootDir: string, opts: LocalStoreOptions = {}) {
    this.root = resolve(rootDir);
    this.url = pathToFileURL(this.root).href;
    this.#objects = join(this.root, 'objects');
    this.#tmp = join(this.root, '.tmp');
    this.#scratch = join(this.root, '.scratch');
    try {
      const made = [this.#objects, this.#tmp, this.#scratch]
        .map((d) => mkdirSync(d, { recursive: true }))
        .filter((m): m is string => m !== undefined)
        .sort((a, b) => a.length - b.length)[0];
      // Make the entries of the store's own directories durable: the root's (objects, .tmp, .scratch) and
      // the root's own in its parent, and every new ancestor's. Also when they all existed: a process that
      // died between creating them and this fsync left them on disk but not yet durable, and a power cut
      // would take every object put since with them.
      const top = made !== undefined && made.length < this.root.length ? dirname(made) : dirname(this.root);
      for (let d = this.root; ; d = dirname(d)) {
        const fd = openSync(d, 'r');
        try {
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        if (d === top || d === dirname(d)) break;
      }
      this.#lock = new StoreLock(this.root, {
        timeoutMs: opts.lockTimeoutMs ?? 10_000,
        onLocked: opts.onLocked,
      });
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
      const sha = sha256Hex(body);
      this.#etags.set(key, st, sha);
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
      if (isMissing(e)) return undefined;
      throw ioError('head failed', e, { key });
    }
    try {
      const st = await fh.stat({ bigint: true });
      if (!st.isFile()) return undefined;
      let sha = this.#etags.get(key, st);
      if (sha === undefined) {
        sha = (await sha256Handle(fh)).sha256;
        this.#etags.set(key, st, sha);
      }
      return { key, size: Number(st.size), etag: sha, sha256: sha, lastModified: st.mtime };
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw ioError('head failed', e, { key });
    } finally {
      await fh.close();
    }
  }

  async put(key: string, body: Uint8Array | string, opts: PutOptions = {}): Promise<ObjectInfo> {
    this.localPath(key);
    this.#assertOpen();
    const data = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const sha256 = sha256Hex(data);
    checkGivenSha256(opts.sha256, sha256, { key });
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
          const { sha256 } = await sha256Handle(fh);
          await fh.sync();
          written = this.#written(await fh.stat({ bigint: true }), sha256);
        } finally {
          await fh.close();
        }
      } else {
        written = await this.#copyIn(path, tmp, key);
      }
      checkGivenSha256(opts.sha256, written.sha256, { key });
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
    try {
      const st = await src.stat({ bigint: true });
      if (!st.isFile()) throw new NotFoundError('no object at this key', { key });
      await mkdir(dirname(dest), { recursive: true });
      const { sha256, size } = await replaceFileDurable(dest, async (dst) => {
        const copied = await sha256Chunks(fileChunks(src), (chunk) => writeAll(dst, chunk));
        if (copied.size !== Number(st.size)) {
          throw new StoreError('object changed size while it was read', { key }, { transient: true });
        }
        return copied;
      });
      this.#etags.set(key, st, sha256);
      return { key, size, etag: sha256, sha256, lastModified: st.mtime };
    } catch (e) {
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
        if (isMissing(e)) return;
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
              if (!isMissing(e)) throw ioError('list failed', e, { key: k });
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
      await this.#lock.run(key, async () => {
        try {
          await unlink(p);
        } catch (e) {
          if (isMissing(e) || errCode(e) === 'EPERM') return;
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
    await this.#lock.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---------------------------------------------------------------------------------------------------

  #assertOpen(): void {
    if (this.#lock.closed) throw new ClosedError('LocalStore', { file: this.root });
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

  #written(st: FileVersion & { mtime: Date }, sha256: string): Written {
    return { size: Number(st.size), sha256, mtime: st.mtime, version: fileVersion(st) };
  }

  #readError(e: unknown, key: string): StrataError {
    if (e instanceof StrataError) return e;
    if (isMissing(e)) return new NotFoundError('no object at this key', { key });
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
      const dfh = await open(tmp, 'wx', 0o644);
      try {
        const { sha256 } = await copyHashing(sfh, dfh, Math.floor(sst.size / 2), () =>
          failpoint('store.put.partial'),
        );
        await dfh.sync();
        return this.#written(await dfh.stat({ bigint: true }), sha256);
      } finally {
        await dfh.close();
      }
    } finally {
      await sfh.close();
    }
  }

  /**
   * Creates the directories up to `dir` and makes their entries durable, up to objects/. Also when `dir`
   * already existed, the first time this instance uses it: another process may have created it and died
   * before it fsynced the parent (then a power cut would take the directory, and every object acknowledged
   * in it since, away). Once made durable, a directory is remembered and costs nothing more.
   */
  async #ensureDir(dir: string, key: string): Promise<void> {
    if (this.#durableDirs.has(dir)) return;
    let exists = false;
    try {
      exists = (await stat(dir)).isDirectory();
    } catch {
      // create below
    }
    if (!exists) {
      try {
        await mkdir(dir, { recursive: true });
      } catch (e) {
        const c = errCode(e);
        if (c === 'ENOTDIR' || c === 'EEXIST') throw this.#conflict(key);
        throw e;
      }
    }
    const made: string[] = [];
    for (let d = dir; d !== this.#objects && d !== dirname(d); d = dirname(d)) {
      if (this.#durableDirs.has(d)) break;
      await fsyncDir(dirname(d));
      made.push(d);
    }
    for (const d of made) this.#durableDirs.add(d);
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
    await this.#lock.run(key, async () => {
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
      this.#etags.set(key, w.version, w.sha256);
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
      if (!isMissing(e)) throw e;
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
        const { sha256 } = await sha256Handle(fh);
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
}
