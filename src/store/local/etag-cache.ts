/**
 * The local store's etag cache: the SHA-256 of each object, remembered with the version of the file that
 * held it, so that head() of an unchanged file does not read it again. A hint only: preconditions are
 * always checked against a fresh hash, never against this cache.
 */

/** What tells one version of a file from another: device, inode, size and mtime (ns). */
export interface FileVersion {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
}

/** The version fields of a `stat({ bigint: true })` result. */
export function fileVersion(st: FileVersion): FileVersion {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs };
}

export class EtagCache {
  readonly #entries = new Map<string, FileVersion & { sha256: string }>();
  readonly #max: number;

  /** Holds at most `max` keys; past that, the one stored longest ago goes. */
  constructor(max = 10_000) {
    this.#max = max;
  }

  /** The SHA-256 remembered for `key` if it was remembered for this very version of the file. */
  get(key: string, v: FileVersion): string | undefined {
    const c = this.#entries.get(key);
    return c && c.dev === v.dev && c.ino === v.ino && c.size === v.size && c.mtimeNs === v.mtimeNs
      ? c.sha256
      : undefined;
  }

  set(key: string, v: FileVersion, sha256: string): void {
    this.#entries.delete(key);
    this.#entries.set(key, { ...fileVersion(v), sha256 });
    if (this.#entries.size > this.#max) {
      const first = this.#entries.keys().next();
      if (!first.done) this.#entries.delete(first.value);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }
}
