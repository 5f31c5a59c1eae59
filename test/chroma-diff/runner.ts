/**
 * The differential runner: the same randomly generated sequence of client operations run through the
 * official chromadb client against a real Chroma server (npm chromadb@3.0.14's server 1.0.0) and against
 * `strata serve`, every answer compared (compare.ts). Sequences are fast-check model-based commands,
 * seeded: run i of `runSequences({ seed })` uses seed + i, and a difference prints the command that
 * replays exactly that sequence.
 *
 * Two kinds of sequence:
 *  - plain: both servers start from an empty default database;
 *  - import: a random sequence of writes goes to a private Chroma server first, which is then stopped; its
 *    directory is brought into Strata with `strata import chroma` (importChroma) and served again by Chroma,
 *    and a random sequence then runs against both.
 *
 * Strata's server reads its own writes (version + tail), so no read waits for anything (visibility:
 * 'immediate'). So that the answers also cover records published into segments — and a tail that shrinks
 * as versions swap in — the default ('mixed') compacts before every third operation on records that
 * follows a write (`compactingVisibility`, which 'compact' does before every one).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { importChroma } from '../../src/interop/chroma/import.js';
import { ChromaServer } from '../../src/interop/chroma/server.js';
import { compactNow, startTestServer, type TestServer, TOKEN } from '../server/helpers.js';
import { compareOutcomes, KNOWN, type KnownLabel } from './compare.js';
import {
  COLLECTION_NAMES,
  describeOp,
  type Op,
  opArbitraries,
  RECORD_OPS,
  type Space,
  TENANT_OPS,
  WRITE_OPS,
  writeOnlyArbitraries,
} from './ops.js';
import {
  CLIENT_VERSIONS,
  type ClientVersion,
  IMMEDIATE,
  type Outcome,
  Side,
  type Visibility,
} from './sides.js';

export type VisibilityMode = 'compact' | 'mixed' | 'immediate';
export type SequenceKind = 'plain' | 'import';

export interface DiffEnvOptions {
  visibility?: VisibilityMode;
  /** Where temporary directories go (default: the OS temp dir; /dev/shm is much faster for Strata). */
  tmp?: string;
}

/** The servers a run shares: one Chroma, one Strata (in this process). */
export class DiffEnv {
  readonly root: string;
  readonly chroma: ChromaServer;
  readonly strata: TestServer;
  readonly visibility: Visibility;

  private constructor(root: string, chroma: ChromaServer, strata: TestServer, visibility: Visibility) {
    this.root = root;
    this.chroma = chroma;
    this.strata = strata;
    this.visibility = visibility;
  }

  static async start(o: DiffEnvOptions = {}): Promise<DiffEnv> {
    const root = await mkdtemp(join(o.tmp ?? tmpdir(), 'strata-chroma-diff-'));
    const chroma = await ChromaServer.start({ path: join(root, 'chroma') });
    let strata: TestServer;
    try {
      if (o.tmp) process.env.TMPDIR = o.tmp;
      // writes are accepted at once (no batching delay): the harness waits for each anyway
      strata = await startTestServer({ writes: { maxDelayMs: 0 }, refreshMs: 60_000 });
    } catch (e) {
      await chroma.stop();
      throw e;
    }
    const mode = o.visibility ?? 'mixed';
    const visibility =
      mode === 'immediate' ? IMMEDIATE : compactingVisibility(strata, mode === 'mixed' ? 3 : 1);
    return new DiffEnv(root, chroma, strata, visibility);
  }

  async close(): Promise<void> {
    await this.chroma.stop();
    await this.strata.close();
    await rm(this.root, { recursive: true, force: true });
  }
}

/**
 * Compaction between operations: after a write, every `every`-th operation on records first compacts (POST
 * /strata/v1/compact) and waits until the published version is the one served. Reads never need it
 * (read-your-writes); it moves records from the server's tail into segments between reads.
 */
