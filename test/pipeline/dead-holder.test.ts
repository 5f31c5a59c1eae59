/**
 * A lease whose holder is provably dead — same host, boot and pid namespace, its process
 * gone (not a reused pid: the start time is compared) — is taken over at once; a holder on another host
 * keeps its lease until it expires; a takeover fences the pointer so the superseded holder cannot publish.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/core/errors.js';
import { holderIsDead, type LeaseHolder, thisHolder } from '../../src/pipeline/holder.js';
import { readJson, writeJson } from '../../src/pipeline/json-object.js';
import { Keys } from '../../src/pipeline/layout.js';
import { isLeaseLive, Lease, type LeaseRecord, readLease } from '../../src/pipeline/lease.js';
import { readLedger } from '../../src/pipeline/ledger.js';
import { readPointer } from '../../src/pipeline/pointer.js';
import { publishVersion } from '../../src/pipeline/publish.js';
import type { VersionRef } from '../../src/pipeline/steps.js';
import { verifyCollection } from '../../src/pipeline/verify.js';
import { runCli } from '../helpers/cli.js';
import { ingestBatches, smallCollection, upserts } from '../helpers/pipeline.js';
import { tempStore } from '../helpers/tmp.js';

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  await once(child, 'spawn');
  const pid = child.pid!;
  child.kill('SIGKILL');
  await once(child, 'exit');
  return pid;
}

const me = () => thisHolder()!;

describe('dead-holder proof', () => {
  it('a live process is alive; a gone one, a zombie-free exit or a reused pid is dead; another host, boot or namespace proves nothing', async () => {
    expect(me()).toBeDefined();
    expect(holderIsDead(me())).toBe(false);
    const pid = await deadPid();
    expect(holderIsDead({ ...me(), pid })).toBe(true);
    // the pid exists (this process) but started at another time: a reused pid, not the holder
    expect(holderIsDead({ ...me(), start: String(Number(me().start) + 1) })).toBe(true);
    expect(holderIsDead({ ...me(), pid, host: 'some-other-host' })).toBe(false);
    expect(holderIsDead({ ...me(), pid, boot: '00000000-0000-0000-0000-000000000000' })).toBe(false);
    expect(holderIsDead({ ...me(), pid, pidns: 'pid:[1]' })).toBe(false);
    expect(holderIsDead(undefined)).toBe(false);
  });

  it('a live lease of a dead holder is taken over at once; one held on another host is not', async () => {
    await using t = await tempStore();
    const a = await Lease.acquire(t.store, 'c', { ttlMs: 60_000, heartbeatMs: 0 });
    const cur = await readJson<LeaseRecord>(t.store, Keys.lease('c'));
    const dead: LeaseHolder = { ...me(), pid: await deadPid() };
    await writeJson(t.store, Keys.lease('c'), { ...cur!.value, holder: dead }, { ifMatch: cur!.etag });
    expect(isLeaseLive(await readLease(t.store, 'c'))).toBe(false);
    const t0 = performance.now();
    const b = await Lease.acquire(t.store, 'c', { ttlMs: 60_000, heartbeatMs: 0 });
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(b.token).toBe(a.token + 1);
    expect(b.takeover).toMatchObject({ owner: a.owner, token: a.token, why: 'holder-dead' });
    expect((await readLease(t.store, 'c'))?.holder).toEqual(me());

    // across machines the expiry stands
    const now = await readJson<LeaseRecord>(t.store, Keys.lease('c'));
    const remote: LeaseHolder = { ...dead, host: 'another-machine' };
    await writeJson(t.store, Keys.lease('c'), { ...now!.value, holder: remote }, { ifMatch: now!.etag });
    await expect(Lease.acquire(t.store, 'c', { ttlMs: 60_000, heartbeatMs: 0 })).rejects.toMatchObject({
      code: ErrorCodes.LEASE_HELD,
      message: expect.stringContaining('on another-machine'),
    });
  });

  it('a takeover fences the pointer: the superseded holder cannot publish on the base it read', async () => {
    await using t = await tempStore();
    // only the pointer is written here: the version manifests it names need not exist
    const ref = (version: number): VersionRef => ({
      version,
      key: `collections/c/versions/v${version}.json`,
      sha256: String(version).repeat(64),
      contentHash: 'c'.repeat(64),
      count: 1,
      segments: 1,
      newBytes: 0,
    });
    let now = 1_000_000;
    const clock = () => now;
    const old = await Lease.acquire(t.store, 'c', { ttlMs: 1_000, heartbeatMs: 0, now: clock });
    await publishVersion(t.store, old, {
      collection: 'c',
      run: 'r1',
      version: ref(1),
      base: undefined,
      retain: 4,
    });
    const base = await readPointer(t.store, 'c');
    now += 5_000; // the old holder's lease lapsed by the taker's clock (skewed or frozen: it may not know)
    const taker = await Lease.acquire(t.store, 'c', { ttlMs: 60_000, heartbeatMs: 0, now: clock });
    expect(taker.takeover).toMatchObject({ why: 'expired', fencedVersion: 1 });
    const fenced = await readPointer(t.store, 'c');
    expect(fenced?.value).toEqual({ ...base!.value, fencingToken: taker.token });
    expect(fenced?.etag).not.toBe(base?.etag);
    // the old holder's publish on the base it read: refused by the pointer itself, whatever its clock says
    const stale = Object.create(old, { assertHeld: { value: async () => {} } }) as Lease;
    await expect(
      publishVersion(t.store, stale, {
        collection: 'c',
        run: 'r2',
        version: ref(2),
        base,
        retain: 4,
      }),
    ).rejects.toMatchObject({ code: ErrorCodes.POINTER_CONFLICT });
    expect((await readPointer(t.store, 'c'))?.value.version).toBe(1);
  });
});

describe('recovery without waiting: a SIGKILLed local compactor', () => {
  it('the next `strata compact` takes the dead compactor’s lease at once (default 60 s lease, no wait)', async () => {
    await using t = await tempStore();
    const config = await smallCollection(t.store);
    await ingestBatches(t.store, config, upserts(5, 60, 8), 10);
    const args = ['--dir', t.dir, '--json', 'compact', '-c', 'lines', '--runner', 'inline'];
    const crash = { STRATA_FAILPOINTS: 'publish.before-pointer=crash' };

    const first = await runCli(args, crash);
    expect(first.signal, first.stderr).toBe('SIGKILL');
    const left = await readLease(t.store, 'lines');
    expect(left?.released).toBeFalsy();
    expect(left!.expiresAt - Date.now()).toBeGreaterThan(30_000); // without the proof: a 30–60 s wait
    expect(left?.holder?.pid).toBeGreaterThan(0);
    expect((await readLedger(t.store, 'lines')).counts.compacting).toBe(0); // a dead holder compacts nothing
    const t0 = performance.now();
    const probe = await Lease.acquire(t.store, 'lines', { heartbeatMs: 0 });
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(1_000);
    expect(probe.takeover?.why).toBe('holder-dead');
    await probe.release();

    // crash again, then the CLI as a user runs it: no --wait-lease, default lease
    const second = await runCli(args, crash);
    expect(second.signal, second.stderr).toBe('SIGKILL');
    const next = await runCli(args);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout).toContain('"published"');
    expect((await verifyCollection(t.store, 'lines')).ok).toBe(true);
    expect((await readLedger(t.store, 'lines')).counts).toMatchObject({ pending: 0, promoted: 6 });
  });
});
