/**
 * One run of the campaign, deterministic given (seed, run): a fresh store, 1–2 random collections, and
 * rounds of { write good and bad deltas → one fault episode per collection with readers watching →
 * compact until done (bounded) → check every invariant → gc with grace 0 → check retained snapshots }.
 */

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashSeed, type Rng, rng } from '../../src/core/random.js';
import { createCollection } from '../../src/pipeline/collections.js';
import { acceptDelta } from '../../src/pipeline/deltas.js';
import { InlineExecutor } from '../../src/runners/inline.js';
import type { StrataServer } from '../../src/server/server.js';
import { type FaultKind, FaultyStore } from '../../src/testing/faulty-store.js';
import type { StoreBackend } from './backend.js';
import { BAD_DELTA_CLASSES, writeBadDelta } from './bad-inputs.js';
import { compactWaitingForLease } from './compact-waiting.js';
import { debug } from './debug.js';
import {
  EPISODE_KINDS,
  type EpisodeContext,
  type EpisodeKind,
  eligibleEpisodes,
  FAULT_NAMES,
  runEpisode,
} from './episodes.js';
import { powerLossRound } from './episodes-power.js';
import { HttpReaderLoop } from './http-readers.js';
import { checkState, gcAndCheckRetained, isSettled, type Problem } from './invariants.js';
import { type OwnedChild, spawnCompactor } from './processes.js';
import { describe, ReaderLoop } from './readers.js';
import { TrackedCollection } from './tracked.js';
import { OpGenerator, randomShape } from './workload.js';

/** The token the --serve campaign's server requires for writes (the readers' own writes). */
const HTTP_TOKEN = 'torture-token';

export interface RunProfile {
  collections: [min: number, max: number];
  rounds: [min: number, max: number];
  deltasPerRound: [min: number, max: number];
  opsPerDelta: [min: number, max: number];
  /** Chance that a delta is a bad one (written raw). */
  badDeltaChance: number;
  /** Chance that a delta's producer is killed between writing its data and its descriptor. */
  producerCrashChance: number;
  leaseTtlMs: number;
  /** Compactions after the episode before a run counts as not completed. */
  convergeAttempts: number;
  /** Restrict the episodes (default: all). */
  episodes?: readonly EpisodeKind[];
  /** Store fault kinds never injected. */
  excludeFaults?: readonly FaultKind[];
  /** A run that takes longer is a violation (a hang is a bug). */
  runTimeoutMs: number;
}

export const PROFILES = {
  full: {
    collections: [1, 2],
    rounds: [1, 2],
    deltasPerRound: [2, 8],
    opsPerDelta: [1, 40],
    badDeltaChance: 0.15,
    producerCrashChance: 0.05,
    leaseTtlMs: 3_600,
    convergeAttempts: 6,
    runTimeoutMs: 180_000,
  },
  ci: {
    collections: [1, 2],
    rounds: [1, 1],
    deltasPerRound: [2, 5],
    opsPerDelta: [1, 15],
    badDeltaChance: 0.15,
    producerCrashChance: 0.05,
    leaseTtlMs: 2_400,
    convergeAttempts: 6,
    runTimeoutMs: 120_000,
  },
} satisfies Record<string, RunProfile>;

export interface Violation {
  seed: number;
  run: number;
  step: string;
  invariant: string;
  detail: string;
}

export interface RunResult {
  seed: number;
  run: number;
  completed: boolean;
  violations: Violation[];
  faults: Record<string, number>;
  episodes: Partial<Record<EpisodeKind, number>>;
  badClasses: Record<string, number>;
  readerOpens: number;
  /** Reader opens that found the store unreachable (the S3 server was down). */
  readerUnavailable: number;
  /** Answers of the query server checked by HTTP readers (--serve). */
  httpAnswers: number;
  ms: number;
}

/** Servers a campaign started for its runs besides the store. */
export interface RunServices {
  /** Redis for the BullMQ runner: enables the kill-bullmq-worker episode. */
  redis?: string;
  /** Start a query server on each run's store and read through it over HTTP (see http-readers.ts). */
  serve?: boolean;
}

const between = (r: Rng, [lo, hi]: [number, number]) => lo + r.int(hi - lo + 1);

/** The seed of one run of a campaign. */
export function runSeed(seed: number, run: number): number {
  return hashSeed(seed, run);
}

