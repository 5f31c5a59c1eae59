/**
 * A size-limited filesystem for disk-full tests: a tmpfs mounted with `size=` (needs root, as the tests
 * and CI run). Why tmpfs: it is a real kernel filesystem, so ENOSPC comes from the very syscalls Strata
 * makes (write, copy, SQLite's pages, the index save) and not from a simulation; it mounts in
 * milliseconds with no image file or loop device (often missing in containers) and leaves nothing on
 * disk. Unlike ext4 it allocates at write time, so ENOSPC arrives on a write rather than on a later
 * fsync; both end in the same coded error. `fill()` takes all but a few bytes of the free space with a
 * filler file (the disk "fills at that instant"); `unfill()` frees it.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class SmallFs {
  readonly dir: string;
  #fillers = 0;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Mounts a tmpfs of `sizeMb` MiB on a fresh directory; throws (with the reason) when it cannot. */
  static mount(sizeMb: number): SmallFs {
    const dir = mkdtempSync(join(tmpdir(), 'strata-smallfs-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0700`, 'tmpfs', dir], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      const err = (e as { stderr?: Buffer }).stderr?.toString().trim();
      throw new Error(
        `cannot mount a ${sizeMb} MiB tmpfs on ${dir} (disk-full tests need root and mount): ${err ?? e}`,
      );
    }
    return new SmallFs(dir);
  }

  /** Free bytes on the filesystem. */
  free(): number {
    const s = statfsSync(this.dir);
    return Number(s.bavail) * Number(s.bsize);
  }

  /** Fills the filesystem until at most `leaveBytes` are free; returns the filler's path. */
  fill(leaveBytes = 0): string {
    const path = join(this.dir, `.filler-${this.#fillers++}`);
    const fd = openSync(path, 'w');
    try {
      const chunk = Buffer.alloc(1 << 20, 0xa5);
      for (;;) {
        const want = this.free() - leaveBytes;
        if (want <= 0) break;
        try {
          writeSync(fd, chunk, 0, Math.min(chunk.length, want));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw e;
        }
      }
    } finally {
      closeSync(fd);
    }
    return path;
  }

  /** Removes every filler: the space is free again. */
  unfill(): void {
    for (let i = 0; i < this.#fillers; i++) {
      const p = join(this.dir, `.filler-${i}`);
      try {
        const fd = openSync(p, 'r+');
        ftruncateSync(fd, 0);
        closeSync(fd);
      } catch {
        // already gone
      }
      rmSync(p, { force: true });
    }
  }

  /** Unmounts (lazily, so a straggling handle cannot block it) and removes the mount point. */
  close(): void {
    try {
      execFileSync('umount', ['-l', this.dir], { stdio: 'ignore' });
    } catch {
      // not mounted any more
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
