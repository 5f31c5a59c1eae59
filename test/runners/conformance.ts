/**
 * The runner conformance suite: what every StepExecutor (local process pool, BullMQ workers, …) must do.
 * A runner file calls runnerConformance(harness) with a harness that builds its executor over a store
 * directory, passing `env` to whatever processes run the steps (failpoints travel that way).
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes, StrataError } from '../../src/core/errors.js';
import { compact } from '../../src/pipeline/compact.js';
import type { StepExecutor } from '../../src/pipeline/executor.js';
import { readLedger } from '../../src/pipeline/ledger.js';
import { readPointer } from '../../src/pipeline/pointer.js';
import { listRuns } from '../../src/pipeline/runs.js';
import type { ChunkTask, DeltaRef } from '../../src/pipeline/steps.js';
import { verifyCollection } from '../../src/pipeline/verify.js';
import { generateChanges } from '../../src/workload/synthetic.js';
import { ReferenceModel } from '../helpers/model.js';
import { ingestBatches, smallCollection, upserts } from '../helpers/pipeline.js';
import { tempStore } from '../helpers/tmp.js';

export interface RunnerUnderTest {
  executor: StepExecutor;
  /** OS resources the executor itself still holds (child processes, Redis connections). */
  held(): Promise<number>;
  /** Closes the executor (if the test has not) and stops helpers the harness started (worker processes). */
  stop(): Promise<void>;
}

export interface RunnerHarness {
  name: string;
  open(o: { storeDir: string; attempts: number; env?: NodeJS.ProcessEnv }): Promise<RunnerUnderTest>;
}

export async function withRunner<T>(
  h: RunnerHarness,
  o: Parameters<RunnerHarness['open']>[0],
  fn: (r: RunnerUnderTest) => Promise<T>,
): Promise<T> {
  const r = await h.open(o);
  try {
    return await fn(r);
  } finally {
    await r.stop();
  }
}

async function rejection(p: Promise<unknown>): Promise<StrataError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(StrataError);
    return e as StrataError;
  }
  throw new Error('expected a rejection');
}

const refOf = (d: DeltaRef): DeltaRef => ({
  key: d.key,
  seqStart: d.seqStart,
  seqEnd: d.seqEnd,
  sha256: d.sha256,
  count: d.count,
});

