/**
 * The campaign with its steps as BullMQ jobs on a real redis-server, served by real `strata worker`
 * processes, one of which is SIGKILLed at a random instant of each compaction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServerProcess } from '../../lab/devservers/redis-server.js';
import { runCampaign } from '../../lab/torture/campaign.js';
import { FAULT_NAMES } from '../../lab/torture/episodes.js';
import { PROFILES } from '../../lab/torture/run.js';
import { expectCleanCampaign } from './helpers.js';

let redis: RedisServerProcess;
beforeAll(async () => {
  redis = await RedisServerProcess.start();
}, 60_000);
afterAll(async () => {
  await redis?.stop();
});

describe('torture campaign on the BullMQ runner (CI variant)', () => {
  it('kills a BullMQ worker at random instants: no invariant is violated, every run completes', async () => {
    const summary = await runCampaign({
      seed: 20261127,
      runs: 4,
      parallel: 2,
      profile: { ...PROFILES.ci, episodes: ['kill-bullmq-worker'] },
      services: { redis: redis.url },
      replayFlags: '--bullmq --profile ci --episodes kill-bullmq-worker',
    });
    const table = expectCleanCampaign(summary);
    expect(summary.episodes['kill-bullmq-worker'], table).toBeGreaterThanOrEqual(4);
    expect(summary.faults[FAULT_NAMES.killBullWorker] ?? 0, table).toBeGreaterThan(0);
  }, 600_000);
});
