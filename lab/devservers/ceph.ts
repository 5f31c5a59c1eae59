/**
 * A one-node Ceph cluster with radosgw for tests and the torture campaign: one ceph-mon, one ceph-osd on
 * memstore (RAM only), one or more radosgw (beast) gateways, each on its own free 127.0.0.1 port; auth
 * off; all state under one temp directory (CEPH_CONF points there, nothing touches /etc/ceph or
 * /var/lib/ceph).
 *
 * Readiness is real: the monitor answers `ceph mon stat`, the OSD is reported up, the gateway answers
 * an anonymous S3 request with 200, and a user and a bucket are created through it.
 *
 * Gateways are stateless in front of RADOS: `addGateway()` starts another one on the same cluster (same
 * users and buckets), and `gateway.restart()` SIGKILLs one and starts it again on the same port — what
 * the torture campaign does mid-upload. Objects live in the OSD, so they survive a gateway restart.
 * Debian packages: scripts/servers/ceph.txt (ceph-mon ceph-osd radosgw ceph-common).
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OwnedProcess } from '../../src/core/child-process.js';
import { freePort, run, waitUntil } from './process.js';
import { createBucket, describeServer, type S3TestServer } from './s3-server.js';

const BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'ceph', 'radosgw-admin'];

function findBinary(name: string): string | undefined {
  for (const d of ['/usr/bin', '/usr/sbin', '/usr/local/bin']) {
    const p = join(d, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

export interface CephOptions {
  bucket?: string;
  /** RAM for the memstore OSD (default 1 GiB; memstore allocates lazily). */
  memstoreBytes?: number;
  bootTimeoutMs?: number;
}

function conf(dir: string, fsid: string, monPort: number, memstoreBytes: number): string {
  return `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
mon initial members = a
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
ms mon client mode = crc
ms bind ipv4 = true
ms bind ipv6 = false
keyring = /dev/null
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
log file = ${dir}/log/$name.log
log to stderr = false
err to stderr = true
debug ms = 0
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
osd objectstore = memstore
memstore device bytes = ${memstoreBytes}
osd data = ${dir}/osd-$id
osd max object name len = 460
osd max object namespace len = 64
rgw data = ${dir}/rgw

[mon.a]
mon data = ${dir}/mon-a
public addrv = v2:127.0.0.1:${monPort}

[client]
rgw dns name = 127.0.0.1
rgw enable usage log = false
rgw thread pool size = 64
rgw gc processor period = 3600
`;
}

/** One radosgw process in front of the cluster, on a fixed loopback port. */
export class CephGateway {
  readonly name: string;
  readonly endpoint: string;
  #proc: OwnedProcess | undefined;
  #restarting: Promise<void> | undefined;
  readonly restarts = { count: 0 };

  constructor(
    private readonly confPath: string,
    private readonly env: NodeJS.ProcessEnv,
    id: string,
    readonly port: number,
  ) {
    this.name = `client.rgw.${id}`;
    this.endpoint = `http://127.0.0.1:${port}`;
  }

  get running(): boolean {
    return this.#proc?.running ?? false;
  }

  get output(): string {
    return this.#proc?.output ?? '';
  }

  /** Starts the process and waits until it answers an anonymous S3 request with 200. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.running) return;
    const proc = new OwnedProcess(
      `radosgw ${this.name}`,
      'radosgw',
      [
        '--conf',
        this.confPath,
        '-n',
        this.name,
        '-f',
        '--rgw_frontends',
        `beast endpoint=127.0.0.1:${this.port}`,
      ],
      { env: this.env },
    );
    this.#proc = proc;
    await waitUntil(
      `${this.name} answers S3 on ${this.endpoint}`,
      async () => {
        const r = await fetch(`${this.endpoint}/`, { signal: AbortSignal.timeout(2_000) });
        await r.arrayBuffer();
        return r.status === 200 ? true : undefined;
      },
      {
        timeoutMs,
        everyMs: 100,
        alive: () => (proc.running ? undefined : `radosgw exited early:\n${proc.output}`),
      },
    );
  }

  /**
   * SIGKILL: requests in flight are cut (the socket closes mid-body); resolves once it has exited, with
   * whether there was a running process to kill.
   */
  async kill(): Promise<boolean> {
    const p = this.#proc;
    if (!p?.kill('SIGKILL')) return false;
    await p.exited;
    return true;
  }

