import { type FileHandle, open, rename, rm } from 'node:fs/promises';
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
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
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
