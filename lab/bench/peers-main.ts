/**
 * `npm run bench:peers`: Strata, Chroma and LanceDB on the same vectors and machine (lab/bench/peers.ts).
 * Writes bench-results/peers-<timestamp>.json and .md (and peers-latest.md), prints the Markdown tables.
 * `--quick` runs small workloads (a smoke run); `--only chroma,strata` picks peers; `--workloads demo` or `large`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { benchPeers, DEFAULT_WORKLOADS, type PeersOptions } from './peers.js';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const value = (flag: string) =>
    args.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1) ??
    (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
  const quick = args.includes('--quick');
  const only = value('--only')?.split(',') as PeersOptions['peers'] | undefined;
  const which = value('--workloads');
  let workloads = quick
    ? [
        { name: 'quick 3,000 × 256', records: 3_000, dimension: 256 },
        { name: 'quick 10,000 × 64', records: 10_000, dimension: 64 },
      ]
    : DEFAULT_WORKLOADS;
  if (which === 'demo') workloads = [DEFAULT_WORKLOADS[0]!];
  if (which === 'large') workloads = [DEFAULT_WORKLOADS[1]!];
  const log = (m: string) => process.stderr.write(`bench:peers: ${m}\n`);
  const meta = {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    quick,
    loadAvgAtStart: loadavg().map((x) => Math.round(x * 10) / 10),
  };
  const result = await benchPeers({
    workloads,
    ...(only ? { peers: only } : {}),
    queries: quick ? 50 : 200,
    log,
  });
  const end = loadavg().map((x) => Math.round(x * 10) / 10);
  const md = `# Strata vs Chroma vs LanceDB — ${meta.date}\n\nMachine: ${meta.cpu} × ${meta.cores}, ${meta.memGb} GiB, Node ${meta.node}; load average ${meta.loadAvgAtStart.join('/')} at start, ${end.join('/')} at end (other work on the machine skews absolute times). Command: \`npm run bench:peers\`.\n\n${result.markdown}`;
  const dir = 'bench-results';
  await mkdir(dir, { recursive: true });
  const stamp = meta.date.replace(/[:.]/g, '-');
  await writeFile(join(dir, `peers-${stamp}.json`), `${JSON.stringify({ meta, ...result }, null, 2)}\n`);
  await writeFile(join(dir, `peers-${stamp}.md`), md);
  await writeFile(join(dir, 'peers-latest.md'), md);
  process.stdout.write(md);
}

main().catch((e) => {
  process.stderr.write(`bench:peers failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