  /**
   * SIGKILL, stay down `downMs`, start again on the same port and wait for health. Concurrent calls
   * share one restart; the call that started it resolves true if it killed a running gateway (counted in
   * `restarts`), the others false.
   */
  restart(downMs = 0): Promise<boolean> {
    if (this.#restarting) return this.#restarting.then(() => false);
    const run = (async () => {
      try {
        const killed = await this.kill();
        if (killed) this.restarts.count++;
        if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
        await this.start();
        return killed;
      } finally {
        this.#restarting = undefined;
      }
    })();
    this.#restarting = run.then(() => undefined);
    return run;
  }

  async stop(): Promise<void> {
    await this.#restarting?.catch(() => undefined);
    await this.#proc?.stop();
  }
}

export interface CephCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** A running one-node cluster: its monitor, OSD and gateways, a user and a bucket. */
export class CephCluster {
  readonly region = 'us-east-1';
  readonly #gateways: CephGateway[] = [];
  #next = 0;

  private constructor(
    readonly dir: string,
    private readonly confPath: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly daemons: OwnedProcess[],
    readonly credentials: CephCredentials,
    readonly bucket: string,
  ) {}

  /** Starts the cluster with one gateway; throws (with the daemons' output) if any part does not come up. */
  static async start(opts: CephOptions = {}): Promise<CephCluster> {
    const missing = BINARIES.filter((b) => !findBinary(b));
    if (missing.length > 0) {
      throw new Error(
        `Ceph test cluster cannot start: ${missing.join(', ')} not installed. ` +
          'Run `node scripts/setup.mjs --servers` (installs the packages in scripts/servers/ceph.txt).',
      );
    }
    const dir = await mkdtemp(join(tmpdir(), 'strata-ceph-'));
    await Promise.all(
      ['run', 'log', 'mon-a', 'osd-0', 'rgw'].map((d) => mkdir(join(dir, d), { recursive: true })),
    );
    const monPort = await freePort();
    const confPath = join(dir, 'ceph.conf');
    await writeFile(confPath, conf(dir, randomUUID(), monPort, opts.memstoreBytes ?? 1 << 30));
    const env = { ...process.env, CEPH_CONF: confPath };
    const cli = (args: string[], timeoutMs = 30_000) =>
      run('ceph', ['--conf', confPath, '--connect-timeout', '10', ...args], { env, timeoutMs });
    const daemons: OwnedProcess[] = [];
    const credentials = {
      accessKeyId: `STRATA${randomUUID().replaceAll('-', '').slice(0, 14).toUpperCase()}`,
      secretAccessKey: randomUUID().replaceAll('-', '') + randomUUID().replaceAll('-', ''),
    };
    const cluster = new CephCluster(dir, confPath, env, daemons, credentials, opts.bucket ?? 'strata-test');
    const deadline = Date.now() + (opts.bootTimeoutMs ?? 90_000);
    const left = () => Math.max(1_000, deadline - Date.now());
    const deadDaemon = () => {
      const dead = daemons.find((p) => !p.running);
      return dead ? `${dead.name} exited early:\n${dead.output}` : undefined;
    };
    try {
      // monitor
      await run('ceph-mon', ['--conf', confPath, '--id', 'a', '--mkfs', '--keyring', '/dev/null'], { env });
      await writeFile(join(dir, 'mon-a', 'keyring'), '');
      daemons.push(
        new OwnedProcess('ceph-mon', 'ceph-mon', ['--conf', confPath, '--id', 'a', '-f'], { env }),
      );
      await waitUntil('ceph-mon', async () => ((await cli(['mon', 'stat'], 10_000)) ? true : undefined), {
        timeoutMs: left(),
        everyMs: 200,
        alive: deadDaemon,
      });
      // one OSD on memstore
      const id = (await cli(['osd', 'create'])).trim();
      if (id !== '0') throw new Error(`ceph osd create returned ${JSON.stringify(id)}, expected 0`);
      await cli(['osd', 'crush', 'add', 'osd.0', '1', 'root=default']);
      await run('ceph-osd', ['--conf', confPath, '--id', '0', '--mkfs'], { env, timeoutMs: 60_000 });
      daemons.push(
        new OwnedProcess('ceph-osd', 'ceph-osd', ['--conf', confPath, '--id', '0', '-f'], { env }),
      );
      await waitUntil(
        'ceph-osd up',
        async () => {
          const s = JSON.parse(await cli(['osd', 'stat', '--format', 'json'], 10_000)) as {
            num_up_osds?: number;
            osdmap?: { num_up_osds?: number };
          };
          return (s.num_up_osds ?? s.osdmap?.num_up_osds ?? 0) >= 1 ? true : undefined;
        },
        { timeoutMs: left(), everyMs: 250, alive: deadDaemon },
      );
      // the first gateway (creates its pools on start), a user, a bucket
      const gw = await cluster.addGateway(left());
      await run(
        'radosgw-admin',
        [
          '--conf',
          confPath,
          'user',
          'create',
          '--uid',
          'strata',
          '--display-name',
          'strata tests',
          '--access-key',
          credentials.accessKeyId,
          '--secret-key',
          credentials.secretAccessKey,
        ],
        { env, timeoutMs: 30_000 },
      );
      await waitUntil(
        'bucket creation',
        async () => {
          await createBucket(gw.endpoint, cluster.region, credentials, cluster.bucket);
          return true;
        },
        { timeoutMs: left(), everyMs: 250, alive: deadDaemon },
      );
      return cluster;
    } catch (e) {
      const logs = [
        ...daemons.map((p) => ({ name: p.name, running: p.running, output: p.output })),
        ...cluster.#gateways,
      ]
        .map((p) => `--- ${p.name} (${p.running ? 'running' : 'exited'}):\n${p.output}`)
        .join('\n');
      await cluster.stop();
      throw new Error(`Ceph test cluster did not start: ${(e as Error).message}\n${logs}`, { cause: e });
    }
  }

