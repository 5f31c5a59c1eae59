/**
 * A campaign: runs 0..N-1 of a seed (or a chosen few), `parallel` at a time, aggregated into one summary.
 */
import { LocalBackend, type StoreBackend } from './backend.js';
import { type RunProfile, type RunResult, type RunServices, runOne } from './run.js';

export interface CampaignOptions {
  seed: number;
  runs: number;
  /** Only these run indices (replaying a failure). */
  only?: number[];
  parallel: number;
  profile: RunProfile;
  /** Where runs keep their stores (default: a temp directory per run). */
  backend?: StoreBackend;
  /** Other servers the runs may use (Redis for the BullMQ episode). */
  services?: RunServices;
  /** Extra command-line flags a replay needs (profile, episodes), printed with the seed. */
  replayFlags?: string;
  onRun?: (r: RunResult, done: number, total: number) => void;
  /** Stop starting runs (the runs in flight finish; the summary covers the finished ones). */
  signal?: AbortSignal;
}

/** The tallies of every run, summed (RunResult's counters), plus what only a campaign knows. */
export interface CampaignSummary
  extends Pick<
    RunResult,
    | 'seed'
    | 'violations'
    | 'faults'
    | 'episodes'
    | 'badClasses'
    | 'readerOpens'
    | 'readerUnavailable'
    | 'httpAnswers'
    | 'ms'
  > {
  replayFlags: string;
  /** Where the runs kept their stores ('local', 'ceph'). */
  backend: string;
  runs: number;
  completed: number;
  /** completed / runs. */
  completionRate: number;
  /** Slowest runs (index, ms). */
  slowest: Array<[number, number]>;
}

export async function runCampaign(o: CampaignOptions): Promise<CampaignSummary> {
  const t0 = Date.now();
  const indices = o.only ?? Array.from({ length: o.runs }, (_, i) => i);
  const results: RunResult[] = [];
  const backend = o.backend ?? new LocalBackend();
  let next = 0;
  const worker = async () => {
    while (next < indices.length && !o.signal?.aborted) {
      const i = indices[next++]!;
      const r = await runOne(o.seed, i, o.profile, backend, o.services);
      results.push(r);
      o.onRun?.(r, results.length, indices.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.parallel, indices.length)) }, worker));
  return summarize(o.seed, results, Date.now() - t0, o.replayFlags ?? '', backend.kind);
}

function add<K extends string>(into: Partial<Record<K, number>>, from: Partial<Record<K, number>>): void {
  for (const [k, v] of Object.entries(from) as Array<[K, number]>) into[k] = (into[k] ?? 0) + v;
}

export function summarize(
  seed: number,
  results: RunResult[],
  ms: number,
  replayFlags = '',
  backend = 'local',
): CampaignSummary {
  const s: CampaignSummary = {
    seed,
    replayFlags,
    backend,
    runs: results.length,
    completed: results.filter((r) => r.completed).length,
    completionRate: 0,
    violations: results.flatMap((r) => r.violations).sort((a, b) => a.run - b.run),
    faults: {},
    episodes: {},
    badClasses: {},
    readerOpens: 0,
    readerUnavailable: 0,
    httpAnswers: 0,
    ms,
    slowest: results
      .map((r) => [r.run, r.ms] as [number, number])
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3),
  };
  s.completionRate = s.runs === 0 ? 1 : s.completed / s.runs;
  for (const r of results) {
    add(s.faults, r.faults);
    add(s.episodes, r.episodes);
    add(s.badClasses, r.badClasses);
    s.readerOpens += r.readerOpens;
    s.readerUnavailable += r.readerUnavailable;
    s.httpAnswers += r.httpAnswers;
  }
  return s;
}
