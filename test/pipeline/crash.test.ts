/**
 * Invariants 1–6 (docs/architecture.md, "The invariants") under real crashes: the compactor process is
 * SIGKILLed at each named failpoint. After the crash `verify` passes, the previous or the new version is
 * current (never a mix), and re-running `compact` completes with every delta promoted exactly once and the
 * reference model's content.
 */
import { describe, expect, it } from 'vitest';
import { readLedger } from '../../src/pipeline/ledger.js';
import { readPointer } from '../../src/pipeline/pointer.js';
import { verifyCollection } from '../../src/pipeline/verify.js';
import { generateChanges } from '../../src/workload/synthetic.js';
import { runCli } from '../helpers/cli.js';
import { ReferenceModel } from '../helpers/model.js';
import { compactInline, ingestBatches, smallCollection, upserts } from '../helpers/pipeline.js';
import { tempStore } from '../helpers/tmp.js';

const cases: Array<{ failpoint: string; expectVersion: number }> = [
  { failpoint: 'step.chunk', expectVersion: 1 },
  { failpoint: 'segment.after-write', expectVersion: 1 },
  { failpoint: 'segment.after-close', expectVersion: 1 },
  { failpoint: 'segment.after-verify', expectVersion: 1 },
  { failpoint: 'step.final', expectVersion: 1 },
  { failpoint: 'publish.before-pointer', expectVersion: 1 },
  { failpoint: 'publish.after-pointer', expectVersion: 2 },
  { failpoint: 'lease.mid-heartbeat', expectVersion: 1 },
];

describe('crash at every failpoint (real SIGKILL of the compactor process)', () => {
  for (const c of cases) {
    it(`${c.failpoint}: old or new snapshot, never a mix; a re-run promotes everything exactly once`, async () => {
      await using t = await tempStore();
      const config = await smallCollection(t.store);
      const base = upserts(7, 300, 8);
      await ingestBatches(t.store, config, base, 50);
      await compactInline(t.store, 'lines');
      const changes = [
        ...generateChanges({
          seed: 7,
          existingIds: base.map((o) => o.id),
          count: 60,
          dimension: 8,
          round: 2,
        }),
      ];
      await ingestBatches(t.store, config, changes, 10);
      const model = new ReferenceModel().applyAll(base).applyAll(changes);
      const before = await readPointer(t.store, 'lines');

      // the heartbeat failpoint needs heartbeats: a short lease makes them frequent, and worker processes
      // (which take a moment to start) keep the compactor's own event loop free to send them
      const heartbeat = c.failpoint === 'lease.mid-heartbeat';
      const lease = heartbeat ? ['--lease-ttl', '3s'] : ['--lease-ttl', '2s'];
      const run = await runCli(
        [
          '--dir',
          t.dir,
          '--json',
          'compact',
          '-c',
          'lines',
          '--runner',
          heartbeat ? 'local' : 'inline',
          '--chunk-size',
          '2',
          '--group-size',
          '2',
          ...lease,
        ],
        { STRATA_FAILPOINTS: `${c.failpoint}=crash` },
      );
      expect(run.signal, run.stderr).toBe('SIGKILL');

      const after = await verifyCollection(t.store, 'lines');
      expect(after.problems).toEqual([]);
      expect(after.version).toBe(c.expectVersion);
      const p = await readPointer(t.store, 'lines');
      if (c.expectVersion === 1) expect(p?.value).toEqual(before?.value);

      // re-run: waits for the dead compactor's lease to expire, then completes
      const r = await compactInline(t.store, 'lines', {
        chunkSize: 2,
        groupSize: 2,
        lease: { waitMs: 10_000 },
      });
      const ledger = await readLedger(t.store, 'lines');
      expect(ledger.counts.pending + ledger.counts.compacting + ledger.counts.quarantined).toBe(0);
      expect(ledger.counts.promoted).toBe(12);
      const final = await readPointer(t.store, 'lines');
      expect(final?.value.contentHash).toBe(model.contentHash());
      expect((await verifyCollection(t.store, 'lines')).ok).toBe(true);
      if (c.expectVersion === 2) expect(r.status).toBe('nothing-to-do');
    });
  }
});