  /** The gateways started so far (the first one serves `server()`). */
  get gateways(): readonly CephGateway[] {
    return this.#gateways;
  }

  /** Starts one more gateway on a free port, in front of the same users and buckets. */
  async addGateway(timeoutMs = 60_000): Promise<CephGateway> {
    const gw = new CephGateway(this.confPath, this.env, `gw${this.#next++}`, await freePort());
    this.#gateways.push(gw);
    await gw.start(timeoutMs);
    return gw;
  }

  /** The S3 test-server view of one gateway (default: the first); its stop() stops the whole cluster. */
  server(gateway: CephGateway = this.#gateways[0]!): S3TestServer {
    return describeServer({
      name: 'ceph',
      endpoint: gateway.endpoint,
      region: this.region,
      ...this.credentials,
      bucket: this.bucket,
      ifMatchQuoting: 'unquoted',
      stop: () => this.stop(),
    });
  }

  /** Gateways first, then the OSD, then the monitor; each awaited; then the directory goes. */
  async stop(): Promise<void> {
    for (const g of this.#gateways) await g.stop();
    for (const p of [...this.daemons].reverse()) await p.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Starts a cluster and returns its first gateway as an S3 test server (stopping it stops the cluster). */
export async function startCeph(opts: CephOptions = {}): Promise<S3TestServer> {
  return (await CephCluster.start(opts)).server();
}
