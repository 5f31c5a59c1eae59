/**
 * Two compactors racing on the same collection through a real Ceph radosgw (lab/devservers/ceph.ts), the
 * only server installable here that honours S3 conditional writes with 412:
 *  1. two processes start compact() at the same instant: exactly one pointer swap, the other is refused;
 *  2. a compactor whose lease expired while it was paused before publishing (GC pause, partition): the new
 *     lease holder publishes, the stale one is fenced and its snapshot is never current;
 *  3. publishers with the same base hitting the pointer compare-and-swap at once: exactly one wins.
 * After each: the pointer names the winner, verification passes, and the derived ledger is consistent
 * (every accepted delta promoted exactly once, none pending or compacting).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCeph } from '../../lab/devservers/ceph.js';
import type { S3TestServer } from '../../lab/devservers/s3-server.js';
import { ErrorCodes, type StrataError } from '../../src/core/errors.js';
import { compact } from '../../src/pipeline/compact.js';
import type { StepExecutor } from '../../src/pipeline/executor.js';
import { Lease } from '../../src/pipeline/lease.js';
import { readLedger } from '../../src/pipeline/ledger.js';
import { type Pointer, readPointer } from '../../src/pipeline/pointer.js';
import { publishVersion } from '../../src/pipeline/publish.js';
import type { StepResult, StepTask, VersionRef } from '../../src/pipeline/steps.js';
import { verifyCollection } from '../../src/pipeline/verify.js';
import { InlineExecutor } from '../../src/runners/inline.js';
import type { S3Store } from '../../src/store/s3-store.js';
import { ReferenceModel } from '../helpers/model.js';
import { ingestBatches, smallCollection, upserts } from '../helpers/pipeline.js';
import { emptyAndClose, s3Store } from '../store/s3-fixture.js';

let server: S3TestServer;
beforeAll(async () => {
  server = await startCeph();
}, 120_000);
afterAll(async () => {
  await server?.stop();
}, 60_000);

const childScript = fileURLToPath(new URL('./compact-child.ts', import.meta.url));

interface ChildOutcome {
  status?: string;
  run?: string;
  snapshot?: { version: number; prefix: string; contentHash: string } | null;
  error?: { code: string; message: string };
}

function compactor(
  spec: string,
  collection: string,
): { proc: ChildProcess; ready: Promise<void>; done: Promise<ChildOutcome> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', childScript, spec, collection], {
    env: { ...process.env, ...server.env() },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  proc.stdout!.on('data', (b: Buffer) => {
    out += b.toString();
    if (out.includes('READY\n')) onReady();
  });
  proc.stderr!.on('data', (b: Buffer) => {
    err += b.toString();
  });
  const done = new Promise<ChildOutcome>((resolve, reject) => {
    proc.on('exit', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || !line) reject(new Error(`compactor exited ${code ?? signal}: ${out}\n${err}`));
      else resolve(JSON.parse(line) as ChildOutcome);
    });
  });
  // a child that dies before READY must fail the wait too
  return { proc, ready: Promise.race([ready, done.then(() => undefined)]), done };
}

/** The ledger agrees with the pointer: every delta promoted in `version`, nothing pending or compacting. */
async function expectConsistentLedger(store: S3Store, collection: string, deltas: number, version: number) {
  const ledger = await readLedger(store, collection);
  expect(ledger.counts).toEqual({
    pending: 0,
    compacting: 0,
    promoted: deltas,
    'rolled-back': 0,
    quarantined: 0,
  });
  expect(ledger.entries.every((e) => e.version === version)).toBe(true);
  expect(new Set(ledger.entries.map((e) => e.seqStart)).size).toBe(deltas);
}

/** Wraps an executor: the first final merge, once built, waits for `release` before it is handed back. */
class PausingExecutor implements StepExecutor {
  readonly name = 'pausing';
  readonly concurrency = 1;
  built!: Promise<StepResult>;
  #builtResolve!: (r: StepResult) => void;
  #release!: () => void;
  #gate: Promise<void>;
  #paused = false;
  constructor(private readonly inner: StepExecutor) {
    this.built = new Promise((r) => {
      this.#builtResolve = r;
    });
    this.#gate = new Promise((r) => {
      this.#release = r;
    });
  }
  release(): void {
    this.#release();
  }
  async run(task: StepTask): Promise<StepResult> {
    const r = await this.inner.run(task);
    if (task.kind === 'final' && !this.#paused) {
      this.#paused = true;
      this.#builtResolve(r);
      await this.#gate;
    }
    return r;
  }
  async close(): Promise<void> {
    await this.inner.close();
  }
}