export function compactingVisibility(
  t: TestServer,
  every = 1,
): Visibility & { waits: number; waitedMs: number } {
  let dirty = false;
  let pending = 0;
  const v = {
    waits: 0,
    waitedMs: 0,
    wrote() {
      dirty = true;
    },
    async settle() {
      if (!dirty) return;
      if (++pending < every) return;
      pending = 0;
      dirty = false;
      const t0 = performance.now();
      await compactNow(t);
      v.waits++;
      v.waitedMs += performance.now() - t0;
    },
  };
  return v;
}

/** Served and published snapshot, ledger and last runs of each collection (for a difference's report). */
async function strataStatus(t: TestServer): Promise<string> {
  try {
    const res = await t.call('GET', '/strata/v1/status');
    const status = (await res.json()) as {
      collections: Array<{
        collection: string;
        served: { version: number; records: number } | null;
        current: { version: number; count: number } | null;
        ledger: unknown;
        lastRuns: Array<{ run: string; status: string }>;
      }>;
    };
    const lines: string[] = [];
    for (const c of status.collections) {
      lines.push(
        `${c.collection}: served ${JSON.stringify(c.served)}, published ${JSON.stringify(c.current)}, ledger ${JSON.stringify(c.ledger)}`,
      );
      for (const o of await t.store.list(`collections/${c.collection}/quarantine/`)) {
        lines.push(
          `  ${o.key}: ${Buffer.from((await t.store.getObject(o.key)).body)
            .toString('utf8')
            .slice(0, 1500)
            .replace(/\s+/g, ' ')}`,
        );
      }
      for (const r of c.lastRuns.filter((x) => x.status !== 'succeeded').slice(0, 1)) {
        const run = (await (await t.call('GET', `/strata/v1/runs/${r.run}`)).json()) as {
          error?: { message?: string };
        };
        lines.push(`  run ${r.run} ${r.status}: ${run.error?.message ?? ''}`);
      }
    }
    return lines.join('\n');
  } catch (e) {
    return `(status unavailable: ${(e as Error).message})`;
  }
}

// --- a sequence ----------------------------------------------------------------------------------------

export interface Stats {
  sequences: number;
  operations: number;
  explained: Partial<Record<KnownLabel, number>>;
  /** Operations by kind and Chroma's outcome ("get ok", "add ChromaClientError"…): what was exercised. */
  outcomes: Record<string, number>;
}

export const newStats = (): Stats => ({ sequences: 0, operations: 0, explained: {}, outcomes: {} });

export class DifferenceError extends Error {
  readonly op: Op;
  constructor(op: Op, what: string, log: readonly string[]) {
    super(`${describeOp(op)}\n${what}\n--- the sequence up to here ---\n${log.join('\n')}`);
    this.name = 'DifferenceError';
    this.op = op;
  }
}

/** The two sides of one sequence; fast-check's "real" system. */
export class Sequence {
  readonly chroma: Side;
  readonly strata: Side;
  readonly version: ClientVersion;
  readonly sharedIds: ReadonlySet<string>;
  readonly log: string[] = [];
  /** What Strata says about its collections, appended to a difference's report. */
  diagnose: () => Promise<string> = async () => '';
  readonly #stats: Stats;

  constructor(
    chroma: Side,
    strata: Side,
    version: ClientVersion,
    stats: Stats,
    sharedIds: ReadonlySet<string>,
  ) {
    this.chroma = chroma;
    this.strata = strata;
    this.version = version;
    this.#stats = stats;
    this.sharedIds = sharedIds;
  }

  /** Names that have a collection handle on both sides. */
  held(): Set<string> {
    return new Set([...this.chroma.handles.keys()].filter((n) => this.strata.handles.has(n)));
  }

