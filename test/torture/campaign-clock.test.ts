/**
 * Clock-skew episodes: compactors under libfaketime (offsets up to ± 5 min, rates
 * 0.5–2) race on one collection, one of them sometimes frozen between its last lease check and the
 * pointer swap. Never two publishes from one base, never a publish by a compactor whose lease was taken
 * over. Fails (never skips) when libfaketime is not installed.
 */
import { describe, expect, it } from 'vitest';
import { runCampaign } from '../../lab/torture/campaign.js';
import { CLOCK_FAULTS, faketimeLibrary } from '../../lab/torture/episodes-clock.js';
import { PROFILES } from '../../lab/torture/run.js';
import { expectCleanCampaign } from './helpers.js';

describe('torture campaign: skewed clocks (CI variant)', () => {
  it('compactors on skewed clocks: no invariant is violated, every run completes', async () => {
    expect(faketimeLibrary()).toMatch(/libfaketime/);
    const summary = await runCampaign({
      seed: 20261130,
      runs: 3,
      parallel: 2,
      profile: { ...PROFILES.ci, episodes: ['clock-skew'] },
      replayFlags: '--profile ci --episodes clock-skew',
    });
    const table = expectCleanCampaign(summary);
    expect(summary.faults[CLOCK_FAULTS.skewed] ?? 0, table).toBeGreaterThanOrEqual(6);
  }, 600_000);
});
