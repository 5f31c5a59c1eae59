import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, type StrataError } from '../../src/core/errors.js';
import { compact } from '../../src/pipeline/compact.js';
import type { StepTask } from '../../src/pipeline/steps.js';
import { verifyCollection } from '../../src/pipeline/verify.js';
import { LocalPoolExecutor } from '../../src/runners/local/pool.js';
import { ReferenceModel } from '../helpers/model.js';
import { ingestBatches, smallCollection, upserts } from '../helpers/pipeline.js';
import { tempDir, tempStore } from '../helpers/tmp.js';
import { type RunnerHarness, runnerConformance } from './conformance.js';

const local: RunnerHarness = {
  name: 'local process pool',
  async open({ storeDir, attempts, env }) {
    const executor = new LocalPoolExecutor({
      storeSpec: storeDir,
      concurrency: 2,
      env,
      retry: { attempts, baseMs: 20, maxMs: 100 },
    });
    return {
      executor,
      held: async () => executor.pids.length,
      stop: () => executor.close(),
    };
  },
};

runnerConformance(local);

describe('local runner: a worker killed mid-step', () => {
  it('SIGKILL inside a chunk step: the step is retried in a fresh process and the same content is published', async () => {
    await using t = await tempStore();
    await using marks = await tempDir('strata-failpoints');
    const config = await smallCollection(t.store);
    const ops = upserts(21, 300, 8);
    await ingestBatches(t.store, config, ops, 30);
    const retries: Array<{ task: StepTask; error: StrataError }> = [];
    const executor = new LocalPoolExecutor({
      storeSpec: t.dir,
      concurrency: 2,
      env: { STRATA_FAILPOINTS: 'step.chunk=crash-once', STRATA_FAILPOINT_DIR: marks.dir },
      retry: { attempts: 3, baseMs: 20, maxMs: 100 },
      onRetry: (task, error) => retries.push({ task, error }),
    });
    try {
      const r = await compact(t.store, 'lines', { executor, chunkSize: 2, groupSize: 3 });
      expect(existsSync(join(marks.dir, 'fired-step.chunk'))).toBe(true);
      expect(retries).toHaveLength(1);
      expect(retries[0]!.task.kind).toBe('chunk');
      expect(retries[0]!.error.code).toBe(ErrorCodes.WORKER_CRASHED);
      expect(retries[0]!.error.message).toMatch(/SIGKILL/);
      expect(r).toMatchObject({ status: 'published', groupsFailed: 0, promoted: 10 });
      // the undisturbed answer: the reference model (= what an uninterrupted run publishes)
      expect(r.snapshot?.contentHash).toBe(new ReferenceModel().applyAll(ops).contentHash());
    } finally {
      await executor.close();
    }
    expect((await verifyCollection(t.store, 'lines')).ok).toBe(true);
  });
});
