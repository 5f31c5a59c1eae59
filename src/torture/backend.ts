/**
 * Where a run's store lives. The campaign talks to a backend only through this interface, so the S3
 * backend (a real S3-compatible server per campaign, one bucket prefix per run, and a `restart()` that
 * kills and restarts the server mid-upload) plugs in without touching the runs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore } from '../store/local-store.js';
import type { ObjectStore } from '../store/object-store.js';

export interface RunStore {
  /** What child processes pass to openStore() (a directory, or s3://bucket/prefix?endpoint=…). */
  spec: string;
  store: ObjectStore;
  /** A private directory of the run on local disk (failpoint markers, scratch). */
  tmp: string;
  /** Closes the store and removes everything the run wrote. */
  close(): Promise<void>;
}

export interface StoreBackend {
  readonly kind: string;
  open(label: string): Promise<RunStore>;
  /** Backends with a server: kill it and start it again (SIGKILL, then wait for health). */
  restart?(): Promise<void>;
}

export class LocalBackend implements StoreBackend {
  readonly kind = 'local';
  async open(label: string): Promise<RunStore> {
    const tmp = await mkdtemp(join(tmpdir(), `strata-torture-${label}-`));
    const spec = join(tmp, 'store');
    const store = await LocalStore.open(spec);
    return {
      spec,
      store,
      tmp,
      async close() {
        await store.close();
        await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      },
    };
  }
}
