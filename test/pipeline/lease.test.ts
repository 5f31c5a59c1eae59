import { describe, expect, it } from 'vitest';
import { ErrorCodes, FencedError, type StrataError } from '../../src/core/errors.js';
import { Lease, readLease } from '../../src/pipeline/lease.js';
import { readPointer } from '../../src/pipeline/pointer.js';
import { publishVersion } from '../../src/pipeline/publish.js';
import type { VersionRef } from '../../src/pipeline/steps.js';
import { tempStore } from '../helpers/tmp.js';

const ref = (key: string, version: number): VersionRef => ({
  version,
  key,
  sha256: 'm'.repeat(64),
  count: 1,
  contentHash: 'c'.repeat(64),
  segments: 1,
  newBytes: 0,
});

describe('lease', () => {
  it('is exclusive, and every acquisition gets a larger fencing token', async () => {
    await using t = await tempStore();
    const a = await Lease.acquire(t.store, 'c', { ttlMs: 5_000, heartbeatMs: 0 });
    await expect(Lease.acquire(t.store, 'c', { ttlMs: 5_000, heartbeatMs: 0 })).rejects.toMatchObject({
      code: ErrorCodes.LEASE_HELD,
    });
    await a.release();
    const b = await Lease.acquire(t.store, 'c', { ttlMs: 5_000, heartbeatMs: 0 });
    expect(b.token).toBeGreaterThan(a.token);
    await b.release();
  });

  it('an expired lease is taken over; the old holder cannot heartbeat it back', async () => {
    await using t = await tempStore();
    let now = 1_000_000;
    const clock = () => now;
    const a = await Lease.acquire(t.store, 'c', { ttlMs: 1_000, heartbeatMs: 0, now: clock });
    now += 2_000; // a is frozen past its lease (SIGSTOP, GC pause, network partition)
    const b = await Lease.acquire(t.store, 'c', { ttlMs: 1_000, heartbeatMs: 0, now: clock });
    expect(b.token).toBe(a.token + 1);
    await expect(a.heartbeat()).rejects.toMatchObject({ code: ErrorCodes.LEASE_LOST });
    await expect(a.assertHeld()).rejects.toMatchObject({ code: ErrorCodes.LEASE_LOST });
    expect((await readLease(t.store, 'c'))?.owner).toBe(b.owner);
    await b.heartbeat();
    await b.release();
  });

  it('concurrent acquirers: exactly one wins', async () => {
    await using t = await tempStore();
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, () => Lease.acquire(t.store, 'c', { ttlMs: 10_000, heartbeatMs: 0 })),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results)
      if (r.status === 'rejected') expect((r.reason as StrataError).code).toBe(ErrorCodes.LEASE_HELD);
    await (won[0] as PromiseFulfilledResult<Lease>).value.release();
  });
});

describe('publish', () => {
  it('a stale compactor (lease taken over) cannot publish; the new holder can', async () => {
    await using t = await tempStore();
    let now = 1_000_000;
    const clock = () => now;
    const stale = await Lease.acquire(t.store, 'c', { ttlMs: 1_000, heartbeatMs: 0, now: clock });
    now += 5_000;
    const fresh = await Lease.acquire(t.store, 'c', { ttlMs: 60_000, heartbeatMs: 0, now: clock });
    await expect(
      publishVersion(t.store, stale, {
        collection: 'c',
        run: 'r1',
        version: ref('s1/', 1),
        base: undefined,
        retain: 4,
      }),
    ).rejects.toMatchObject({ code: ErrorCodes.LEASE_LOST });
    expect(await readPointer(t.store, 'c')).toBeUndefined();
    const p = await publishVersion(t.store, fresh, {
      collection: 'c',
      run: 'r2',
      version: ref('s2/', 1),
      base: undefined,
      retain: 4,
    });
    expect(p.fencingToken).toBe(fresh.token);
  });

  it('refuses a swap whose base moved, and one fenced by a newer token', async () => {
    await using t = await tempStore();
    const l1 = await Lease.acquire(t.store, 'c', { ttlMs: 60_000, heartbeatMs: 0 });
    await publishVersion(t.store, l1, {
      collection: 'c',
      run: 'r1',
      version: ref('s1/', 1),
      base: undefined,
      retain: 4,
    });
    const base = await readPointer(t.store, 'c');
    await publishVersion(t.store, l1, {
      collection: 'c',
      run: 'r2',
      version: ref('s2/', 2),
      base,
      retain: 4,
    });
    // r3 built on v1 (stale base): conflict, never an overwrite
    await expect(
      publishVersion(t.store, l1, {
        collection: 'c',
        run: 'r3',
        version: ref('s3/', 2),
        base,
        retain: 4,
      }),
    ).rejects.toMatchObject({ code: ErrorCodes.POINTER_CONFLICT });
    await l1.release();
    const l2 = await Lease.acquire(t.store, 'c', { ttlMs: 60_000, heartbeatMs: 0 });
    const cur = await readPointer(t.store, 'c');
    await publishVersion(t.store, l2, {
      collection: 'c',
      run: 'r4',
      version: ref('s4/', 3),
      base: cur,
      retain: 2,
    });
    const after = await readPointer(t.store, 'c');
    expect(after?.value.manifest).toBe('s4/');
    expect(after?.value.retained.map((r) => r.manifest)).toEqual(['s2/']);
    // a holder with an older token, even with the right base, is fenced
    const fake = Object.create(l1, {
      token: { value: l1.token },
      assertHeld: { value: async () => {} },
    }) as typeof l1;
    await expect(
      publishVersion(t.store, fake, {
        collection: 'c',
        run: 'r5',
        version: ref('s5/', 4),
        base: after,
        retain: 4,
      }),
    ).rejects.toBeInstanceOf(FencedError);
    await l2.release();
  });
});
