/**
 * `npm run bench`: runs every benchmark section, writes bench-results/<timestamp>.json and .md, prints the
 * Markdown table. `--only core,serve` picks sections; `--quick` shrinks workloads for a smoke run.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { startS3rverProcess } from '../devservers/s3rver-process.js';
import { benchConsole } from './console.js';
import { benchCore, CORE_PARTS } from './core.js';
import { benchDistributed } from './distributed.js';
import { benchReal } from './real.js';
import { benchS3 } from './s3.js';
import { benchServe } from './serve.js';
import type { BenchSection } from './stats.js';

type Section = (quick: boolean, log: (m: string) => void) => Promise<BenchSection>;

/** What `npm run bench` runs without --only (core's parts run inside core). */
const DEFAULT_SECTIONS = ['core', 's3', 'serve', 'distributed', 'console'];

export const SECTIONS: Record<string, Section> = {
  core: benchCore,
  ...CORE_PARTS,
  real: (quick, log) => benchReal({ quick, log }),
  s3: (quick, log) => benchS3(quick ? { sizeMb: 50, repeats: 1, log } : { log }),
  serve: (quick, log) =>
    benchServe(quick ? { records: 3_000, dimension: 256, queries: 100, changes: 120, log } : { log }),
  console: (quick, log) =>
    benchConsole(
      quick
        ? { collections: 10, deltasPerCollection: 10, steps: 100, recallRecords: 15_000, queries: 300, log }
        : { log },
    ),
  // The comparison: the local runner on the local store vs the BullMQ runner (2 workers) on s3rver.
  distributed: async (quick, log) => {
    const s3 = await startS3rverProcess();
    const saved = { ...process.env };
    Object.assign(process.env, s3.env());
    try {
      const storeOpts = { bullmqStore: s3.storeSpec('bench-distributed'), workerEnv: s3.env(), log };
      return await benchDistributed(
        quick ? { records: 3_000, dimension: 256, deltas: 30, ...storeOpts } : storeOpts,
      );
    } finally {
      process.env = saved;
      await s3.stop();
    }
  },
};

function toMarkdown(sections: BenchSection[], meta: Record<string, unknown>): string {
  const lines = [
    `# Strata benchmarks — ${meta.date}`,
    '',
    `Machine: ${meta.cpu} × ${meta.cores}, ${meta.memGb} GiB, Node ${meta.node}. Command: \`npm run bench\`.`,
    '',
    '| bench | metric | Strata | baseline (same run) | ratio | goal | met |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const s of sections) {
    for (const r of s.rows) {
      lines.push(
        `| ${r.bench} | ${r.metric} | ${r.strata} | ${r.baseline} | ${r.ratio} | ${r.goal} | ${r.met === null ? '-' : r.met ? 'yes' : 'no'} |`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const onlyArg =
    args.find((a) => a.startsWith('--only='))?.slice(7) ??
    (args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined);
  const names = onlyArg ? onlyArg.split(',') : DEFAULT_SECTIONS;
  const log = (m: string) => process.stderr.write(`bench: ${m}\n`);
  const meta = {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    quick,
  };
  const sections: BenchSection[] = [];
  const failed: string[] = [];
  for (const n of names) {
    const s = SECTIONS[n];
    if (!s) throw new Error(`unknown bench section ${n} (have: ${Object.keys(SECTIONS).join(', ')})`);
    log(`section ${n}`);
    try {
      sections.push(await s(quick, log));
    } catch (e) {
      // one failing section must not lose the others' figures: recorded, and the run fails at the end
      log(`section ${n} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      failed.push(n);
    }
  }
  const dir = 'bench-results';
  await mkdir(dir, { recursive: true });
  const stamp = meta.date.replace(/[:.]/g, '-');
  const md = toMarkdown(sections, meta);
  await writeFile(join(dir, `${stamp}.json`), `${JSON.stringify({ meta, sections }, null, 2)}\n`);
  await writeFile(join(dir, `${stamp}.md`), md);
  await writeFile(join(dir, 'latest.md'), md);
  process.stdout.write(md);
  if (failed.length > 0) throw new Error(`sections failed: ${failed.join(', ')}`);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
