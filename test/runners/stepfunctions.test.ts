import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { localResources, runStateMachine } from '../../lab/stepfunctions/index.js';
import { main } from '../../src/cli/main.js';
import { ErrorCodes } from '../../src/core/errors.js';
import { reloadFailpoints } from '../../src/core/failpoints.js';
import { writeJson } from '../../src/pipeline/json-object.js';
import { Keys } from '../../src/pipeline/layout.js';
import { readLease } from '../../src/pipeline/lease.js';
import { readLedger } from '../../src/pipeline/ledger.js';
import { type MergeReport, mergeCollection } from '../../src/pipeline/merges.js';
import { baseRefOf, readPointer } from '../../src/pipeline/pointer.js';
import { resumeRunLease } from '../../src/pipeline/run.js';
import { listRuns } from '../../src/pipeline/runs.js';
import { verifyCollection } from '../../src/pipeline/verify.js';
import { readVersion } from '../../src/pipeline/versions.js';
import { InlineExecutor } from '../../src/runners/inline.js';
import {
  type AslDefinition,
  buildStateMachine,
  functionArn,
  type PlanEvent,
  type PublishMergesEvent,
  type PublishResult,
} from '../../src/runners/lambda/index.js';
import { generateChanges } from '../../src/workload/synthetic.js';
import { ReferenceModel } from '../helpers/model.js';
import { ingestBatches, smallCollection, upserts } from '../helpers/pipeline.js';
import { tempDir, tempStore } from '../helpers/tmp.js';

type Validator = (
  definition: unknown,
  opts?: { checkPaths: boolean; checkArn: boolean },
) => { isValid: boolean; errorsText: (sep?: string) => string };
const aslValidator = createRequire(import.meta.url)('asl-validator') as Validator;

type State = Record<string, unknown> & { Type: string };
function allStates(
  states: Record<string, unknown>,
  out: Array<[string, State]> = [],
): Array<[string, State]> {
  for (const [name, s] of Object.entries(states) as Array<[string, State]>) {
    out.push([name, s]);
    const inner = (s.ItemProcessor ?? s.Iterator) as { States: Record<string, unknown> } | undefined;
    if (inner) allStates(inner.States, out);
  }
  return out;
}

const fast = { resources: localResources(), retryIntervalScale: 0.001 };
const planEvent = (dir: string, o: Partial<PlanEvent> = {}): PlanEvent => ({
  storeSpec: dir,
  collection: 'lines',
  chunkSize: 2,
  groupSize: 2,
  ...o,
});

afterEach(() => reloadFailpoints(''));

describe('Step Functions export', () => {
  it('`strata export stepfunctions` writes a definition asl-validator accepts, with Map states, Retry and Catch', async () => {
    await using d = await tempDir('strata-sfn');
    const file = join(d.dir, 'compaction.asl.json');
    await main(['node', 'strata', '--quiet', 'export', 'stepfunctions', '--out', file]);
    const written = JSON.parse(await readFile(file, 'utf8')) as AslDefinition;
    expect(written).toEqual(buildStateMachine());

    const result = aslValidator(structuredClone(written), { checkPaths: true, checkArn: true });
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);

    const states = allStates(written.States);
    const byName = new Map(states);
    expect(byName.get('Groups')?.Type).toBe('Map');
    expect(byName.get('Chunks')?.Type).toBe('Map');
    expect(byName.get('Merges')?.Type).toBe('Map');
    const tasks = states.filter(([, s]) => s.Type === 'Task');
    expect(tasks.map(([n]) => n).sort()).toEqual([
      'Abort',
      'ChunkMerge',
      'FinalMerge',
      'GroupMerge',
      'MergeStep',
      'Plan',
      'PlanMerges',
      'Publish',
      'PublishMerges',
    ]);
    for (const [name, t] of tasks) {
      expect(Array.isArray(t.Retry) && t.Retry.length > 0, `${name} retries`).toBe(true);
      expect(Array.isArray(t.Catch) && t.Catch.length > 0, `${name} catches`).toBe(true);
    }
    expect(byName.get('Publish')?.Resource).toBe(functionArn('publish'));
    expect(byName.get('Publish')?.Next).toBe('MergesNext');
    expect(byName.get('PlanMerges')?.Resource).toBe(functionArn('planMerges'));
    expect(byName.get('MergeStep')?.Resource).toBe(functionArn('merge'));
    expect(byName.get('PublishMerges')?.Resource).toBe(functionArn('publishMerges'));
  });
});

