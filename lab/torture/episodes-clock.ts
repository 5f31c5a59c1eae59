/**
 * Clock-skew episodes: two or three compactors race on one collection, each under
 * Debian's libfaketime (LD_PRELOAD, so its local-pool workers inherit the same clock) with a wall-clock
 * offset of up to ± 5 minutes and a clock rate ≠ 1 (0.5–2: timers, heartbeats and the monotonic clock run
 * at that rate too). A compactor whose clock is behind writes leases that others see as long expired and
 * take over at once; one whose clock runs slow heartbeats too late; one ahead makes others wait.
 *
 * What must never happen, whatever the clocks:
 *   - two publishes from one base (two racers publishing the same version);
 *   - a publish by a compactor whose lease was taken over: every takeover fences the pointer with the new
 *     token and reports the version it fenced; the superseded token must not have published past it.
 * The run's ordinary invariants (records equal the model, nothing lost or promoted twice) follow.
 */
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { type LeaseTakeover, readLease } from '../../src/pipeline/lease.js';
import { readPointer } from '../../src/pipeline/pointer.js';
import { InlineExecutor } from '../../src/runners/inline.js';
import { compactWaitingForLease } from './compact-waiting.js';
import { debug } from './debug.js';
import { checkExit, type EpisodeContext, job, leaseWaitMs, RETRY, spawnFor } from './episodes.js';
import { waitStoppedOrExit } from './processes.js';

export const CLOCK_FAULTS = {
  skewed: 'compactor under faketime (offset ≤ ±5 min, rate ≠ 1)',
  frozen: 'skewed compactor frozen between lease check and pointer swap',
  takeover: '(effect) lease taken over from a skewed holder',
  refused: '(effect) skewed compactor refused at publish (lease lost, fenced, pointer moved)',
} as const;

const LIBFAKETIME = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1',
  '/usr/lib/faketime/libfaketimeMT.so.1',
];

/** The libfaketime library to preload; throws (never skips) when Debian's `faketime` is not installed. */
export function faketimeLibrary(): string {
  const lib = LIBFAKETIME.find((p) => existsSync(p));
  if (!lib) {
    throw new Error(
      `clock-skew episodes need libfaketime (Debian package faketime, listed in scripts/servers/faketime.txt; npm test installs it): none of ${LIBFAKETIME.join(', ')}`,
    );
  }
  return lib;
}

/** The environment that starts a process (and its children) on a skewed clock. */
export function faketimeEnv(offsetSeconds: number, rate: number): Record<string, string> {
  const sign = offsetSeconds < 0 ? '-' : '+';
  return {
    LD_PRELOAD: faketimeLibrary(),
    FAKETIME: `${sign}${Math.abs(offsetSeconds)}s x${rate}`,
    // children (the local pool's workers) continue the parent's fake clock instead of starting their own
    FAKETIME_DONT_RESET: '1',
  };
}

const OFFSETS = [-300, -240, -120, -30, -3, 0, 3, 30, 120, 240, 300];
const RATES = [0.5, 0.7, 0.9, 1.1, 1.5, 2];