  async step(op: Op): Promise<void> {
    if (RECORD_OPS.has(op.op)) await this.strata.visibility.settle();
    const [c, s]: Outcome[] = await Promise.all([this.chroma.run(op), this.strata.run(op)]);
    if (WRITE_OPS.has(op.op)) this.strata.visibility.wrote();
    this.#stats.operations++;
    const outcome = `${op.op} ${c!.ok ? 'ok' : c!.error}`;
    this.#stats.outcomes[outcome] = (this.#stats.outcomes[outcome] ?? 0) + 1;
    const v = compareOutcomes(op, c!, s!, { version: this.version, sharedIds: this.sharedIds });
    this.log.push(`${describeOp(op)} → ${c!.ok ? 'ok' : c!.error}`);
    if (process.env.DIFF_TRACE && describeOp(op).includes(process.env.DIFF_TRACE)) {
      console.log(
        `TRACE ${describeOp(op)}\n  chroma ${JSON.stringify(c).slice(0, 300)}\n  strata ${JSON.stringify(s).slice(0, 300)}`,
      );
    }
    if (v.kind === 'explained') this.#stats.explained[v.label] = (this.#stats.explained[v.label] ?? 0) + 1;
    if (v.kind === 'different') {
      throw new DifferenceError(op, `${v.what}\n--- strata ---\n${await this.diagnose()}`, this.log);
    }
  }
}

interface Model {
  held: Set<string>;
  /** Tenant and database operations run (not in import sequences: their Chroma server is not the shared one). */
  tenants: boolean;
}

class DiffCommand implements fc.AsyncCommand<Model, Sequence> {
  readonly op: Op;
  constructor(op: Op) {
    this.op = op;
  }
  check(m: Readonly<Model>): boolean {
    if (TENANT_OPS.has(this.op.op)) return m.tenants;
    return !('target' in this.op) || m.held.has(this.op.target);
  }
  async run(m: Model, r: Sequence): Promise<void> {
    await r.step(this.op);
    m.held = r.held();
  }
  toString(): string {
    return describeOp(this.op);
  }
}

export const commandsArbitrary = (maxCommands: number) =>
  fc.commands([fc.oneof(...opArbitraries).map((op) => new DiffCommand(op))], { maxCommands, size: 'max' });

/** The collections a plain sequence starts with (created through both servers, compared too). */
const initialArbitrary = fc.uniqueArray(
  fc.record({
    name: fc.constantFrom(...COLLECTION_NAMES.slice(0, 3)),
    space: fc.option(fc.constantFrom<Space>('l2', 'cosine', 'ip'), { nil: undefined }),
    spaceVia: fc.constantFrom<'configuration' | 'metadata'>('configuration', 'configuration', 'metadata'),
  }),
  { minLength: 2, maxLength: 3, selector: (c) => c.name },
);

let sequenceCounter = 0;

async function runPlain(
  env: DiffEnv,
  stats: Stats,
  version: ClientVersion,
  initial: Array<{ name: string; space: Space | undefined; spaceVia: 'configuration' | 'metadata' }>,
  cmds: Iterable<fc.AsyncCommand<Model, Sequence>>,
): Promise<void> {
  const tag = `s${++sequenceCounter}`;
  const chroma = new Side({ label: 'chroma', port: env.chroma.port, version });
  const strata = new Side({
    label: 'strata',
    port: env.strata.port,
    version,
    headers: { 'x-chroma-token': TOKEN },
    visibility: env.visibility,
  });
  await Promise.all([chroma.reset(tag), strata.reset(tag)]);
  stats.sequences++;
  const seq = new Sequence(chroma, strata, version, stats, new Set());
  seq.diagnose = () => strataStatus(env.strata);
  for (const c of initial) {
    await seq.step({ op: 'createCollection', getOrCreate: false, ...c });
  }
  try {
    await fc.asyncModelRun(() => ({ model: { held: seq.held(), tenants: true }, real: seq }), cmds);
  } finally {
    await Promise.all([chroma.cleanup(), strata.cleanup()]);
  }
}