describe('Step Functions definition, run locally over the Lambda handlers', () => {
  it('runs the steps in the order the definition gives and publishes the reference model; bad deltas quarantined (merge none: no merge phase)', async () => {
    await using t = await tempStore();
    const config = await smallCollection(t.store);
    const ops = upserts(41, 330, 8);
    const deltas = await ingestBatches(t.store, config, ops, 30); // 11 deltas → 6 chunks → 3 groups
    const bad = deltas[4]!;
    await t.store.put(bad.key, new Uint8Array([1, 2, 3, 4])); // bit rot: checksum mismatch
    const model = new ReferenceModel().applyAll(ops.slice(0, 120)).applyAll(ops.slice(150));
    const definition = buildStateMachine();

    const r = await runStateMachine(definition, planEvent(t.dir, { merge: 'none' }), fast);
    expect(r.status, `${r.error}: ${r.cause}`).toBe('SUCCEEDED');
    const out = r.output as PublishResult;
    expect(out).toMatchObject({
      status: 'published',
      promoted: 10,
      quarantined: [bad.seqStart],
      groupsFailed: 0,
      mergesNext: false,
    });
    expect(out.merges).toBeUndefined();
    expect(out.snapshot).toMatchObject({
      version: 1,
      count: model.records.size,
      contentHash: model.contentHash(),
    });

    // the order the definition gives: Plan, then every chunk before its group, every group before the final merge
    const order = r.trace.filter((e) => e.ok).map((e) => e.state);
    expect(order[0]).toBe('Plan');
    expect(order.slice(-2)).toEqual(['FinalMerge', 'Publish']); // no merge phase: the execution ends there
    expect(order.filter((s) => s === 'ChunkMerge')).toHaveLength(6);
    expect(order.filter((s) => s === 'GroupMerge')).toHaveLength(3);
    expect(order.indexOf('GroupMerge')).toBeGreaterThan(order.indexOf('ChunkMerge'));

    expect((await verifyCollection(t.store, 'lines')).ok).toBe(true);
    const ledger = await readLedger(t.store, 'lines');
    expect(ledger.counts).toEqual({
      pending: 0,
      compacting: 0,
      promoted: 10,
      'rolled-back': 0,
      quarantined: 1,
    });
    expect(ledger.entries.find((e) => e.seqStart === bad.seqStart)?.error?.code).toBe(
      ErrorCodes.DELTA_CHECKSUM,
    );
    expect((await readLease(t.store, 'lines'))?.released).toBe(true);
    expect((await listRuns(t.store, 'lines', 1))[0]).toMatchObject({
      status: 'succeeded',
      snapshot: { version: 1 },
    });

    // nothing pending: Plan ends the execution, the pointer does not move
    const idle = await runStateMachine(definition, planEvent(t.dir), fast);
    expect(idle.status).toBe('SUCCEEDED');
    expect(idle.trace.map((e) => e.state)).toEqual(['Plan']);
    expect((await readPointer(t.store, 'lines'))?.value.version).toBe(1);
  });

  it('a pointer that moves before the swap sends the execution back to the final merge (incremental round)', async () => {
    await using t = await tempStore();
    const config = await smallCollection(t.store);
    const ops = upserts(42, 200, 8);
    await ingestBatches(t.store, config, ops, 50);
    const definition = buildStateMachine();
    expect((await runStateMachine(definition, planEvent(t.dir), fast)).status).toBe('SUCCEEDED');

    const model = new ReferenceModel().applyAll(ops);
    const changes = [
      ...generateChanges({ seed: 42, existingIds: model.sortedIds(), count: 12, dimension: 8, round: 2 }),
    ];
    await ingestBatches(t.store, config, changes, 4);
    model.applyAll(changes);
    // after the first final merge, something rewrites the pointer (its etag changes): the CAS must refuse
    const resources = { ...fast.resources };
    const finalArn = functionArn('final');
    let finals = 0;
    resources[finalArn] = async (input) => {
      const out = await fast.resources[finalArn]!(input);
      if (++finals === 1) {
        const p = (await readPointer(t.store, 'lines'))!;
        await writeJson(
          t.store,
          Keys.pointer('lines'),
          { ...p.value, publishedAt: new Date(0).toISOString() },
          { ifMatch: p.etag },
        );
      }
      return out;
    };
    const r = await runStateMachine(definition, planEvent(t.dir), { ...fast, resources });
    expect(r.status, `${r.error}: ${r.cause}`).toBe('SUCCEEDED');
    expect(r.trace.filter((e) => e.state === 'Publish').map((e) => e.error ?? 'ok')).toEqual([
      ErrorCodes.POINTER_CONFLICT,
      'ok',
    ]);
    expect(finals).toBe(2);
    expect((r.output as PublishResult).snapshot).toMatchObject({
      version: 2,
      contentHash: model.contentHash(),
    });
    expect((await verifyCollection(t.store, 'lines')).ok).toBe(true);
  });

  it('a group that keeps failing: bounded retries, the run aborts, nothing is published, the lease is released', async () => {
    await using t = await tempStore();
    const config = await smallCollection(t.store);
    const ops = upserts(43, 120, 8);
    await ingestBatches(t.store, config, ops, 30); // 4 deltas → 2 chunks → 1 group
    const definition = buildStateMachine({ attempts: 3 });
    reloadFailpoints('step.group=error');
    const r = await runStateMachine(definition, planEvent(t.dir), fast);
    expect(r.status).toBe('FAILED');
    expect(r.error).toBe('Strata.RunFailed');
    expect(r.trace.filter((e) => e.state === 'GroupMerge')).toHaveLength(3);
    expect(r.trace.filter((e) => e.state === 'FinalMerge').map((e) => e.error)).toEqual(['Strata.Permanent']);
    expect(r.trace.at(-1)).toMatchObject({ state: 'Abort', ok: true });
    expect(await readPointer(t.store, 'lines')).toBeUndefined();
    const [run] = await listRuns(t.store, 'lines', 1);
    expect(run).toMatchObject({ status: 'failed', error: { code: ErrorCodes.STEP_FAILED } });
    expect((await readLease(t.store, 'lines'))?.released).toBe(true);

    // the deltas stayed pending: the next execution publishes them
    reloadFailpoints('');
    const again = await runStateMachine(definition, planEvent(t.dir), fast);
    expect(again.status).toBe('SUCCEEDED');
    expect((again.output as PublishResult).snapshot?.contentHash).toBe(
      new ReferenceModel().applyAll(ops).contentHash(),
    );
  });
});