export function runnerConformance(h: RunnerHarness): void {
  describe(`runner conformance: ${h.name}`, () => {
    it('a compaction through the executor equals the reference model, round after round', async () => {
      await using t = await tempStore();
      const config = await smallCollection(t.store);
      const model = new ReferenceModel();
      const first = upserts(11, 400, 8);
      await ingestBatches(t.store, config, first, 40); // 10 deltas → 4 chunks → 2 groups
      model.applyAll(first);
      await withRunner(h, { storeDir: t.dir, attempts: 2 }, async ({ executor }) => {
        const r1 = await compact(t.store, 'lines', { executor, chunkSize: 3, groupSize: 2 });
        expect(r1).toMatchObject({ status: 'published', deltas: 10, chunks: 4, groups: 2, groupsFailed: 0 });
        expect(r1.snapshot).toMatchObject({
          version: 1,
          segments: 2,
          count: 400,
          contentHash: model.contentHash(),
        });
        // the merge policy's merge runs as a step on the same executor, published as v2
        expect(r1.merges?.published).toHaveLength(1);

        const changes = [
          ...generateChanges({ seed: 11, existingIds: model.sortedIds(), count: 30, dimension: 8, round: 2 }),
        ];
        await ingestBatches(t.store, config, changes, 10);
        model.applyAll(changes);
        const r2 = await compact(t.store, 'lines', { executor, chunkSize: 3, groupSize: 2 });
        expect(r2.snapshot).toMatchObject({
          version: 3,
          contentHash: model.contentHash(),
        });
      });
      const v = await verifyCollection(t.store, 'lines');
      expect(v.problems).toEqual([]);
      expect((await readLedger(t.store, 'lines')).counts).toEqual({
        pending: 0,
        compacting: 0,
        promoted: 13,
        'rolled-back': 0,
        quarantined: 0,
      });
    });

    it('a failing step surfaces its coded error with context; bad usage is not retried', async () => {
      await using t = await tempStore();
      const config = await smallCollection(t.store);
      await ingestBatches(t.store, config, upserts(12, 60, 8), 20);
      await withRunner(
        h,
        { storeDir: t.dir, attempts: 3, env: { STRATA_FAILPOINTS: 'step.group=error' } },
        async ({ executor }) => {
          // a permanent error: one attempt only
          const task: ChunkTask = {
            kind: 'chunk',
            collection: 'no-such-collection',
            run: 'r-test',
            index: 0,
            deltas: [],
          };
          const e1 = await rejection(executor.run(task));
          expect(e1.code).toBe(ErrorCodes.COLLECTION_NOT_FOUND);
          expect(e1.context).toMatchObject({ collection: 'no-such-collection', attempts: 1 });

          // a step that keeps failing inside a compaction: the run fails loudly and publishes nothing
          const e2 = await rejection(compact(t.store, 'lines', { executor, chunkSize: 1, groupSize: 5 }));
          expect(e2.code).toBe(ErrorCodes.STEP_FAILED);
          const [run] = await listRuns(t.store, 'lines', 1);
          expect(run?.status).toBe('failed');
          expect(run?.failures?.[0]).toMatchObject({
            step: 'group-0000',
            error: { code: ErrorCodes.INTERNAL, context: { failpoint: 'step.group', group: 0 } },
          });
          expect(await readPointer(t.store, 'lines')).toBeUndefined();
          expect((await readLedger(t.store, 'lines')).counts.pending).toBe(3);
        },
      );
    });

    it('retries are bounded: a step that always fails is tried exactly `attempts` times', async () => {
      await using t = await tempStore();
      const config = await smallCollection(t.store);
      const [d] = await ingestBatches(t.store, config, upserts(13, 20, 8), 20);
      await withRunner(
        h,
        { storeDir: t.dir, attempts: 3, env: { STRATA_FAILPOINTS: 'step.chunk=error' } },
        async ({ executor }) => {
          const e = await rejection(
            executor.run({
              kind: 'chunk',
              collection: 'lines',
              run: 'r-test',
              index: 0,
              deltas: [refOf(d!)],
            }),
          );
          expect(e.code).toBe(ErrorCodes.INTERNAL);
          expect(e.context).toMatchObject({
            failpoint: 'step.chunk',
            collection: 'lines',
            chunk: 0,
            attempts: 3,
          });
        },
      );
    });

    it('close() releases every process and connection, and refuses new steps', async () => {
      await using t = await tempStore();
      const config = await smallCollection(t.store);
      const [d] = await ingestBatches(t.store, config, upserts(14, 20, 8), 20);
      await withRunner(h, { storeDir: t.dir, attempts: 1 }, async (r) => {
        const res = await r.executor.run({
          kind: 'chunk',
          collection: 'lines',
          run: 'r-test',
          index: 0,
          deltas: [refOf(d!)],
        });
        expect(res).toMatchObject({
          kind: 'chunk',
          index: 0,
          included: [[d!.seqStart, d!.seqEnd]],
          rejected: [],
        });
        expect(res.segment?.counts.records).toBe(20);
        expect(await r.held()).toBeGreaterThan(0);
        await r.executor.close();
        await r.executor.close(); // idempotent
        expect(await r.held()).toBe(0);
        const e = await rejection(
          r.executor.run({ kind: 'chunk', collection: 'lines', run: 'r-test', index: 1, deltas: [] }),
        );
        expect(e.code).toBe(ErrorCodes.CLOSED);
      });
    });
  });
}
