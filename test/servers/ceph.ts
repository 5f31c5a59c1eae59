/**
 * A one-node Ceph cluster with radosgw for tests: one ceph-mon, one ceph-osd on memstore (RAM only), one
 * radosgw (beast) on a free 127.0.0.1 port; auth off; all state under one temp directory (CEPH_CONF
 * points there, nothing touches /etc/ceph or /var/lib/ceph). Boots in ~15 s on 2 cores.
 *
 * Readiness is real: the monitor answers `ceph mon stat`, the OSD is reported up, the gateway answers
 * an anonymous S3 request with 200, and a user and a bucket are created through it.
 * Debian packages: scripts/servers/ceph.txt (ceph-mon ceph-osd radosgw ceph-common).
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, OwnedProcess, run, waitUntil } from './process.js';
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

function conf(dir: string, fsid: string, monPort: number, rgwPort: number, memstoreBytes: number): string {
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

[client.rgw.test]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw dns name = 127.0.0.1
rgw enable usage log = false
rgw thread pool size = 64
rgw gc processor period = 3600
`;
}

/** Starts the cluster; throws (with the daemons' output) if any part does not come up. */
export async function startCeph(opts: CephOptions = {}): Promise<S3TestServer> {
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
  const [monPort, rgwPort] = [await freePort(), await freePort()];
  const confPath = join(dir, 'ceph.conf');
  await writeFile(confPath, conf(dir, randomUUID(), monPort, rgwPort, opts.memstoreBytes ?? 1 << 30));
  const env = { ...process.env, CEPH_CONF: confPath };
  const cli = (args: string[], timeoutMs = 30_000) =>
    run('ceph', ['--conf', confPath, '--connect-timeout', '10', ...args], { env, timeoutMs });
  const procs: OwnedProcess[] = [];
  const stopAll = async () => {
    // gateway first, then the OSD, then the monitor; each awaited
    for (const p of [...procs].reverse()) await p.stop();
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (opts.bootTimeoutMs ?? 90_000);
  const left = () => Math.max(1_000, deadline - Date.now());
  const deadDaemon = () => {
    const dead = procs.find((p) => !p.running);
    return dead ? `${dead.name} exited early:\n${dead.output}` : undefined;
  };
  const accessKeyId = `STRATA${randomUUID().replaceAll('-', '').slice(0, 14).toUpperCase()}`;
  const secretAccessKey = randomUUID().replaceAll('-', '') + randomUUID().replaceAll('-', '');
  const bucket = opts.bucket ?? 'strata-test';
  try {
    // monitor
    await run('ceph-mon', ['--conf', confPath, '--id', 'a', '--mkfs', '--keyring', '/dev/null'], { env });
    await writeFile(join(dir, 'mon-a', 'keyring'), '');
    procs.push(new OwnedProcess('ceph-mon', 'ceph-mon', ['--conf', confPath, '--id', 'a', '-f'], { env }));
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
    procs.push(new OwnedProcess('ceph-osd', 'ceph-osd', ['--conf', confPath, '--id', '0', '-f'], { env }));
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
    // the gateway (creates its pools on start)
    procs.push(
      new OwnedProcess('radosgw', 'radosgw', ['--conf', confPath, '-n', 'client.rgw.test', '-f'], { env }),
    );
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await waitUntil(
      'radosgw answers S3',
      async () => {
        const r = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(2_000) });
        await r.arrayBuffer();
        return r.status === 200 ? true : undefined;
      },
      { timeoutMs: left(), everyMs: 200, alive: deadDaemon },
    );
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
        accessKeyId,
        '--secret-key',
        secretAccessKey,
      ],
      { env, timeoutMs: 30_000 },
    );
    const region = 'us-east-1';
    await waitUntil(
      'bucket creation',
      async () => {
        await createBucket(endpoint, region, { accessKeyId, secretAccessKey }, bucket);
        return true;
      },
      { timeoutMs: left(), everyMs: 250, alive: deadDaemon },
    );
    return describeServer({
      name: 'ceph',
      endpoint,
      region,
      accessKeyId,
      secretAccessKey,
      bucket,
      ifMatchQuoting: 'unquoted',
      stop: stopAll,
    });
  } catch (e) {
    const logs = procs
      .map((p) => `--- ${p.name} (${p.running ? 'running' : 'exited'}):\n${p.output}`)
      .join('\n');
    await stopAll();
    throw new Error(`Ceph test cluster did not start: ${(e as Error).message}\n${logs}`, { cause: e });
  }
}
