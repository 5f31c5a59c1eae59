/**
 * The core section of `npm run bench`: every goal of segmented versions that the pipeline and the query layer carry,
 * each part in its own file, each against a baseline measured in the same run:
 *  - core:demo       (a) demo publish and background merge to one segment vs a bare usearch build
 *  - core:rounds     (b) `npm run demo` twice: bytes and time of round 2 vs round 1; (c) queries after the
 *                    demo's two rounds vs the fully merged version; cold open
 *  - core:large      (d) a 1 % change onto 200,000 × 384 vs a full build; (c) queries after 20 rounds;
 *                    (e) reuse vs rebuild and recall drift over 20 merge generations
 *  - core:rebuild    (e) the deleted-rows threshold above which a merge should rebuild
 *  - core:crossover  (f) the crossover constants of src/engine/crossover.ts
 * `--only core` runs them all; `--only core:large,core:rebuild` picks parts.
 */
import { benchCrossover } from './core-crossover.js';
import { benchDemoBuild } from './core-demo.js';
import { benchLarge } from './core-large.js';
import { benchRebuildThreshold } from './core-rebuild.js';
import { benchDemoRounds } from './core-rounds.js';
import type { BenchSection } from './stats.js';

type Part = (quick: boolean, log: (m: string) => void) => Promise<BenchSection>;

export const CORE_PARTS: Record<string, Part> = {
  'core:demo': (quick, log) =>
    benchDemoBuild(quick ? { records: 3_000, dimension: 256, deltas: 60, log } : { log }),
  'core:rounds': (quick, log) =>
    benchDemoRounds(
      quick
        ? { records: 3_000, dimension: 256, deltas: 30, changes: 120, changeDeltas: 4, queries: 100, log }
        : { log },
    ),
  'core:large': (quick, log) =>
    benchLarge(
      quick ? { records: 20_000, dimension: 128, rounds: 4, generations: 3, queries: 100, log } : { log },
    ),
  'core:rebuild': (quick, log) =>
    benchRebuildThreshold(
      quick ? { records: 20_000, dimension: 128, points: [0.05, 0.2, 0.5], queries: 100, log } : { log },
    ),
  'core:crossover': (quick, log) =>
    benchCrossover(
      quick
        ? {
            dimensions: [
              { dimension: 1536, rows: 4_000 },
              { dimension: 100, rows: 20_000 },
            ],
            queries: 50,
            log,
          }
        : { log },
    ),
};

/** Every core part, one after the other, as one section. */
export async function benchCore(quick: boolean, log: (m: string) => void): Promise<BenchSection> {
  const rows: BenchSection['rows'] = [];
  const data: Record<string, unknown> = {};
  for (const [name, part] of Object.entries(CORE_PARTS)) {
    log(`${name}`);
    const s = await part(quick, log);
    rows.push(...s.rows);
    data[name] = s.data;
  }
  return { name: 'core', rows, data };
}