describe('two compactors racing on one collection through Ceph', () => {
  it('two processes start together: exactly one pointer swap wins, the other publishes nothing', async () => {
    const store = s3Store(server);
    try {
      const config = await smallCollection(store, 'race', 8);
      const ops = upserts(11, 120, 8);
      await ingestBatches(store, config, ops, 20); // 6 deltas
      const spec = server.storeSpec(store.prefix);
      const racers = [compactor(spec, 'race'), compactor(spec, 'race')];
      await Promise.all(racers.map((r) => r.ready));
      for (const r of racers) r.proc.stdin!.end('go\n');
      const outcomes = await Promise.all(racers.map((r) => r.done));

      const winners = outcomes.filter((o) => o.status === 'published');
      expect(winners, JSON.stringify(outcomes)).toHaveLength(1);
      const loser = outcomes.find((o) => o !== winners[0])!;
      // refused by the lease while the winner ran, or (if it came late) found nothing left to do
      expect(
        loser.error?.code === ErrorCodes.LEASE_HELD || loser.status === 'nothing-to-do',
        JSON.stringify(loser),
      ).toBe(true);
      expect(loser.snapshot ?? null).toBeNull();

      const pointer = (await readPointer(store, 'race'))!.value;
      expect(pointer).toMatchObject({
        version: 1,
        run: winners[0]!.run,
        manifest: winners[0]!.snapshot!.prefix,
      });
      expect(pointer.contentHash).toBe(new ReferenceModel().applyAll(ops).contentHash());
      expect((await verifyCollection(store, 'race')).problems).toEqual([]);
      await expectConsistentLedger(store, 'race', 6, 1);
    } finally {
      await emptyAndClose(store);
    }
  }, 90_000);

  it('a compactor whose lease expired before publishing is fenced; its snapshot never becomes current', async () => {
    const storeA = s3Store(server);
    const storeB = s3Store(server, {}, storeA.prefix); // another client, as on another machine
    const stale = new PausingExecutor(new InlineExecutor(storeA, { retry: { attempts: 1 } }));
    const fresh = new InlineExecutor(storeB, { retry: { attempts: 1 } });
    try {
      const config = await smallCollection(storeA, 'stale', 8);
      const ops = upserts(12, 90, 8);
      await ingestBatches(storeA, config, ops, 15); // 6 deltas
      // A: short lease, no heartbeats (a frozen process); it builds its final merge, then pauses
      const runA = compact(storeA, 'stale', {
        executor: stale,
        chunkSize: 2,
        groupSize: 2,
        lease: { ttlMs: 1_500, heartbeatMs: 0 },
        merge: 'none',
      }).then(
        (r) => ({ ok: true as const, r }),
        (e: unknown) => ({ ok: false as const, e: e as StrataError }),
      );
      // A either builds its final merge and pauses before publishing, or — when its lease has already
      // lapsed by then — gives up before building an index for a publish that cannot happen.
      const first = await Promise.race([
        stale.built.then((r) => ({ built: r.version!.key })),
        runA.then(() => ({ built: undefined })),
      ]);
      const builtByA = first.built;
      // B: waits for A's lease to expire, takes it over (higher fencing token), compacts and publishes
      const b = await compact(storeB, 'stale', {
        executor: fresh,
        chunkSize: 2,
        groupSize: 2,
        lease: { ttlMs: 60_000, waitMs: 20_000 },
        merge: 'none',
      });
      expect(b.status).toBe('published');
      // A wakes up and tries to publish: refused, never an overwrite
      stale.release();
      const a = await runA;
      expect(a.ok).toBe(false);
      if (!a.ok) expect([ErrorCodes.FENCED, ErrorCodes.LEASE_LOST]).toContain(a.e.code);

      const pointer: Pointer = (await readPointer(storeA, 'stale'))!.value;
      expect(pointer).toMatchObject({ version: 1, run: b.run, manifest: b.snapshot!.prefix });
      if (builtByA) {
        expect(pointer.manifest).not.toBe(builtByA);
        expect(pointer.retained.map((r) => r.manifest)).not.toContain(builtByA);
      }
      expect(pointer.contentHash).toBe(new ReferenceModel().applyAll(ops).contentHash());
      expect((await verifyCollection(storeB, 'stale')).problems).toEqual([]);
      await expectConsistentLedger(storeB, 'stale', 6, 1);
    } finally {
      stale.release();
      await stale.close();
      await fresh.close();
      await storeB.close();
      await emptyAndClose(storeA);
    }
  }, 90_000);

  it('publishers with the same base hit the pointer compare-and-swap together: exactly one swap wins', async () => {
    // six clients (as on six machines) on one collection
    const first = s3Store(server);
    const racers = [first, ...Array.from({ length: 5 }, () => s3Store(server, {}, first.prefix))];
    const lease = await Lease.acquire(racers[0]!, 'cas', { ttlMs: 60_000, heartbeatMs: 0 });
    const ref = (key: string, version: number): VersionRef => ({
      version,
      key,
      sha256: 'm'.repeat(64),
      count: 1,
      contentHash: 'c'.repeat(64),
      segments: 1,
      newBytes: 0,
    });
    try {
      for (const [round, base] of [
        [1, undefined],
        [2, 'read'],
        [3, 'read'],
      ] as const) {
        const b = base ? await readPointer(racers[0]!, 'cas') : undefined;
        const results = await Promise.allSettled(
          racers.map((s, i) =>
            publishVersion(s, lease, {
              collection: 'cas',
              run: `r${round}-${i}`,
              version: ref(`snap-${round}-${i}/`, round),
              base: b,
              retain: 4,
            }),
          ),
        );
        const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        expect(won, `round ${round}`).toHaveLength(1);
        for (const r of results) {
          if (r.status === 'rejected')
            expect((r.reason as StrataError).code).toBe(ErrorCodes.POINTER_CONFLICT);
        }
        const now = (await readPointer(racers[0]!, 'cas'))!.value;
        expect(now).toMatchObject({
          version: round,
          run: `r${round}-${won[0]}`,
          manifest: `snap-${round}-${won[0]}/`,
        });
      }
    } finally {
      await lease.release();
      for (const s of racers.slice(1)) await s.close();
      await emptyAndClose(racers[0]!);
    }
  }, 60_000);
});
