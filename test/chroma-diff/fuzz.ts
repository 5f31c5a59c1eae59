/**
 * `npm run fuzz:chroma -- --runs N --seed S`: N differential sequences (runner.ts) against a real Chroma
 * server and `strata serve`, started here. Prints a replay command for every difference and a summary
 * (sequences, operations, rate, explained differences). Options:
 *   --runs N            sequences to run (default 100)
 *   --seed S            seed of the first sequence (default: random); sequence i uses S + i
 *   --kind plain|import only this kind of sequence (a replay passes the kind it printed)
 *   --import-every K    every K-th sequence is an import sequence (default 25; 0: none)
 *   --max-commands M    commands per sequence (default 20)
 *   --minutes T         start no new sequence after T minutes
 *   --shrink            shrink each difference to a minimal sequence (slow) and print its --path
 *   --path P            replay the shrunk sequence fast-check printed
 *   --stop              stop at the first difference
 *   --visibility mixed|compact|immediate   how often Strata compacts between operations on records (default mixed: every third after a write)
 *   --tmp DIR           temporary files there (default /dev/shm when it exists)
 */
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import {
  DiffEnv,
  describeStats,
  newStats,
  quietly,
  replayCommand,
  runSequences,
  type SequenceKind,
  sequenceProperty,
  type VisibilityMode,
} from './runner.js';

function parse(argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) out.set(a.slice(2), 'true');
    else {
      out.set(a.slice(2), next);
      i++;
    }
  }
  return out;
}

const args = parse(process.argv.slice(2));
const num = (k: string, d: number) => {
  const v = args.get(k);
  if (v === undefined) return d;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${k} needs a number, got ${v}`);
  return n;
};
const runs = num('runs', 100);
const seed = num('seed', Math.floor(Math.random() * 2 ** 31));
const kind = args.get('kind') as SequenceKind | undefined;
if (kind !== undefined && kind !== 'plain' && kind !== 'import') throw new Error('--kind is plain or import');
const visibility = (args.get('visibility') ?? 'mixed') as VisibilityMode;
const tmp = args.get('tmp') ?? (existsSync('/dev/shm') ? '/dev/shm' : undefined);
const maxCommands = num('max-commands', 20);

const env = await DiffEnv.start({ visibility, tmp });
let failed = false;
try {
  const path = args.get('path');
  if (path !== undefined) {
    // replay of a shrunk sequence: exactly the one fast-check printed
    const k = kind ?? 'plain';
    const stats = newStats();
    const details = await quietly(() =>
      fc.check(sequenceProperty(env, stats, k, maxCommands), { seed, path, numRuns: 1, endOnFailure: true }),
    );
    if (details.failed) {
      failed = true;
      console.log(`DIFFERENCE (seed ${seed}, ${k})\n${(details.errorInstance as Error)?.message}`);
      console.log(`replay: ${replayCommand(seed, k, path)}`);
    } else console.log('no difference');
  } else {
    console.log(`seed ${seed}, ${runs} sequences, visibility ${visibility}${tmp ? `, tmp ${tmp}` : ''}`);
    const report = await runSequences(env, {
      seed,
      runs,
      kind,
      importEvery: num('import-every', 25),
      maxCommands,
      shrink: args.has('shrink'),
      stopOnDifference: args.has('stop'),
      timeLimitMs: args.has('minutes') ? num('minutes', 0) * 60_000 : undefined,
      onDifference: (d) => {
        console.log(`\nDIFFERENCE (seed ${d.seed}, ${d.kind})\n${d.message}\nreplay: ${d.replay}\n`);
      },
      onProgress: (done, stats) => {
        if (done % 25 === 0) console.log(`${done} sequences, ${stats.operations} operations`);
      },
    });
    failed = report.differences.length > 0;
    console.log(`\n${describeStats(report, env)}`);
  }
} finally {
  await env.close();
}
process.exitCode = failed ? 1 : 0;
