/**
 * Where a run's store lives. The campaign talks to a backend only through this interface: the local
 * backend (a temp directory per run) here, the Ceph backend (one cluster per campaign, a gateway and a
 * bucket prefix per run, `restart()` kills the gateway mid-upload) in backend-ceph.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore } from '../../src/store/local-store.js';
import type { ObjectInfo, ObjectStore, PutFileOptions, PutOptions } from '../../src/store/object-store.js';
import { PowerFs, PowerFsError } from '../devservers/power-fs.js';
import { SmallFs } from '../devservers/small-fs.js';

export interface RunStore {
  /** What child processes pass to openStore() (a directory, or s3://bucket/prefix?endpoint=…). */
  spec: string;
  store: ObjectStore;
  /** A private directory of the run on local disk (failpoint markers, scratch). */
  tmp: string;
  /** What child processes need in their environment to open `spec` (credentials). */
  env: Record<string, string>;
  /**
   * Backends with a server: SIGKILL the run's server, keep it down `downMs`, start it again and wait
   * for health; true if this call killed it (false if it joined a restart already under way). Runs
   * without it never get the kill-s3-server episode.
   */
  restart?(downMs: number): Promise<boolean>;
  /** The size-limited filesystem the store lives on (disk-full episodes), if the backend made one. */
  smallFs?: SmallFs;
  /** The filesystem that forgets unsynced writes at a power cut (power-loss runs), and `store` on it. */
  power?: { fs: PowerFs; store: ReopenableStore };
  /** Closes the store and removes everything the run wrote. */
  close(): Promise<void>;
}

/** How a run wants its store. */
export interface OpenOptions {
  /** On a powerfs mount (seeded): the run cuts the power (power-loss episodes). Local backend only. */
  power?: { seed: number };
}

export interface StoreBackend {
  readonly kind: string;
  open(label: string, opts?: OpenOptions): Promise<RunStore>;
  /** Stops what the backend started (servers). */
  close(): Promise<void>;
}

export class LocalBackend implements StoreBackend {
  readonly kind = 'local';
  /** With a size, each run's store (and so its scratch directory) lives on a tmpfs of that many MiB. */
  constructor(readonly smallFsMb?: number) {}

  async open(label: string, opts: OpenOptions = {}): Promise<RunStore> {
    const tmp = await mkdtemp(join(tmpdir(), `strata-torture-${label}-`));
    if (opts.power) {
      let fs: PowerFs;
      try {
        fs = await PowerFs.mount(opts.power.seed);
      } catch (e) {
        await rm(tmp, { recursive: true, force: true });
        throw e;
      }
      const spec = join(fs.dir, 'store');
      const store = new ReopenableStore(spec, await LocalStore.open(spec));
      return {
        spec,
        store,
        tmp,
        env: {},
        power: { fs, store },
        async close() {
          await store.close();
          await fs.close();
          await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
        },
      };
    }
    const smallFs = this.smallFsMb ? SmallFs.mount(this.smallFsMb) : undefined;
    const spec = join(smallFs?.dir ?? tmp, 'store');
    const store = await LocalStore.open(spec);
    return {
      spec,
      store,
      tmp,
      env: {},
      ...(smallFs ? { smallFs } : {}),
      async close() {
        await store.close();
        smallFs?.close();
        await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {}
}

/**
 * A LocalStore that can let go of its directory and open it again: a power cut unmounts the filesystem
 * under it (its lock database must be closed first), the reboot mounts the surviving state at the same
 * path. While suspended every call fails with PowerFsError.
 */
export class ReopenableStore implements ObjectStore {
  readonly kind = 'local';
  readonly url: string;
  #inner: LocalStore | undefined;

  constructor(
    readonly root: string,
    inner: LocalStore,
  ) {
    this.#inner = inner;
    this.url = inner.url;
  }

  get #s(): LocalStore {
    if (!this.#inner) throw new PowerFsError(`the store at ${this.root} is suspended (the power is off)`);
    return this.#inner;
  }

  /** Closes the store (before the power cut). */
  async suspend(): Promise<void> {
    const s = this.#inner;
    this.#inner = undefined;
    await s?.close();
  }

  /** Opens the store again (after the reboot). */
  async resume(): Promise<void> {
    this.#inner ??= await LocalStore.open(this.root);
  }

  get(key: string): Promise<Uint8Array> {
    return this.#s.get(key);
  }
  getObject(key: string): Promise<{ body: Uint8Array; info: ObjectInfo }> {
    return this.#s.getObject(key);
  }
  head(key: string): Promise<ObjectInfo | undefined> {
    return this.#s.head(key);
  }
  put(key: string, body: Uint8Array | string, opts?: PutOptions): Promise<ObjectInfo> {
    return this.#s.put(key, body, opts);
  }
  putFile(key: string, path: string, opts?: PutFileOptions): Promise<ObjectInfo> {
    return this.#s.putFile(key, path, opts);
  }
  getToFile(key: string, path: string): Promise<ObjectInfo> {
    return this.#s.getToFile(key, path);
  }
  list(prefix: string): Promise<ObjectInfo[]> {
    return this.#s.list(prefix);
  }
  delete(key: string): Promise<void> {
    return this.#s.delete(key);
  }
  localPath(key: string): string {
    return this.#s.localPath(key);
  }
  scratchDir(): string {
    return this.#s.scratchDir();
  }
  async close(): Promise<void> {
    await this.suspend();
  }
}
