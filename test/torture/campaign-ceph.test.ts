/**
 * The campaign on its S3 backend: a real one-node Ceph cluster (radosgw 16), each run on a gateway of its
 * own and a fresh key prefix; every episode of the local campaign plus kill-s3-server (the gateway is
 * SIGKILLed while an upload is in flight or at a random instant of a compaction, then restarted).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CephBackend } from '../../lab/torture/backend-ceph.js';
import { runCampaign } from '../../lab/torture/campaign.js';
import { EPISODE_KINDS, eligibleEpisodes, FAULT_NAMES } from '../../lab/torture/episodes.js';
import { PROFILES } from '../../lab/torture/run.js';
import { S3Store } from '../../src/store/s3-store.js';
import { expectCleanCampaign } from './helpers.js';

let backend: CephBackend;
beforeAll(async () => {
  backend = await CephBackend.start();
}, 120_000);
afterAll(async () => {
  await backend?.close();
}, 60_000);

describe('torture campaign on Ceph (CI variant)', () => {
  it('kills the S3 server mid-upload and at random instants: no invariant is violated, every run completes', async () => {
    const summary = await runCampaign({
      seed: 20261127,
      runs: 6,
      parallel: 3,
      profile: { ...PROFILES.ci, episodes: ['kill-s3-server'] },
      backend,
      replayFlags: '--backend ceph --profile ci --episodes kill-s3-server',
    });
    const table = expectCleanCampaign(summary);
    expect(summary.backend).toBe('ceph');
    const kills =
      (summary.faults[FAULT_NAMES.killS3Upload] ?? 0) + (summary.faults[FAULT_NAMES.killS3Instant] ?? 0);
    expect(kills, table).toBeGreaterThan(0);
    expect(backend.restarts, table).toBe(kills);
    // every run deleted what it wrote
    const left = await listBucket();
    expect(left, table).toEqual([]);
  }, 600_000);

  it('every other episode holds on S3 too', async () => {
    const kinds = eligibleEpisodes(EPISODE_KINDS, { s3Server: true, redis: false }).filter(
      (k) => k !== 'kill-s3-server',
    );
    for (const [i, kind] of kinds.entries()) {
      const summary = await runCampaign({
        seed: 20261128 + i,
        runs: 2,
        parallel: 2,
        profile: { ...PROFILES.ci, episodes: [kind] },
        backend,
        replayFlags: `--backend ceph --profile ci --episodes ${kind}`,
      });
      const table = expectCleanCampaign(summary);
      expect(summary.episodes[kind], table).toBeGreaterThanOrEqual(2);
    }
  }, 600_000);
});

async function listBucket(): Promise<string[]> {
  const store = new S3Store(backend.cluster.server().storeOptions(''));
  try {
    return (await store.list('')).map((o) => o.key);
  } finally {
    await store.close();
  }
}
