/**
 * Power-loss episodes: the run's store lives on powerfs (lab/devservers/powerfs.py), a filesystem that
 * keeps what was not fsynced in memory only. Per round, for every collection at once: a producer process
 * writing 1–3 deltas, a compactor process (inline or with its local pool of workers) and, half of the time,
 * a GC process, all on the mount, all reporting the stage they are in. At a random instant — or a random
 * few milliseconds after some process entered a chosen stage — the power is cut: every process using the
 * mount is SIGKILLed at one instant, the filesystem drops (or partly applies, reordered) everything not
 * yet durable, is unmounted and mounted again (the reboot). Then, before anything else runs: the pointer
 * names a version that fully verifies, no acknowledged delta is lost (acknowledged = acceptDelta
 * returned in the producer, which said so), every delta is promoted at most once, and the record set is
 * the model's of exactly the promoted deltas. The run's converge phase then proves the next compaction
 * completes. A delta that became durable without being acknowledged (the producer was killed after its
 * descriptor landed) is legitimate: it is found by its producer's name and added to the model.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Rng } from '../../src/core/random.js';
import type { Operation } from '../../src/core/types.js';
import type { DeltaDescriptor } from '../../src/pipeline/deltas.js';
import { readJson } from '../../src/pipeline/json-object.js';
import { Keys } from '../../src/pipeline/layout.js';
import { readLedger } from '../../src/pipeline/ledger.js';
import { killUsers } from '../devservers/power-fs.js';
import type { RunStore } from './backend.js';
import type { ChildEvent, CompactorJob, TracedStage } from './child-protocol.js';
import { debug } from './debug.js';
import { checkState, type Problem } from './invariants.js';
import { type CompactorExit, type CompactorProcess, type OwnedChild, spawnCompactor } from './processes.js';
import { describe } from './readers.js';
import type { TrackedCollection } from './tracked.js';

/** The stages a cut is counted in (a cut inside several processes' stages counts in each). */
export const POWER_STAGES: readonly TracedStage[] = [
  'ingest',
  'plan',
  'chunk',
  'group',
  'final',
  'publish',
  'merge',
  'gc',
];

export const POWER_FAULTS = {
  cut: 'power cut (all on the mount SIGKILLed, unsynced state lost, remount)',
  stage: (s: TracedStage) => `power cut inside ${s}`,
  idle: 'power cut with no process inside a stage',
  mode: (m: string) => `(effect) power cut mode ${m}`,
  dirOpsLost: '(effect) unsynced directory operations lost at a cut',
  dirOpsKept: '(effect) unsynced directory operations kept at a cut',
  torn: '(effect) unsynced files torn at a cut',
  killed: '(effect) processes SIGKILLed at a cut',
  unacked: '(effect) an unacknowledged delta survived a cut',
} as const;

export interface PowerContext {
  rs: RunStore;
  tracked: readonly TrackedCollection[];
  rng: Rng;
  leaseTtlMs: number;
  opsPerDelta: [number, number];
  /** A private directory of the run on local disk (ops files): never on the mount. */
  tmp: string;
  label: string;
  count(fault: string, n?: number): void;
  problems: Problem[];
  own(p: OwnedChild): void;
}

interface Traced {
  p: CompactorProcess;
  stages: Map<TracedStage, number>;
  /** Resolves at its first event (it is running), or when it exited first. */
  started: Promise<unknown>;
}

interface Producer {
  t: TrackedCollection;
  name: string;
  deltas: Operation[][];
  /** The delta inside acceptDelta right now (index), if any. */
  inFlight: number | undefined;
}

const between = (r: Rng, [lo, hi]: [number, number]) => lo + r.int(hi - lo + 1);

/** One round of a power-loss run: 1–3 cuts in a row, each on the state the previous one left. */
export async function powerLossRound(ctx: PowerContext): Promise<void> {
  const cuts = 1 + ctx.rng.int(3);
  for (let i = 0; i < cuts; i++) await oneCut(ctx, `${ctx.label}-${i}`);
}

