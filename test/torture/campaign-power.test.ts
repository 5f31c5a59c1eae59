/**
 * Power-loss episodes (CI variant): each run's store on powerfs, a FUSE filesystem that keeps unsynced
 * writes in memory only; producers, compactors and GC on the mount are SIGKILLed at one instant, the
 * unsynced state is dropped or partly applied, the filesystem is mounted again, and every invariant is
 * checked before and after the next compaction. Fails (never skips) where FUSE cannot be mounted.
 */
import { describe, expect, it } from 'vitest';
import { PowerFs } from '../../lab/devservers/power-fs.js';
import { LocalBackend } from '../../lab/torture/backend.js';
import { runCampaign } from '../../lab/torture/campaign.js';
import { POWER_FAULTS } from '../../lab/torture/episodes-power.js';
import { PROFILES } from '../../lab/torture/run.js';
import { expectCleanCampaign } from './helpers.js';

describe('torture campaign: power cuts (CI variant)', () => {
  it('powerfs mounts, forgets what was not fsynced, and unmounts', async () => {
    const fs = await PowerFs.mount(1, 'drop');
    try {
      const { mkdir, open, writeFile, readdir } = await import('node:fs/promises');
      await mkdir(`${fs.dir}/d`);
      const dir = await open(fs.dir, 'r');
      await dir.sync();
      await dir.close();
      await writeFile(`${fs.dir}/d/kept`, 'kept');
      const f = await open(`${fs.dir}/d/kept`, 'r');
      await f.sync();
      await f.close();
      const d = await open(`${fs.dir}/d`, 'r');
      await d.sync();
      await d.close();
      await writeFile(`${fs.dir}/d/lost`, 'lost');
      const report = await fs.cut();
      expect(report.mode).toBe('drop');
      await fs.remount(2);
      expect(await readdir(`${fs.dir}/d`)).toEqual(['kept']);
    } finally {
      await fs.close();
    }
  }, 30_000);

  it('cuts inside ingest, compaction, publish and GC: no invariant is violated, every run completes', async () => {
    const summary = await runCampaign({
      seed: 20261130,
      runs: 2,
      parallel: 2,
      backend: new LocalBackend(),
      profile: { ...PROFILES.ci, episodes: ['power-loss'] },
      replayFlags: '--profile ci --episodes power-loss',
    });
    const table = expectCleanCampaign(summary);
    expect(summary.faults[POWER_FAULTS.cut] ?? 0, table).toBeGreaterThanOrEqual(2);
  }, 300_000);
});
