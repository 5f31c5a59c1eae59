/**
 * Episodes of segmented versions: a merge racing a publish, and garbage collection racing readers that hold
 * an older version. (A compactor or worker SIGKILLed inside a merge is one of the failpoints of the kill
 * episodes: step.merge, merge.before-pointer.)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { openCurrentVersion } from '../../src/pipeline/current.js';
import { gcCollection } from '../../src/pipeline/gc.js';
import { mergeCollection } from '../../src/pipeline/merges.js';
import { openVersion } from '../../src/pipeline/open-version.js';
import { baseRefOf, readPointer } from '../../src/pipeline/pointer.js';
import type { MergeTask, StepResult } from '../../src/pipeline/steps.js';
import { readVersion } from '../../src/pipeline/versions.js';
import { InlineExecutor } from '../../src/runners/inline.js';
import type { EpisodeContext } from './episodes.js';
import { describe } from './readers.js';

export const SEGMENT_FAULTS = {
  mergeRace: 'merge racing a publish',
  mergeRebased: '(effect) merge rebased onto newer deletions',
  mergeDropped: '(effect) merge dropped (inputs gone)',
  gcRace: 'GC racing readers of an older version',
} as const;

/**
 * A merge of every segment (lease taken only to publish) runs while a compactor process publishes the
 * round's deltas; the merge step is held until that publish landed, or released at a random instant. The
 * merge must rebase onto the new deletions or be dropped — the invariants check nothing was lost or
 * resurrected.
 */
export async function mergeRacesPublish(
  ctx: EpisodeContext,
  compactInChild: () => Promise<void>,
): Promise<void> {
  const { rng } = ctx;
  ctx.count(SEGMENT_FAULTS.mergeRace);
  const exec = new InlineExecutor(ctx.base, { retry: { attempts: 2, baseMs: 20, maxMs: 200 } });
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const step = async (task: MergeTask): Promise<StepResult> => {
    const r = await exec.run(task);
    await gate;
    return r;
  };
  try {
    const merging = mergeCollection(
      ctx.base,
      ctx.t.name,
      { ttlMs: ctx.leaseTtlMs, waitMs: ctx.leaseTtlMs * 4 + 5_000 },
      {
        step,
        mode: 'all',
        onEvent: (e) => {
          if (e.type === 'merge-published' && e.rebased) ctx.count(SEGMENT_FAULTS.mergeRebased);
          if (e.type === 'merge-dropped') ctx.count(SEGMENT_FAULTS.mergeDropped);
        },
      },
    ).catch((e: unknown) => {
      // a merge may fail (a lease it could not get in time): harmless; the invariants say whether it harmed
      return describe(e);
    });
    const publishing = compactInChild();
    if (rng.chance(0.5)) await publishing;
    else await sleep(rng.int(1_500));
    release();
    await Promise.all([merging, publishing]);
  } finally {
    release();
    await exec.close();
  }
}

/**
 * Readers resolve the current version (pointer → version manifest) and open it a moment later, or hold it
 * open, while compactions publish and merge and GC runs with a grace period longer than that moment: what they
 * resolved must still open, and what they hold must still answer.
 */
export async function gcRacesReaders(
  ctx: EpisodeContext,
  compactInProcess: () => Promise<void>,
): Promise<void> {
  const { rng } = ctx;
  const name = ctx.t.name;
  const pointer = await readPointer(ctx.base, name);
  if (!pointer) {
    await compactInProcess();
    return;
  }
  ctx.count(SEGMENT_FAULTS.gcRace);
  const graceMs = 2_000 + rng.int(2_000);
  const resolvedAt = Date.now();
  const resolved = await readVersion(ctx.base, baseRefOf(pointer)!, name);
  await using held = await openCurrentVersion(ctx.base, name, { vectorBudgetBytes: 0 }).catch(
    () => undefined,
  );
  await compactInProcess();
  await mergeCollection(
    ctx.base,
    name,
    { ttlMs: ctx.leaseTtlMs, waitMs: ctx.leaseTtlMs * 4 + 5_000 },
    {
      step: (t) => new InlineExecutor(ctx.base).run(t),
      mode: 'all',
    },
  ).catch(() => undefined);
  await gcCollection(ctx.base, name, { graceMs });
  if (Date.now() - resolvedAt < graceMs) {
    try {
      await using _v = await openVersion(ctx.base, name, resolved, { verify: 'checksums' });
    } catch (e) {
      ctx.problems.push({
        invariant: 'gc-keeps-what-readers-resolved',
        detail: `${name}: v${resolved.manifest.version}, resolved ${Date.now() - resolvedAt} ms ago (grace ${graceMs} ms), no longer opens after gc: ${describe(e)}`,
      });
    }
  }
  if (held) {
    // files of a version a reader holds open stay readable even once collected (unlinked, not truncated)
    await gcCollection(ctx.base, name, { graceMs: 0 }).catch(() => undefined);
    try {
      const anyId = held.ids().next();
      if (!anyId.done) {
        const row = held.get([anyId.value]).get(anyId.value);
        if (!row) throw new Error(`id ${anyId.value} of its own listing is gone`);
        held.search(row.embedding!, 3);
      }
    } catch (e) {
      ctx.problems.push({
        invariant: 'held-version-keeps-answering',
        detail: `${name}: a version held open stopped answering after gc: ${describe(e)}`,
      });
    }
  }
}
