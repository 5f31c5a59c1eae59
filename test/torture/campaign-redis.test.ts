/**
 * Redis-restart episodes: the steps run as BullMQ jobs on a private redis-server that is
 * SIGKILLed mid-run and restarted — durable (appendonly yes, appendfsync everysec): the compaction completes
 * and the run's content equals the model; not persistent: the run ends with a coded queue error, never a
 * hang. Fails (never skips) when redis-server cannot start.
 */
import { describe, expect, it } from 'vitest';
import { runCampaign } from '../../lab/torture/campaign.js';
import { REDIS_FAULTS } from '../../lab/torture/episodes-redis.js';
import { PROFILES } from '../../lab/torture/run.js';
import { expectCleanCampaign } from './helpers.js';

describe('torture campaign: Redis restarted mid-run (CI variant)', () => {
  it('a SIGKILLed and restarted Redis: no invariant is violated, every run completes', async () => {
    const summary = await runCampaign({
      seed: 20261130,
      runs: 4,
      parallel: 2,
      profile: { ...PROFILES.ci, episodes: ['restart-redis'] },
      // the episode starts its own Redis per compaction; this URL only makes the episode eligible
      services: { redis: 'redis://127.0.0.1:1' },
      replayFlags: '--bullmq --profile ci --episodes restart-redis',
    });
    const table = expectCleanCampaign(summary);
    const kills =
      (summary.faults[REDIS_FAULTS.killDurable] ?? 0) + (summary.faults[REDIS_FAULTS.killVolatile] ?? 0);
    expect(kills, table).toBeGreaterThanOrEqual(4);
  }, 600_000);
});