export interface ImportPlan {
  collections: Array<{ name: string; space: Space }>;
  writes: Op[];
}

const importPlanArbitrary: fc.Arbitrary<ImportPlan> = fc.record({
  collections: fc.uniqueArray(
    fc.record({
      name: fc.constantFrom(...COLLECTION_NAMES.slice(0, 3)),
      space: fc.constantFrom<Space>('l2', 'cosine', 'ip'),
    }),
    { minLength: 1, maxLength: 3, selector: (c) => c.name },
  ),
  writes: fc.array(fc.oneof(...writeOnlyArbitraries), { minLength: 3, maxLength: 20 }),
});

async function runImport(
  env: DiffEnv,
  stats: Stats,
  version: ClientVersion,
  plan: ImportPlan,
  cmds: Iterable<fc.AsyncCommand<Model, Sequence>>,
): Promise<void> {
  const tag = `s${++sequenceCounter}`;
  const dir = await mkdtemp(join(env.root, 'import-'));
  const path = join(dir, 'chroma');
  try {
    // 1. a Chroma directory written by the real server
    const writer = await ChromaServer.start({ path });
    try {
      const side = new Side({ label: 'chroma', port: writer.port, version });
      await side.reset(tag);
      for (const c of plan.collections) {
        await side.run({
          op: 'createCollection',
          name: c.name,
          space: c.space,
          spaceVia: 'configuration',
          getOrCreate: true,
        });
        await side.run({
          op: 'add',
          target: c.name,
          ids: ['id0', 'id1'],
          embeddings: [
            [1, 2, 3, 4, 5, 6],
            [-1, 0.5, 2, 0, 1, 3],
          ],
          dimDelta: 0,
        });
      }
      for (const op of plan.writes) if (!('target' in op) || side.handles.has(op.target)) await side.run(op);
    } finally {
      await writer.stop();
    }
    // 2. imported into Strata and compacted
    const strata = new Side({
      label: 'strata',
      port: env.strata.port,
      version,
      headers: { 'x-chroma-token': TOKEN },
      visibility: env.visibility,
    });
    await strata.reset(tag);
    await importChroma(env.strata.store, path);
    await compactNow(env.strata);
    // 3. the same directory served by Chroma again, compared with Strata
    const reader = await ChromaServer.start({ path });
    try {
      const chroma = new Side({ label: 'chroma', port: reader.port, version });
      chroma.tag = tag;
      stats.sequences++;
      const imported = await chroma.client().listCollections();
      const seq = new Sequence(chroma, strata, version, stats, new Set(imported.map((c) => c.id)));
      seq.diagnose = () => strataStatus(env.strata);
      for (const c of imported) {
        await seq.step({ op: 'getCollection', name: c.name });
      }
      await seq.step({ op: 'listCollections' });
      for (const name of seq.held()) {
        await seq.step({ op: 'get', target: name, include: ['documents', 'metadatas', 'embeddings'] });
      }
      await fc.asyncModelRun(() => ({ model: { held: seq.held(), tenants: false }, real: seq }), cmds);
    } finally {
      await reader.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function sequenceProperty(env: DiffEnv, stats: Stats, kind: SequenceKind, maxCommands: number) {
  const plan: fc.Arbitrary<ImportPlan | null> = kind === 'import' ? importPlanArbitrary : fc.constant(null);
  return fc.asyncProperty(
    fc.constantFrom(...CLIENT_VERSIONS),
    plan,
    initialArbitrary,
    commandsArbitrary(maxCommands),
    (version, p, initial, cmds) =>
      p === null ? runPlain(env, stats, version, initial, cmds) : runImport(env, stats, version, p, cmds),
  );
}

// --- many sequences ------------------------------------------------------------------------------------

export interface RunOptions {
  seed: number;
  runs: number;
  /** Every n-th sequence is an import sequence (0: none). */
  importEvery?: number;
  /** Only this kind (for replays). */
  kind?: SequenceKind;
  maxCommands?: number;
  /** Shrink a failing sequence to a minimal one (re-runs it many times). */
  shrink?: boolean;
  /** Stop at the first difference. */
  stopOnDifference?: boolean;
  /** Stop starting new sequences after this many ms. */
  timeLimitMs?: number;
  onDifference?: (d: Difference) => void;
  onProgress?: (done: number, stats: Stats) => void;
}

export interface Difference {
  seed: number;
  kind: SequenceKind;
  message: string;
  replay: string;
}

export interface RunReport {
  stats: Stats;
  runs: number;
  differences: Difference[];
  ms: number;
}

export function kindOf(i: number, o: Pick<RunOptions, 'kind' | 'importEvery'>): SequenceKind {
  if (o.kind) return o.kind;
  const every = o.importEvery ?? 0;
  return every > 0 && (i + 1) % every === 0 ? 'import' : 'plain';
}

export function replayCommand(seed: number, kind: SequenceKind, path?: string): string {
  return `npm run fuzz:chroma -- --runs 1 --seed ${seed} --kind ${kind}${path ? ` --path ${path}` : ''}`;
}

/** Silences the clients' warning about collections without an embedding function (every get prints it). */
export async function quietly<T>(f: () => Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    const s = String(args[0] ?? '');
    if (s.includes('embedding function') || s.includes('Embedding function')) return;
    warn(...args);
  };
  try {
    return await f();
  } finally {
    console.warn = warn;
  }
}

export async function runSequences(env: DiffEnv, o: RunOptions): Promise<RunReport> {
  const stats = newStats();
  const differences: Difference[] = [];
  const t0 = performance.now();
  let runs = 0;
  await quietly(async () => {
    for (let i = 0; i < o.runs; i++) {
      if (o.timeLimitMs !== undefined && performance.now() - t0 > o.timeLimitMs) break;
      const seed = (o.seed + i) | 0;
      const kind = kindOf(i, o);
      const prop = sequenceProperty(env, stats, kind, o.maxCommands ?? 20);
      const details = await fc.check(prop, { seed, numRuns: 1, endOnFailure: !o.shrink });
      runs++;
      if (details.failed) {
        const err = details.errorInstance;
        const message = err instanceof Error ? err.message : String(err);
        const d: Difference = {
          seed,
          kind,
          message,
          replay: replayCommand(seed, kind, o.shrink ? (details.counterexamplePath ?? undefined) : undefined),
        };
        differences.push(d);
        o.onDifference?.(d);
        if (o.stopOnDifference) break;
      }
      o.onProgress?.(runs, stats);
    }
  });
  return { stats, runs, differences, ms: performance.now() - t0 };
}

export function describeStats(r: RunReport, env?: DiffEnv): string {
  const v = env?.visibility as { waits?: number; waitedMs?: number } | undefined;
  const waited =
    v?.waits !== undefined
      ? `\nvisibility waits (compactions): ${v.waits}, ${((v.waitedMs ?? 0) / 1000).toFixed(1)} s`
      : '';
  const explained = Object.entries(r.stats.explained)
    .map(([k, n]) => `${k} ×${n} (${KNOWN[k as KnownLabel]})`)
    .join('\n  ');
  const outcomes = Object.entries(r.stats.outcomes)
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([k, n]) => `${k} ×${n}`)
    .join(', ');
  return [
    `operations by kind and Chroma's outcome: ${outcomes}`,
    `${r.runs} sequences (${r.stats.sequences} started), ${r.stats.operations} operations in ${(r.ms / 1000).toFixed(1)} s (${(r.runs / (r.ms / 1000)).toFixed(2)} sequences/s)`,
    `unexplained differences: ${r.differences.length}${waited}`,
    explained
      ? `explained (kept on purpose, README "Chroma compatibility"):\n  ${explained}`
      : 'explained: none',
  ].join('\n');
}
