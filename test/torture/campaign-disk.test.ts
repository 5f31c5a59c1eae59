/**
 * Disk-full episodes: each run's store on its own 96 MiB tmpfs, filled at a random
 * instant of a compaction. E_NO_SPACE naming what it was doing, nothing half-published, the previous
 * version verifying on the full disk, and the run completing once space is freed. Fails (never skips)
 * where a tmpfs cannot be mounted.
 */
import { describe, expect, it } from 'vitest';
import { LocalBackend } from '../../lab/torture/backend.js';
import { runCampaign } from '../../lab/torture/campaign.js';
import { DISK_FAULTS } from '../../lab/torture/episodes-disk.js';
import { PROFILES } from '../../lab/torture/run.js';
import { expectCleanCampaign } from './helpers.js';

describe('torture campaign: a disk that fills up (CI variant)', () => {
  it('the disk fills at random instants: no invariant is violated, every run completes', async () => {
    const summary = await runCampaign({
      seed: 20261130,
      runs: 4,
      parallel: 2,
      backend: new LocalBackend(96),
      profile: { ...PROFILES.ci, episodes: ['disk-full'] },
      replayFlags: '--profile ci --episodes disk-full --small-fs 96',
    });
    const table = expectCleanCampaign(summary);
    expect(summary.faults[DISK_FAULTS.filled] ?? 0, table).toBeGreaterThanOrEqual(4);
  }, 600_000);
});
