import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Durability helpers shared by the engine and the stores. Segment files are written with SQLite's sync
 * turned off and usearch's plain fwrite, and store objects go through temp files, so nothing is on stable
 * storage until these run. Every handle opened here is closed before the promise resolves, also on failure.
 */

/** Writes all of `data` at the handle's position (a single write may be short). */
export async function writeAll(fh: FileHandle, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.byteLength) {
    const { bytesWritten } = await fh.write(data, off, data.byteLength - off);
    off += bytesWritten;
  }
}

/** fsync one file's data and metadata. The file must be closed by its writer first. */
export async function fsyncFile(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync a directory, making created/renamed/deleted entries in it durable. No-op on Windows. */
export async function fsyncDir(path: string): Promise<void> {
  if (process.platform === 'win32') return;
  await fsyncFile(path);
}

/**
 * Write a file so that a crash leaves either no file or the complete one: temp file in the same
 * directory, fsync, close, rename over the target, fsync the directory.
 */
export async function writeFileDurable(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  const fh = await open(tmp, 'wx');
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(dir);
}

/**
 * Replaces `dest` with a file that `write` fills, so that a crash leaves the old file or the complete new
 * one: a temp file beside `dest` (unique to this call), written, fsynced, closed, renamed over `dest`, the
 * directory fsynced. `write` may throw to refuse what it wrote (a checksum that does not match): the temp
 * file is removed on every failure. The directory must exist. Returns what `write` returned.
 */
export async function replaceFileDurable<T>(dest: string, write: (fh: FileHandle) => Promise<T>): Promise<T> {
  const dir = dirname(dest);
  const tmp = join(dir, `.${basename(dest)}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', 0o644);
    let result: T;
    try {
      result = await write(fh);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, dest);
    await fsyncDir(dir);
    return result;
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}