export async function clockSkew(ctx: EpisodeContext): Promise<void> {
  const { rng, t } = ctx;
  faketimeLibrary();
  // A takeover fences the pointer; a collection without one yet has nothing to fence (its first publish is
  // guarded by the lease check alone). Publish one delta first, on the true clock, so every race below
  // happens over a pointer: the pending deltas up to the first good one (bad ones are quarantined).
  const firstGood = [...t.deltas].sort((a, b) => a.seqStart - b.seqStart).findIndex((d) => d.kind === 'good');
  if (firstGood >= 0 && !(await readPointer(ctx.base, t.name))) {
    const executor = new InlineExecutor(ctx.base, { retry: RETRY });
    try {
      await compactWaitingForLease(
        ctx.base,
        t.name,
        {
          executor,
          chunkSize: ctx.chunkSize,
          groupSize: ctx.groupSize,
          lease: { ttlMs: ctx.leaseTtlMs },
          maxDeltas: firstGood + 1,
        },
        leaseWaitMs(ctx),
      );
    } catch {
      // nothing promotable yet (only bad deltas) or a failed run: the race goes on without a pointer
    } finally {
      await executor.close();
    }
  }
  const n = 2 + rng.int(2);
  const clocks = Array.from({ length: n }, () => ({ offset: rng.pick(OFFSETS), rate: rng.pick(RATES) }));
  const freeze = rng.chance(0.5);
  // a frozen holder whose clock is ahead would only make the others give up waiting: freeze one behind
  if (freeze) clocks[0]!.offset = -Math.abs(clocks[0]!.offset);
  // Half of the time the first racer freezes (SIGSTOP) right after its last lease check, before the
  // pointer's compare-and-swap — the one window where only the fence can stop it — and is resumed once
  // the others are done (they took its lease over when their clocks said it had expired, or gave up).
  const racers = clocks.map((c, i) =>
    spawnFor(
      ctx,
      {
        ...job(ctx, `skewed-${i}-${rng.uint32()}`, rng.pick(['inline', 'local'] as const), false),
        // a racer whose clock makes another's lease look minutes long gives up soon (E_LEASE_HELD)
        leaseWaitMs: ctx.leaseTtlMs * 2,
      },
      {
        ...faketimeEnv(c.offset, c.rate),
        ...(freeze && i === 0 ? { STRATA_FAILPOINTS: 'publish.after-lease-check=stop@1' } : {}),
      },
    ),
  );
  ctx.count(CLOCK_FAULTS.skewed, n);
  debug(`${t.name}: clock-skew racers ${clocks.map((c) => `${c.offset}s x${c.rate}`).join(', ')}`);
  if (freeze && (await waitStoppedOrExit(racers[0]!)) === 'stopped') {
    ctx.count(CLOCK_FAULTS.frozen);
    const frozenToken = (await readLease(ctx.base, t.name))?.token ?? 0;
    const others = Promise.all(racers.slice(1).map((r) => r.exited));
    if (rng.chance(0.5)) {
      // resume the moment another racer has taken the lease over — before it publishes anything
      let done = false;
      void others.then(() => {
        done = true;
      });
      while (!done && ((await readLease(ctx.base, t.name))?.token ?? 0) <= frozenToken) await sleep(10);
    } else {
      await others;
    }
    debug(
      `${t.name}: SIGCONT frozen racer (token ${frozenToken}, lease now ${(await readLease(ctx.base, t.name))?.token})`,
    );
    racers[0]!.kill('SIGCONT');
  }
  const exits = await Promise.all(racers.map((r) => r.exited));
  debug(
    `${t.name}: racers: ${exits.map((e) => JSON.stringify({ r: e.outcome?.report?.status, v: e.outcome?.report?.snapshot?.version, err: e.outcome?.error?.code, leases: e.outcome?.leases })).join(' | ')}`,
  );
  const published: Array<{ racer: number; version: number; token: number | undefined }> = [];
  const takeovers: Array<{ racer: number; token: number; takeover: LeaseTakeover }> = [];
  for (const [i, e] of exits.entries()) {
    const clock = `${clocks[i]!.offset}s x${clocks[i]!.rate}`;
    checkExit(ctx, `compactor under faketime ${clock}`, e, false);
    const o = e.outcome;
    if (!o) continue;
    const leases = o.leases ?? [];
    for (const l of leases)
      if (l.takeover) takeovers.push({ racer: i, token: l.token, takeover: l.takeover });
    const v = o.report?.status === 'published' ? o.report.snapshot?.version : undefined;
    if (v !== undefined) published.push({ racer: i, version: v, token: leases.at(-1)?.token });
    const code = o.error?.code;
    if (code === 'E_LEASE_LOST' || code === 'E_FENCED' || code === 'E_POINTER_CONFLICT')
      ctx.count(CLOCK_FAULTS.refused);
  }
  ctx.count(CLOCK_FAULTS.takeover, takeovers.length);
  const clockOf = (i: number) => `${clocks[i]!.offset}s x${clocks[i]!.rate}`;
  // never two publishes from one base
  const byVersion = new Map<number, number[]>();
  for (const p of published) byVersion.set(p.version, [...(byVersion.get(p.version) ?? []), p.racer]);
  for (const [v, who] of byVersion) {
    if (who.length > 1) {
      ctx.problems.push({
        invariant: 'one-publish-per-base',
        detail: `${t.name}: compactors ${who.map(clockOf).join(' and ')} both published v${v} (from one base v${v - 1})`,
      });
    }
  }
  // never a publish by a compactor whose lease was taken over
  for (const tk of takeovers) {
    for (const p of published) {
      if (p.token !== tk.takeover.token) continue;
      if (tk.takeover.fencedVersion === undefined || p.version > tk.takeover.fencedVersion) {
        ctx.problems.push({
          invariant: 'no-publish-after-takeover',
          detail: `${t.name}: compactor ${clockOf(p.racer)} published v${p.version} with lease token ${p.token}, which compactor ${clockOf(tk.racer)} had taken over (${tk.takeover.why}) with token ${tk.token}, fencing the pointer at v${tk.takeover.fencedVersion ?? 'none'}`,
        });
      }
    }
  }
}
