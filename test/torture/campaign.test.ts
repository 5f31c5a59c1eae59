import { describe, expect, it } from 'vitest';
import { runCampaign } from '../../lab/torture/campaign.js';
import { EPISODE_KINDS, eligibleEpisodes } from '../../lab/torture/episodes.js';
import { checkState } from '../../lab/torture/invariants.js';
import { PROFILES } from '../../lab/torture/run.js';
import { TrackedCollection } from '../../lab/torture/tracked.js';
import { OpGenerator } from '../../lab/torture/workload.js';
import { rng } from '../../src/core/random.js';
import { compact } from '../../src/pipeline/compact.js';
import { acceptDelta } from '../../src/pipeline/deltas.js';
import { InlineExecutor } from '../../src/runners/inline.js';
import { FaultyStore } from '../../src/testing/faulty-store.js';
import { smallCollection } from '../helpers/pipeline.js';
import { tempStore } from '../helpers/tmp.js';
import { expectCleanCampaign } from './helpers.js';

// The issue-14 episodes (clock skew, disk full, Redis restarts) have their own short CI suites
// (campaign-clock, campaign-disk, campaign-redis); here the mix, and so each seed's picks, stay as they were.
const LEGACY = eligibleEpisodes(EPISODE_KINDS, { s3Server: false, redis: false }).filter(
  (k) => k !== 'clock-skew',
);

describe('torture campaign (CI variant)', () => {
  it('50 runs of crashes, store faults and racing compactors: no invariant is violated, every run completes', async () => {
    const episodes = LEGACY;
    const summary = await runCampaign({
      seed: 20261127,
      runs: 50,
      parallel: 3,
      profile: { ...PROFILES.ci, episodes },
      replayFlags: `--profile ci --episodes ${episodes.join(',')}`,
    });
    const table = expectCleanCampaign(summary);
    for (const kind of episodes)
      expect(summary.episodes[kind] ?? 0, `${kind} never ran\n${table}`).toBeGreaterThan(0);
    expect(summary.readerOpens).toBeGreaterThan(0);
  }, 600_000);

  it('readers through the query server (HTTP, hot swap) never see a mix of two snapshots', async () => {
    const summary = await runCampaign({
      seed: 20261129,
      runs: 8,
      parallel: 2,
      profile: { ...PROFILES.ci, episodes: LEGACY },
      services: { serve: true },
      replayFlags: `--profile ci --serve --episodes ${LEGACY.join(',')}`,
    });
    const table = expectCleanCampaign(summary);
    expect(summary.httpAnswers, table).toBeGreaterThan(0);
  }, 600_000);

  // Found by this campaign: compact() planned from a listing of delta descriptors, so a listing that missed
  // one (FaultyStore listMiss; a slow producer's descriptor landing after a later producer's) let later
  // deltas be promoted first. Fixed by src/pipeline/promotable.ts (gap-aware planning).
  it('a listing that misses a delta never lets a later delta be promoted before it', async () => {
    await using t = await tempStore('strata-listmiss');
    const config = await smallCollection(t.store, 'lm', 8);
    const tracked = new TrackedCollection(config, new OpGenerator(rng(1), 8));
    const faulty = new FaultyStore(t.store, {
      seed: 3,
      probabilities: { listMiss: 1 },
      listMissWindowMs: 3_600_000,
      keyPattern: /\/deltas\//,
    });
    // delta 1 is written through the wrapper (the only "recent" key a listing may miss), the rest directly
    const first = [
      {
        op: 'upsert' as const,
        id: 'x',
        embedding: new Float32Array(8).fill(1),
        document: 'old',
        metadata: null,
      },
    ];
    const d1 = await acceptDelta(faulty, config, first);
    tracked.addGood(d1.seqStart, d1.seqEnd, first);
    const second = [
      {
        op: 'upsert' as const,
        id: 'x',
        embedding: new Float32Array(8).fill(2),
        document: 'new',
        metadata: null,
      },
    ];
    const d2 = await acceptDelta(t.store, config, second);
    tracked.addGood(d2.seqStart, d2.seqEnd, second);

    const executor = new InlineExecutor(t.store);
    try {
      // the listing misses delta 1's descriptor or its data object (the seed decides; both are "recent")
      for (let i = 0; i < 4; i++) await compact(faulty, 'lm', { executor });
      faulty.enable(false);
      await compact(t.store, 'lm', { executor });
    } finally {
      await executor.close();
    }
    expect((await checkState(t.store, tracked)).problems).toEqual([]);
  });
});
