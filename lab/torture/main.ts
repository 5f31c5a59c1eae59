/**
 * `npm run torture -- --runs N --seed S [--run R …] [--parallel P] [--profile full|ci] [--episodes a,b]`
 * Exit code 0: every invariant held in every run; 1: at least one violation (seed and step printed); 2: usage.
 */
import { availableParallelism } from 'node:os';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { FAULT_KINDS, type FaultKind } from '../../src/testing/faulty-store.js';
import { RedisServerProcess } from '../devservers/redis-server.js';
import { LocalBackend, type StoreBackend } from './backend.js';
import { CephBackend } from './backend-ceph.js';
import { runCampaign } from './campaign.js';
import { EPISODE_KINDS, type EpisodeKind } from './episodes.js';
import { CampaignProgress, formatSummary } from './report.js';
import { PROFILES, type Violation } from './run.js';

function int(name: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}`);
    return n;
  };
}

function episodes(v: string): EpisodeKind[] {
  const list = v.split(',').map((s) => s.trim());
  for (const k of list) {
    if (!(EPISODE_KINDS as readonly string[]).includes(k)) {
      throw new InvalidArgumentError(`unknown episode ${k} (one of ${EPISODE_KINDS.join(', ')})`);
    }
  }
  return list as EpisodeKind[];
}

function faultKinds(v: string): FaultKind[] {
  const list = v.split(',').map((s) => s.trim());
  for (const k of list) {
    if (!(FAULT_KINDS as readonly string[]).includes(k)) {
      throw new InvalidArgumentError(`unknown store fault ${k} (one of ${FAULT_KINDS.join(', ')})`);
    }
  }
  return list as FaultKind[];
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name('torture')
    .description('crash and fault campaign: no snapshot is ever corrupt and no delta is ever lost')
    .option('--runs <n>', 'runs', int('--runs', 1), 100)
    .option('--seed <n>', 'campaign seed (default: random, printed)', int('--seed', 0))
    .option('--run <n...>', 'replay only these run indices of the seed')
    .option('--parallel <n>', 'runs at once', int('--parallel', 1), Math.max(2, availableParallelism() * 2))
    .option('--profile <name>', 'workload size: full | ci', 'full')
    .option('--episodes <list>', `only these episodes (${EPISODE_KINDS.join(', ')})`, episodes)
    .option(
      '--exclude-faults <list>',
      `never inject these store faults (${FAULT_KINDS.join(', ')})`,
      faultKinds,
    )
    .option(
      '--backend <kind>',
      'where runs keep their stores: local (a temp directory per run) | ceph (a one-node Ceph cluster started here; adds the kill-s3-server episode)',
      'local',
    )
    .option(
      '--small-fs <MiB>',
      "keep each run's local store on a tmpfs of this size (adds the disk-full episode; default 128 as root, off otherwise; 0 = off)",
      int('--small-fs', 0),
    )
    .option('--bullmq', 'start a Redis and add the kill-bullmq-worker episode (steps as BullMQ jobs)')
    .option('--serve', "read through a query server on each run's store too (Chroma's HTTP API, hot swap)")
    .option('--json', 'print the summary as JSON')
    .exitOverride();
  try {
    program.parse(argv);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    throw e;
  }
  const o = program.opts<{
    runs: number;
    seed?: number;
    run?: string[];
    parallel: number;
    profile: string;
    episodes?: EpisodeKind[];
    excludeFaults?: FaultKind[];
    backend: string;
    smallFs?: number;
    bullmq?: boolean;
    serve?: boolean;
    json?: boolean;
  }>();
  if (o.backend !== 'local' && o.backend !== 'ceph') {
    process.stderr.write(`unknown backend ${o.backend} (local | ceph)\n`);
    return 2;
  }
  if (!(o.profile in PROFILES)) {
    process.stderr.write(`unknown profile ${o.profile} (full | ci)\n`);
    return 2;
  }
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const only = o.run?.flatMap((s) => s.split(',')).map((s) => int('--run', 0)(s));
  const profile = {
    ...PROFILES[o.profile as keyof typeof PROFILES],
    ...(o.episodes ? { episodes: o.episodes } : {}),
    ...(o.excludeFaults ? { excludeFaults: o.excludeFaults } : {}),
  };
  process.stderr.write(
    `torture: seed ${seed}, ${only ? `runs ${only.join(', ')}` : `${o.runs} runs`}, ${o.parallel} at a time, profile ${o.profile}, backend ${o.backend}\n`,
  );
  const smallFsMb = o.smallFs ?? (process.getuid?.() === 0 ? 128 : 0);
  if (o.episodes?.includes('disk-full') && (o.backend !== 'local' || smallFsMb === 0)) {
    process.stderr.write(
      'the disk-full episode needs --backend local and --small-fs (root, to mount a tmpfs)\n',
    );
    return 2;
  }
  if (o.episodes?.includes('power-loss') && o.backend !== 'local') {
    process.stderr.write('the power-loss episode needs --backend local (a powerfs mount per run)\n');
    return 2;
  }
  let backend: StoreBackend = new LocalBackend(smallFsMb > 0 ? smallFsMb : undefined);
  if (o.backend === 'ceph') {
    const t0 = Date.now();
    process.stderr.write(
      'torture: starting a one-node Ceph cluster (ceph-mon, ceph-osd on memstore, radosgw)\n',
    );
    backend = await CephBackend.start();
    process.stderr.write(`torture: Ceph is up after ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  const redis = o.bullmq ? await RedisServerProcess.start() : undefined;
  if (redis) process.stderr.write(`torture: redis-server on ${redis.url}\n`);
  const progress = new CampaignProgress();
  // The local pool writes to workers without an 'error' listener: a write to a worker that has just died
  // emits an unhandled EPIPE / ERR_IPC_CHANNEL_CLOSED that would kill this process (bug reported against
  // src/runners/local/pool.ts). Count each as a violation and keep the campaign going; anything else is fatal.
  const hostErrors: Violation[] = [];
  process.on('uncaughtException', (e) => {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EPIPE' || code === 'ERR_IPC_CHANNEL_CLOSED') {
      hostErrors.push({
        seed,
        run: -1,
        step: 'campaign process (an in-process local pool)',
        invariant: 'pool-host-survives-worker-death',
        detail: `unhandled ${code} from a write to a worker process: ${(e.stack ?? e.message).split('\n').slice(0, 6).join(' ')}`,
      });
      process.stderr.write(`torture: violation: unhandled ${code} in the campaign process (pool host)\n`);
      return;
    }
    process.stderr.write(`torture failed: ${e.stack ?? e.message}\n`);
    process.exit(1);
  });
  // Ctrl-C (or SIGTERM): finish the runs in flight, then print the table of the finished runs.
  const stop = new AbortController();
  const onSignal = () => {
    process.stderr.write('\ntorture: stopping after the runs in flight\n');
    stop.abort();
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const summary = await runCampaign({
    backend,
    services: { ...(redis ? { redis: redis.url } : {}), ...(o.serve ? { serve: true } : {}) },
    signal: stop.signal,
    seed,
    runs: o.runs,
    ...(only ? { only } : {}),
    parallel: o.parallel,
    profile,
    replayFlags: [
      o.backend !== 'local' ? `--backend ${o.backend}` : '',
      o.bullmq ? '--bullmq' : '',
      o.smallFs !== undefined ? `--small-fs ${o.smallFs}` : '',
      o.serve ? '--serve' : '',
      o.profile !== 'full' ? `--profile ${o.profile}` : '',
      o.episodes ? `--episodes ${o.episodes.join(',')}` : '',
      o.excludeFaults ? `--exclude-faults ${o.excludeFaults.join(',')}` : '',
    ]
      .filter(Boolean)
      .join(' '),
    onRun: (r, done, total) => progress.run(r, done, total),
  }).finally(async () => {
    await redis?.stop();
    await backend.close();
  });
  summary.violations.push(...hostErrors);
  process.stdout.write(o.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary)}\n`);
  return summary.violations.length > 0 ? 1 : 0;
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`torture failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
