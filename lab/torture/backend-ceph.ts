/**
 * The S3 backend of the campaign: one real one-node Ceph cluster (radosgw 16, the S3 server here that
 * honours conditional writes) for the whole campaign; each run gets a gateway of its own (a radosgw in
 * front of the same cluster, taken from a pool, so that killing it disturbs no other run) and a fresh
 * key prefix in the bucket, emptied when the run closes.
 *
 * `restart(downMs)` SIGKILLs the run's gateway (requests in flight are cut mid-body), keeps it down, starts
 * it on the same port and waits until it answers: objects live in the OSD and survive, as with a real S3
 * front end that crashes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Semaphore } from '../../src/core/semaphore.js';
import { S3Store } from '../../src/store/s3-store.js';
import { CephCluster, type CephGateway, type CephOptions } from '../devservers/ceph.js';
import type { RunStore, StoreBackend } from './backend.js';

/** Objects at least this large go through multipart upload in the campaign process (one part: 5 MiB min). */
const MULTIPART_THRESHOLD = 256 << 10;

export class CephBackend implements StoreBackend {
  readonly kind = 'ceph';
  readonly #free: CephGateway[] = [];
  #runs = 0;

  private constructor(readonly cluster: CephCluster) {}

  /** Starts the cluster; throws with the daemons' output if it does not come up. */
  static async start(opts: CephOptions = {}): Promise<CephBackend> {
    // memstore keeps objects in RAM; runs delete theirs when they close
    return new CephBackend(await CephCluster.start({ memstoreBytes: 4 * 2 ** 30, ...opts }));
  }

  /** Gateway restarts so far, over every run. */
  get restarts(): number {
    return this.cluster.gateways.reduce((n, g) => n + g.restarts.count, 0);
  }

  async open(label: string): Promise<RunStore> {
    const gateway = this.#free.pop() ?? (await this.cluster.addGateway());
    const server = this.cluster.server(gateway);
    const prefix = `run-${label}-${process.pid}-${++this.#runs}`;
    const store = new S3Store({ ...server.storeOptions(prefix), multipartThreshold: MULTIPART_THRESHOLD });
    const tmp = await mkdtemp(join(tmpdir(), `strata-torture-${label}-`));
    const free = this.#free;
    return {
      spec: server.storeSpec(prefix),
      store,
      tmp,
      env: server.env() as Record<string, string>,
      restart: (downMs: number) => gateway.restart(downMs),
      async close() {
        try {
          // a run may end while its gateway restarts (a timed-out run): wait for health, then clean up
          if (!gateway.running) await gateway.restart(0);
          const gate = new Semaphore(16);
          await Promise.all((await store.list('')).map((o) => gate.with(() => store.delete(o.key))));
        } finally {
          await store.close();
          await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
          free.push(gateway);
        }
      },
    };
  }

  async close(): Promise<void> {
    await this.cluster.stop();
  }
}