async function oneCut(ctx: PowerContext, label: string): Promise<void> {
  const power = ctx.rs.power;
  if (!power) throw new Error('power-loss needs the run store on powerfs (LocalBackend, open with power)');
  const { rng } = ctx;
  const traced: Traced[] = [];
  const producers: Producer[] = [];
  let reached: ((s: TracedStage) => void) | undefined;
  const spawnTraced = (
    job: Parameters<typeof spawnCompactor>[0],
    onAck?: (e: Extract<ChildEvent, { ack: unknown }>['ack']) => void,
    onStage?: (s: TracedStage, phase: 'begin' | 'end') => void,
  ) => {
    const stages = new Map<TracedStage, number>();
    let onStart = () => {};
    const started = new Promise<void>((resolve) => {
      onStart = resolve;
    });
    const p = spawnCompactor(job, ctx.rs.env, (e) => {
      onStart();
      debug(`power ${label}: ${job.mode ?? 'compact'} ${job.collection} ${JSON.stringify(e)}`);
      if ('ack' in e) return onAck?.(e.ack);
      onStage?.(e.stage, e.phase);
      if (e.phase === 'begin') {
        // a step begins: the plan is over; a final step (again, after a moved pointer) ends the publish
        if (e.stage !== 'plan' && e.stage !== 'publish') stages.delete('plan');
        if (e.stage === 'final') stages.delete('publish');
        stages.set(e.stage, (stages.get(e.stage) ?? 0) + 1);
        reached?.(e.stage);
      } else {
        const n = (stages.get(e.stage) ?? 1) - 1;
        if (n > 0) stages.set(e.stage, n);
        else stages.delete(e.stage);
      }
    });
    ctx.own(p);
    traced.push({ p, stages, started: Promise.race([started, p.exited]) });
    return p;
  };

  const roles = new Set<TracedStage>();
  for (const t of ctx.tracked) {
    // a producer of 1–3 deltas
    const pr: Producer = {
      t,
      name: `power-${label}-${t.name}-${rng.uint32().toString(16)}`,
      deltas: Array.from({ length: 1 + rng.int(3) }, () => t.gen.delta(between(rng, ctx.opsPerDelta))),
      inFlight: undefined,
    };
    producers.push(pr);
    const opsFile = join(ctx.tmp, `${pr.name}.json`);
    await writeFile(
      opsFile,
      JSON.stringify(
        pr.deltas.map((ops) =>
          ops.map((o) => (o.op === 'upsert' ? { ...o, embedding: [...o.embedding] } : o)),
        ),
      ),
    );
    let index = 0;
    spawnTraced(
      { mode: 'ingest-many', store: ctx.rs.spec, collection: t.name, opsFile, producer: pr.name },
      (ack) => t.addGood(ack.seqStart, ack.seqEnd, pr.deltas[ack.index]!),
      (_s, phase) => {
        pr.inFlight = phase === 'begin' ? index : undefined;
        if (phase === 'end') index++;
      },
    );
    roles.add('ingest');
    // a compactor: it waits for reservations still being written (the producer is alive)
    const job: CompactorJob = {
      store: ctx.rs.spec,
      collection: t.name,
      executor: rng.pick(['inline', 'local'] as const),
      concurrency: 2,
      chunkSize: 1 + rng.int(3),
      groupSize: 1 + rng.int(3),
      leaseTtlMs: ctx.leaseTtlMs,
      owner: `power-${rng.uint32()}`,
      leaseWaitMs: ctx.leaseTtlMs * 4 + 5_000,
      trace: true,
      inFlightMs: 60_000,
    };
    spawnTraced(job);
    for (const s of ['plan', 'chunk', 'group', 'final', 'publish'] as const) roles.add(s);
    if (rng.chance(0.5)) {
      spawnTraced({ mode: 'gc', store: ctx.rs.spec, collection: t.name, graceMs: rng.pick([0, 1_000]) });
      roles.add('gc');
    }
  }

  // --- when to cut: a random instant, or a few ms after some process entered a chosen stage --------------
  const allExited = Promise.all(traced.map((x) => x.p.exited));
  let trigger: Promise<unknown>;
  const r = rng.next();
  if (r < 0.1) {
    // while the processes start
    trigger = sleep(rng.int(3_000));
  } else if (r < 0.5) {
    // at a random instant once every process is running
    const after = rng.int(1_500);
    trigger = Promise.all(traced.map((x) => x.started)).then(() => sleep(after));
  } else {
    const target = rng.pick([...roles]);
    const after = rng.int(40);
    trigger = new Promise<void>((resolve) => {
      reached = (s) => {
        if (s === target) resolve();
      };
    }).then(() => sleep(after));
  }
  await Promise.race([trigger, allExited]);
  debug(`power ${label}: cut (${traced.filter((x) => !x.p.hasExited).length} processes alive)`);
  reached = undefined;

  // --- the cut -------------------------------------------------------------------------------------
  const active = new Set<TracedStage>();
  for (const x of traced) if (!x.p.hasExited) for (const s of x.stages.keys()) active.add(s);
  const killed = killUsers(
    power.fs.dir,
    traced.filter((x) => !x.p.hasExited).map((x) => x.p.pid),
  );
  ctx.count(POWER_FAULTS.cut);
  ctx.count(POWER_FAULTS.killed, killed.length);
  if (active.size === 0) ctx.count(POWER_FAULTS.idle);
  for (const s of active) ctx.count(POWER_FAULTS.stage(s));
  const exits: CompactorExit[] = await allExited;
  for (const e of exits) {
    // killed by the cut, or finished with its outcome line; a process that died on its own is a bug
    if (e.signal !== 'SIGKILL' && !e.outcome) {
      ctx.problems.push({
        invariant: 'process-exits-cleanly',
        detail: `a process on the powerfs mount ended with code ${e.code}, signal ${e.signal} and no outcome: ${e.stderr.slice(-1500)}`,
      });
    }
  }
  await power.store.suspend();
  const report = await power.fs.cut();
  ctx.count(POWER_FAULTS.mode(report.mode));
  ctx.count(POWER_FAULTS.dirOpsLost, report.dirOps - report.dirOpsApplied);
  ctx.count(POWER_FAULTS.dirOpsKept, report.dirOpsApplied);
  ctx.count(POWER_FAULTS.torn, report.filesTorn);
  // --- the reboot ----------------------------------------------------------------------------------
  await power.fs.remount(rng.uint32());
  await power.store.resume();
  const store = power.store;
  const stage = [...active].join('+') || 'idle';
  for (const pr of producers) {
    const t = pr.t;
    try {
      const ledger = await readLedger(store, t.name);
      for (const e of ledger.entries) {
        if (t.byStart(e.seqStart)) continue;
        const d = await readJson<DeltaDescriptor>(store, Keys.deltaDescriptor(t.name, e.seqStart)).catch(
          () => undefined,
        );
        const ops = pr.inFlight !== undefined ? pr.deltas[pr.inFlight] : undefined;
        if (d?.value.producer === pr.name && ops && d.value.count === ops.length) {
          t.addGood(e.seqStart, e.seqEnd, ops);
          ctx.count(POWER_FAULTS.unacked);
        }
      }
    } catch (e) {
      ctx.problems.push({
        invariant: 'ledger-readable-after-power-cut',
        detail: `${t.name}: ${describe(e)}`,
      });
      continue;
    }
    // the invariants, before anything else runs (completion is the converge phase's to prove)
    const c = await checkState(store, t);
    for (const p of c.problems)
      ctx.problems.push({
        invariant: p.invariant,
        detail: `after a power cut inside ${stage} (${report.mode}): ${p.detail}`,
      });
  }
}