describe('Step Functions definition: the merge phase after the publish', () => {
  const current = async (store: Parameters<typeof readPointer>[0]) =>
    (await readVersion(store, baseRefOf(await readPointer(store, 'lines'))!, 'lines')).manifest;
  /** 330 records in 11 deltas → 6 chunks → 3 groups: a publish that leaves 3 segments. */
  const threeSegments = async (store: Parameters<typeof readPointer>[0], seed: number) => {
    const config = await smallCollection(store);
    const ops = upserts(seed, 330, 8);
    await ingestBatches(store, config, ops, 30);
    return { config, model: new ReferenceModel().applyAll(ops) };
  };
  /** The run records of one execution: the compaction's and the merge run's. */
  const records = async (store: Parameters<typeof readPointer>[0]) => {
    const runs = await listRuns(store, 'lines', 50);
    return {
      compact: runs.filter((r) => r.kind !== 'merge'),
      merge: runs.filter((r) => r.kind === 'merge'),
    };
  };

  it('merges what the policy asks for on the version just published, under the lease: content hash unchanged, verified, lease released', async () => {
    await using t = await tempStore();
    const { config, model } = await threeSegments(t.store, 51);
    const definition = buildStateMachine();
    const r1 = await runStateMachine(definition, planEvent(t.dir, { merge: 'none' }), fast);
    expect(r1.status, `${r1.error}: ${r1.cause}`).toBe('SUCCEEDED');
    expect((await current(t.store)).segments).toHaveLength(3);

    // round 2: changes onto the 3 segments (deletion vectors on them) and the default merge (auto)
    const changes = [
      ...generateChanges({ seed: 51, existingIds: model.sortedIds(), count: 40, dimension: 8, round: 2 }),
    ];
    await ingestBatches(t.store, config, changes, 10);
    model.applyAll(changes);
    const resources = { ...fast.resources };
    const arn = functionArn('publishMerges');
    const held: Array<Awaited<ReturnType<typeof readLease>>> = [];
    resources[arn] = async (input) => {
      held.push(await readLease(t.store, 'lines'));
      return fast.resources[arn]!(input);
    };
    const r = await runStateMachine(definition, planEvent(t.dir), { ...fast, resources });
    expect(r.status, `${r.error}: ${r.cause}`).toBe('SUCCEEDED');

    // the order: Publish, then PlanMerges, every merge step, and one PublishMerges at the end
    const order = r.trace.filter((e) => e.ok).map((e) => e.state);
    const merges = order.filter((s) => s === 'MergeStep').length;
    expect(merges).toBeGreaterThan(0);
    expect(order.slice(-(merges + 3))).toEqual([
      'Publish',
      'PlanMerges',
      ...Array<string>(merges).fill('MergeStep'),
      'PublishMerges',
    ]);

    // the publish's own version, then the merge(s) on top of it
    const out = r.output as PublishResult;
    expect(out).toMatchObject({ status: 'published', mergesNext: true, snapshot: { version: 2 } });
    expect(out.snapshot?.contentHash).toBe(model.contentHash());
    expect(out.merges?.planned).toHaveLength(merges);
    expect(out.merges?.published).toHaveLength(merges);
    expect(out.merges?.dropped).toEqual([]);
    const m = await current(t.store);
    expect(m.cause).toBe('merge');
    expect(m.version).toBe(2 + merges);
    expect(m.contentHash).toBe(model.contentHash());
    expect(m.count).toBe(model.records.size);
    expect(m.segments.length).toBeLessThan(4);
    const v = await verifyCollection(t.store, 'lines');
    expect(v.problems).toEqual([]);
    expect(v.ok).toBe(true);

    // merges ran under the execution's lease; it is released at the end
    expect(held).toHaveLength(1);
    expect(held[0]?.released).toBeFalsy();
    expect(held[0]?.expiresAt).toBeGreaterThan(Date.now());
    expect(held[0]?.owner).toMatch(/^sfn-/);
    const lease = await readLease(t.store, 'lines');
    expect(lease?.released).toBe(true);
    expect(lease?.owner).toBe(held[0]?.owner);

    const { compact, merge } = await records(t.store);
    expect(compact[0]).toMatchObject({ status: 'succeeded', snapshot: { version: 2 } });
    expect(merge).toHaveLength(1);
    expect(merge[0]).toMatchObject({ status: 'succeeded', owner: held[0]?.owner });
    expect(merge[0]?.merges?.map((x) => x.version)).toEqual(out.merges?.published.map((p) => p.version));
  });

  it('a merge whose inputs were merged away meanwhile is dropped (E_MERGE_OBSOLETE), and the execution succeeds', async () => {
    await using t = await tempStore();
    const { model } = await threeSegments(t.store, 52);
    const definition = buildStateMachine();
    const resources = { ...fast.resources };
    const arn = functionArn('publishMerges');
    let interloper: MergeReport | undefined;
    resources[arn] = async (input) => {
      // between the merge steps and PublishMerges, the same segments are merged by another merge run
      // (under the execution's own lease, as nobody else can hold it): every input of the plan is gone
      const lease = await resumeRunLease(t.store, input as PublishMergesEvent);
      const exec = new InlineExecutor(t.store, { retry: { attempts: 1 } });
      try {
        interloper = await mergeCollection(t.store, 'lines', lease, {
          mode: 'all',
          step: (task) => exec.run(task),
        });
      } finally {
        await exec.close();
      }
      return fast.resources[arn]!(input);
    };
    const r = await runStateMachine(definition, planEvent(t.dir), { ...fast, resources });
    expect(r.status, `${r.error}: ${r.cause}`).toBe('SUCCEEDED');
    expect(interloper?.published).toHaveLength(1);

    const out = r.output as PublishResult;
    expect(out.snapshot).toMatchObject({ version: 1, contentHash: model.contentHash() });
    expect(out.merges?.planned.length).toBeGreaterThan(0);
    expect(out.merges?.published).toEqual([]);
    expect(out.merges?.dropped.map((d) => d.error.code)).toEqual(
      out.merges?.planned.map(() => ErrorCodes.MERGE_OBSOLETE),
    );
    // the pointer stays on the other run's merge: one segment, the reference model's records
    const m = await current(t.store);
    expect(m).toMatchObject({ version: 2, cause: 'merge', run: interloper?.run });
    expect(m.segments).toHaveLength(1);
    expect(m.contentHash).toBe(model.contentHash());
    expect((await verifyCollection(t.store, 'lines')).ok).toBe(true);
    expect((await readLease(t.store, 'lines'))?.released).toBe(true);
    const mine = (await records(t.store)).merge.find((x) => x.run !== interloper?.run);
    expect(mine).toMatchObject({ status: 'succeeded' });
    expect(mine?.merges?.every((x) => x.dropped)).toBe(true);
  });

  it('a merge step that keeps failing is dropped after its retries; the publish stands, the lease is released', async () => {
    await using t = await tempStore();
    const { model } = await threeSegments(t.store, 53);
    reloadFailpoints('step.merge=error');
    const r = await runStateMachine(buildStateMachine({ attempts: 3 }), planEvent(t.dir), fast);
    expect(r.status, `${r.error}: ${r.cause}`).toBe('SUCCEEDED');
    expect(r.trace.filter((e) => e.state === 'MergeStep').map((e) => e.ok)).toEqual([false, false, false]);
    const out = r.output as PublishResult;
    expect(out.merges?.published).toEqual([]);
    expect(out.merges?.dropped.map((d) => d.error.code)).toEqual([ErrorCodes.INTERNAL]);
    const m = await current(t.store);
    expect(m).toMatchObject({ version: 1, contentHash: model.contentHash() });
    expect(m.segments).toHaveLength(3);
    expect((await readLease(t.store, 'lines'))?.released).toBe(true);
  });

  it('a merge phase that fails aborts: the published version and its run record stand, the merge run is failed, the lease is released', async () => {
    await using t = await tempStore();
    const { model } = await threeSegments(t.store, 54);
    reloadFailpoints('merge.before-pointer=error');
    const r = await runStateMachine(buildStateMachine({ attempts: 2 }), planEvent(t.dir), fast);
    expect(r.status).toBe('FAILED');
    expect(r.error).toBe('Strata.RunFailed');
    expect(r.trace.filter((e) => e.state === 'PublishMerges').map((e) => e.ok)).toEqual([false, false]);
    expect(r.trace.at(-1)).toMatchObject({ state: 'Abort', ok: true });
    const m = await current(t.store);
    expect(m).toMatchObject({ version: 1, contentHash: model.contentHash() });
    expect((await verifyCollection(t.store, 'lines')).ok).toBe(true);
    const { compact, merge } = await records(t.store);
    expect(compact[0]).toMatchObject({ status: 'succeeded', snapshot: { version: 1 } });
    expect(merge[0]).toMatchObject({ status: 'failed', error: { code: ErrorCodes.INTERNAL } });
    expect((await readLease(t.store, 'lines'))?.released).toBe(true);

    // the next execution has nothing pending: Plan ends it; `strata optimize` (or the next publish) merges
    reloadFailpoints('');
    const idle = await runStateMachine(buildStateMachine(), planEvent(t.dir), fast);
    expect(idle.trace.map((e) => e.state)).toEqual(['Plan']);
  });
});
