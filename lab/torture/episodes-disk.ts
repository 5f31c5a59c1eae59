/**
 * Disk-full episodes: the run's store, and with it the scratch directory where segments
 * are built, lives on a size-limited tmpfs (LocalBackend with a size; lab/devservers/small-fs.ts). At a
 * random instant of a compaction — in the campaign process or in local-pool workers — the filesystem is
 * filled to within a few bytes. The compaction must then fail with E_NO_SPACE (or finish, if it got there
 * first), nothing may be half-published: the pointer still names the previous version, which verifies
 * and opens while the disk is full. Then the space is freed, and the run's converge phase must complete.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, isStrataError } from '../../src/core/errors.js';
import { readPointer } from '../../src/pipeline/pointer.js';
import { verifyCollection } from '../../src/pipeline/verify.js';
import { InlineExecutor } from '../../src/runners/inline.js';
import { LocalPoolExecutor } from '../../src/runners/local/pool.js';
import { compactWaitingForLease } from './compact-waiting.js';
import { type EpisodeContext, leaseWaitMs, RETRY } from './episodes.js';
import { describe } from './readers.js';

export const DISK_FAULTS = {
  filled: 'disk filled at a random instant of a compaction',
  noSpace: '(effect) compaction failed with E_NO_SPACE',
  finished: '(effect) compaction finished before the disk filled',
} as const;

export async function diskFull(ctx: EpisodeContext): Promise<void> {
  const fs = ctx.smallFs;
  if (!fs)
    throw new Error('disk-full needs the run store on a size-limited filesystem (LocalBackend with a size)');
  const { rng, t } = ctx;
  const before = await readPointer(ctx.base, t.name);
  const executor = rng.chance(0.5)
    ? new InlineExecutor(ctx.base, { retry: RETRY })
    : new LocalPoolExecutor({
        storeSpec: ctx.storeDir,
        concurrency: 2,
        threads: 1,
        retry: RETRY,
        stepTimeoutMs: 60_000,
        env: ctx.env,
      });
  const afterMs = rng.int(1_500);
  const leave = rng.pick([0, 4 << 10, 64 << 10, 1 << 20]);
  let filled = false;
  const filling = sleep(afterMs).then(() => {
    fs.fill(leave);
    filled = true;
    ctx.count(DISK_FAULTS.filled);
  });
  let failure: unknown;
  try {
    await compactWaitingForLease(
      ctx.base,
      t.name,
      { executor, chunkSize: ctx.chunkSize, groupSize: ctx.groupSize, lease: { ttlMs: ctx.leaseTtlMs } },
      leaseWaitMs(ctx),
    );
  } catch (e) {
    failure = e;
  } finally {
    await filling;
    await executor.close().catch(() => undefined);
  }
  try {
    if (failure === undefined) {
      ctx.count(DISK_FAULTS.finished);
    } else if (isStrataError(failure, ErrorCodes.NO_SPACE)) {
      ctx.count(DISK_FAULTS.noSpace);
      if (!/no space left on the device while \S/.test(failure.message)) {
        ctx.problems.push({
          invariant: 'no-space-says-what',
          detail: `${t.name}: E_NO_SPACE without what it was doing: ${failure.message}`,
        });
      }
      // nothing half-published: the pointer did not move, and the previous version verifies on the full disk
      const now = await readPointer(ctx.base, t.name);
      if (now?.etag !== before?.etag && now?.value.version !== before?.value.version) {
        ctx.problems.push({
          invariant: 'no-space-publishes-nothing',
          detail: `${t.name}: the pointer moved from v${before?.value.version} to v${now?.value.version} in a compaction that failed with E_NO_SPACE`,
        });
      }
      if (now) {
        const v = await verifyCollection(ctx.base, t.name);
        if (!v.ok)
          ctx.problems.push({
            invariant: 'previous-version-serves-on-full-disk',
            detail: `${t.name} v${v.version}: ${v.problems.join('; ')}`,
          });
      }
    } else if (filled) {
      ctx.problems.push({
        invariant: 'full-disk-is-E_NO_SPACE',
        detail: `${t.name}: the compaction on a full disk failed with ${describe(failure)}`,
      });
    }
  } finally {
    fs.unfill();
  }
}