export async function runOne(
  seed: number,
  run: number,
  profile: RunProfile,
  backend: StoreBackend,
  services: RunServices = {},
): Promise<RunResult> {
  const t0 = Date.now();
  const result: RunResult = {
    seed,
    run,
    completed: true,
    violations: [],
    faults: {},
    episodes: {},
    badClasses: {},
    readerOpens: 0,
    readerUnavailable: 0,
    httpAnswers: 0,
    ms: 0,
  };
  const s = runSeed(seed, run);
  const wl = rng(hashSeed(s, 'workload'));
  const fr = rng(hashSeed(s, 'faults'));
  let step = 'setup';
  const setStep = (x: string) => {
    step = x;
    debug(`run ${run}: ${x}`);
  };
  const violate = (p: Problem) => result.violations.push({ seed, run, step, ...p });
  const count = (fault: string, n = 1) => {
    if (n > 0) result.faults[fault] = (result.faults[fault] ?? 0) + n;
  };

  // A power-loss run keeps its store on powerfs and every round is one power cut for all its collections.
  // Drawn from a generator of its own, so every other run's draws stay as they were.
  const allowed = profile.episodes ?? EPISODE_KINDS;
  const power =
    backend.kind === 'local' &&
    allowed.includes('power-loss') &&
    (allowed.length === 1 || rng(hashSeed(s, 'power')).chance(1 / allowed.length));
  const rs = await backend.open(String(run), power ? { power: { seed: hashSeed(s, 'powerfs') } } : {});
  const { spec: storeDir, store: base, tmp: dir } = rs;
  const faulty = new FaultyStore(base, {
    seed: fr.uint32(),
    enabled: false,
    slowMs: 5,
    timeoutMs: 30,
    // every delta of the run counts as just written: a listing may miss any of them
    listMissWindowMs: 3_600_000,
  });
  const processes: OwnedChild[] = [];
  let server: StrataServer | undefined;
  /** Reader loops of the current round: stopped at the end of the round, or here if the run failed. */
  const loops: Array<{ stop(): Promise<void> }> = [];
  const body = async () => {
    const tracked: TrackedCollection[] = [];
    const ncol = between(wl, profile.collections);
    for (let i = 0; i < ncol; i++) {
      const shape = randomShape(wl, `c${i}`);
      const config = await createCollection(base, shape);
      tracked.push(new TrackedCollection(config, new OpGenerator(wl, shape.dimension)));
    }
    if (services.serve && !power) {
      // loaded on demand: only campaigns started with --serve pay for fastify
      const { StrataServer } = await import('../../src/server/server.js');
      server = await StrataServer.start({ store: base, port: 0, refreshMs: 50, token: HTTP_TOKEN });
    }
    const rounds = between(wl, profile.rounds);
    // killing the server needs a backend that has one; the BullMQ runner needs a Redis
    const kinds = eligibleEpisodes(profile.episodes ?? EPISODE_KINDS, {
      s3Server: rs.restart !== undefined,
      redis: services.redis !== undefined,
      smallFs: rs.smallFs !== undefined,
    }).filter((k) => k !== 'power-loss');
    if (kinds.length === 0 && !power)
      throw new Error(`no episode of ${profile.episodes?.join(', ')} runs on ${backend.kind}`);
    for (let round = 1; round <= rounds; round++) {
      // --- ingest: good deltas through acceptDelta, bad ones written raw -----------------------------
      for (const t of tracked) {
        setStep(`round ${round}, ${t.name}: ingest`);
        const n = between(wl, profile.deltasPerRound);
        for (let i = 0; i < n; i++) {
          if (wl.chance(profile.badDeltaChance)) {
            const cls = wl.pick(BAD_DELTA_CLASSES);
            const d = await writeBadDelta(faulty, t.config, cls, wl);
            t.addBad(d.seqStart, d.seqEnd, cls);
            result.badClasses[cls.name] = (result.badClasses[cls.name] ?? 0) + 1;
            count(FAULT_NAMES.badDelta);
          } else if (wl.chance(profile.producerCrashChance)) {
            // a producer killed after its data object, before its descriptor: never accepted
            const ops = t.gen.delta(between(wl, profile.opsPerDelta));
            const opsFile = join(dir, `ops-${t.name}-${round}-${i}.json`);
            await writeFile(
              opsFile,
              JSON.stringify(ops.map((o) => (o.op === 'upsert' ? { ...o, embedding: [...o.embedding] } : o))),
            );
            const p = spawnCompactor(
              { mode: 'ingest', store: storeDir, collection: t.name, opsFile },
              { ...rs.env, STRATA_FAILPOINTS: 'ingest.after-data=crash' },
            );
            processes.push(p);
            const e = await p.exited;
            if (e.signal === 'SIGKILL') count(FAULT_NAMES.killProducer);
            else if (e.outcome?.accepted)
              t.addGood(e.outcome.accepted.seqStart, e.outcome.accepted.seqEnd, ops);
            else
              violate({
                invariant: 'producer-exits-cleanly',
                detail: `code ${e.code}: ${e.stderr.slice(-400)}`,
              });
          } else {
            const ops = t.gen.delta(between(wl, profile.opsPerDelta));
            const d = await acceptDelta(faulty, t.config, ops, { producer: 'torture' });
            t.addGood(d.seqStart, d.seqEnd, ops);
          }
        }
      }
      if (power) {
        // --- a power cut in the middle of ingest, compaction, publish and GC processes ---------------------
        setStep(`round ${round}: power-loss`);
        result.episodes['power-loss'] = (result.episodes['power-loss'] ?? 0) + 1;
        const problems: Problem[] = [];
        await powerLossRound({
          rs,
          tracked,
          rng: rng(fr.uint32()),
          leaseTtlMs: profile.leaseTtlMs,
          opsPerDelta: profile.opsPerDelta,
          tmp: dir,
          label: `${run}-${round}`,
          count,
          problems,
          own: (p) => processes.push(p),
        });
        problems.forEach(violate);
      }
      // --- one fault episode per collection, concurrently, with readers watching ----------------------
      const episodes = power ? [] : tracked.map((t) => ({ t, kind: fr.pick(kinds), rng: rng(fr.uint32()) }));
      setStep(`round ${round}: ${episodes.map((e) => `${e.t.name} ${e.kind}`).join(', ')}`);
      // (a power-loss run has none: what a cut leaves is checked right after the reboot, and readers keep
      // re-reading every file through the FUSE daemon, which would only slow the cuts down)
      const readers = power ? [] : tracked.map((t) => new ReaderLoop(base, t));
      const httpReaders = server
        ? tracked.map((t) => new HttpReaderLoop(server!.url, t, 100, HTTP_TOKEN))
        : [];
      loops.push(...readers, ...httpReaders);
      const outcomes = await Promise.allSettled(
        episodes.map(({ t, kind, rng: erng }) => {
          result.episodes[kind] = (result.episodes[kind] ?? 0) + 1;
          const ctx: EpisodeContext = {
            storeDir,
            base,
            faulty,
            t,
            rng: erng,
            leaseTtlMs: profile.leaseTtlMs,
            chunkSize: 1 + erng.int(4),
            groupSize: 1 + erng.int(3),
            tmp: dir,
            excludeFaults: profile.excludeFaults ?? [],
            count,
            problems: [],
            own: (p) => processes.push(p),
            env: rs.env,
            run,
            ...(services.redis ? { redis: services.redis } : {}),
            ...(rs.restart ? { restartStore: rs.restart.bind(rs) } : {}),
            ...(rs.smallFs ? { smallFs: rs.smallFs } : {}),
          };
          return runEpisode(kind, ctx).then(() => ctx.problems);
        }),
      );
      for (const o of outcomes) {
        if (o.status === 'rejected') violate({ invariant: 'episode-runs', detail: describe(o.reason) });
        else o.value.forEach(violate);
      }
      // --- compact until nothing is pending (bounded), readers still watching -------------------------
      for (const t of tracked) {
        setStep(`round ${round}, ${t.name}: converge`);
        const executor = new InlineExecutor(base, { retry: { attempts: 3, baseMs: 20, maxMs: 200 } });
        let settled = false;
        try {
          for (let a = 0; a < profile.convergeAttempts && !settled; a++) {
            try {
              await compactWaitingForLease(
                base,
                t.name,
                { executor, chunkSize: 3, groupSize: 2, lease: { ttlMs: profile.leaseTtlMs } },
                profile.leaseTtlMs * 4 + 5_000,
              );
            } catch (e) {
              if (a === profile.convergeAttempts - 1) {
                violate({
                  invariant: 'compaction-completes',
                  detail: `${t.name}: last attempt failed: ${describe(e)}`,
                });
              }
            }
            settled = await isSettled(base, t);
          }
        } finally {
          await executor.close();
        }
        if (!settled) result.completed = false;
      }
      for (const r of httpReaders) {
        await r.stop();
        result.httpAnswers += r.answers;
        result.readerUnavailable += r.unavailable;
        setStep(`round ${round}: HTTP readers`);
        r.problems.forEach(violate);
      }
      for (const r of readers) {
        await r.stop();
        result.readerOpens += r.opens;
        result.readerUnavailable += r.unavailable;
        setStep(`round ${round}: readers`);
        r.problems.forEach(violate);
      }
      // --- invariants, then gc with grace 0, then the retained snapshots -------------------------------
      for (const t of tracked) {
        setStep(`round ${round}, ${t.name}: check`);
        const c = await checkState(base, t);
        c.problems.forEach(violate);
        if (!c.complete) {
          result.completed = false;
          if (c.problems.length === 0) {
            violate({
              invariant: 'compaction-completes',
              detail: `${t.name}: ${c.pending} deltas still pending`,
            });
          }
        }
        setStep(`round ${round}, ${t.name}: gc`);
        const g = await gcAndCheckRetained(base, t);
        g.problems.forEach(violate);
        setStep(`round ${round}, ${t.name}: check after gc`);
        (await checkState(base, t)).problems.forEach(violate);
      }
    }
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      body(),
      new Promise<never>((_, reject) => {
        // a power-loss run cuts up to three times a round, each with a remount and checks in between
        const limit = power ? profile.runTimeoutMs * 2 : profile.runTimeoutMs;
        timer = setTimeout(
          () => reject(new Error(`the run did not finish within ${limit} ms (at ${step})`)),
          limit,
        );
      }),
    ]);
  } catch (e) {
    violate({ invariant: 'run-finishes', detail: describe(e) });
    result.completed = false;
  } finally {
    clearTimeout(timer);
    for (const p of processes) {
      if (!p.hasExited) {
        p.kill('SIGKILL');
        await p.exited;
      }
    }
    await Promise.all(loops.map((l) => l.stop()));
    await server?.close();
    await rs.close();
  }
  result.ms = Date.now() - t0;
  return result;
}
