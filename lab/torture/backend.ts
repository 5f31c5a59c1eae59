/**
 * Where a run's store lives. The campaign talks to a backend only through this interface: the local
 * backend (a temp directory per run) here, the Ceph backend (one cluster per campaign, a gateway and a
 * bucket prefix per run, `restart()` kills the gateway mid-upload) in backend-ceph.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore } from '../../src/store/local-store.js';
import type { ObjectStore } from '../../src/store/object-store.js';
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
  /** Closes the store and removes everything the run wrote. */
  close(): Promise<void>;
}

export interface StoreBackend {
  readonly kind: string;
  open(label: string): Promise<RunStore>;
  /** Stops what the backend started (servers). */
  close(): Promise<void>;
}

export class LocalBackend implements StoreBackend {
  readonly kind = 'local';
  /** With a size, each run's store (and so its scratch directory) lives on a tmpfs of that many MiB. */
  constructor(readonly smallFsMb?: number) {}

  async open(label: string): Promise<RunStore> {
    const tmp = await mkdtemp(join(tmpdir(), `strata-torture-${label}-`));
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
