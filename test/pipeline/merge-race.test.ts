/**
 * A merge racing a publish: the merge step reads version N; meanwhile a compaction publishes N+1, which
 * supersedes rows of the merge's inputs. The merge then publishes onto N+1, carrying those deletions onto the
 * merged segment (through its key map): nothing lost, nothing resurrected. A merge whose inputs another merge
 * took away is dropped (E_MERGE_OBSOLETE), never published.
 */
import { describe, expect, it } from 'vitest';
import { openCurrentVersion } from '../../src/pipeline/current.js';
import { mergeCollection } from '../../src/pipeline/merges.js';
import { baseRefOf, readPointer } from '../../src/pipeline/pointer.js';
import type { MergeTask, StepResult } from '../../src/pipeline/steps.js';
import { verifyCollection } from '../../src/pipeline/verify.js';
import { readVersion } from '../../src/pipeline/versions.js';
import { InlineExecutor } from '../../src/runners/inline.js';
import { generateChanges } from '../../src/workload/synthetic.js';
import { ReferenceModel } from '../helpers/model.js';
import { compactInline, ingestBatches, mergeInline, smallCollection, upserts } from '../helpers/pipeline.js';
import { tempStore } from '../helpers/tmp.js';

async function threeSegments() {
  const t = await tempStore();
  const config = await smallCollection(t.store, 'm', 8);
  const model = new ReferenceModel();
  for (let r = 0; r < 3; r++) {
    const ops = upserts(4, 60, 8, r * 60);
    await ingestBatches(t.store, config, ops, 60);
    model.applyAll(ops);
    await compactInline(t.store, 'm', { merge: 'none' });
  }
  return { t, config, model };
}

/** A step function whose merge steps wait at a gate before returning. */
function gated(t: { store: Parameters<typeof compactInline>[0] }) {
  const exec = new InlineExecutor(t.store, { retry: { attempts: 1 } });
  let open!: () => void;
  const gate = new Promise<void>((r) => {
    open = r;
  });
  let started!: () => void;
  const running = new Promise<void>((r) => {
    started = r;
  });
  const step = async (task: MergeTask): Promise<StepResult> => {
    const r = await exec.run(task);
    started();
    await gate;
    return r;
  };
  return { step, open, running, close: () => exec.close() };
}

describe('a merge racing a publish', () => {
  it('re-applies the deletions published meanwhile onto the merged segment', async () => {
    const { t, config, model } = await threeSegments();
    await using _t = t;
    const g = gated(t);
    try {
      const merging = mergeCollection(t.store, 'm', { ttlMs: 10_000 }, { step: g.step, mode: 'all' });
      await g.running; // the merged segment is built from version 3
      // meanwhile: updates, re-upserts and deletes of rows in the merge's inputs are published as v4
      const changes = [
        ...generateChanges({ seed: 9, existingIds: model.sortedIds(), count: 40, dimension: 8, round: 2 }),
      ];
      await ingestBatches(t.store, config, changes, 20);
      model.applyAll(changes);
      const pub = await compactInline(t.store, 'm', { merge: 'none' });
      expect(pub.snapshot?.version).toBe(4);
      g.open();
      const report = await merging;
      expect(report.published).toHaveLength(1);
      expect(report.published[0]!.version).toBe(5);
      const m = (await readVersion(t.store, baseRefOf(await readPointer(t.store, 'm'))!, 'm')).manifest;
      expect(m.cause).toBe('merge');
      const merged = m.segments.find((s) => s.manifestSha256 === m.merged!.output)!;
      expect(merged.deleted).toBeGreaterThan(0); // the deletions of v4, carried over
      expect(m.contentHash).toBe(model.contentHash());
      expect((await verifyCollection(t.store, 'm')).problems).toEqual([]);
      await using q = await openCurrentVersion(t.store, 'm');
      expect(new Set(q.ids())).toEqual(new Set(model.records.keys()));
      for (const c of changes.filter((x) => x.op !== 'delete')) {
        const want = model.records.get(c.id);
        const got = q.get([c.id]).get(c.id);
        expect([got?.document ?? null, got?.metadata ?? null]).toEqual(
          want ? [want.document, want.metadata] : [null, null],
        );
      }
    } finally {
      await g.close();
    }
  });

  it('is dropped when another merge took its inputs away', async () => {
    const { t, model } = await threeSegments();
    await using _t = t;
    const g = gated(t);
    try {
      const slow = mergeCollection(t.store, 'm', { ttlMs: 10_000 }, { step: g.step, mode: 'all' });
      await g.running;
      const fast = await mergeInline(t.store, 'm', 'all');
      expect(fast.published).toHaveLength(1);
      g.open();
      const report = await slow;
      expect(report.published).toHaveLength(0);
      expect(report.dropped[0]!.error.code).toBe('E_MERGE_OBSOLETE');
      const p = (await readPointer(t.store, 'm'))!.value;
      expect(p.version).toBe(fast.published[0]!.version);
      expect(p.contentHash).toBe(model.contentHash());
    } finally {
      await g.close();
    }
  });
});
