/** The campaign's HTTP reader is not vacuous: it accepts a legitimate served state and reports any other. */
import { describe, expect, it } from 'vitest';
import { HttpReaderLoop } from '../../lab/torture/http-readers.js';
import { TrackedCollection } from '../../lab/torture/tracked.js';
import { OpGenerator } from '../../lab/torture/workload.js';
import { rng } from '../../src/core/random.js';
import { StrataServer } from '../../src/server/server.js';
import { compactInline, ingestBatches, smallCollection, upserts } from '../helpers/pipeline.js';
import { tempStore } from '../helpers/tmp.js';

describe('HttpReaderLoop', () => {
  it('accepts the served snapshot when it is a legitimate state and reports a mix when it is not', async () => {
    await using t = await tempStore('strata-http-reader');
    const config = await smallCollection(t.store, 'hr', 8);
    const served = upserts(1, 30, 8);
    const [d] = await ingestBatches(t.store, config, served, 30);
    await compactInline(t.store, 'hr');
    const server = await StrataServer.start({ store: t.store, port: 0, refreshMs: 50 });
    try {
      await server.ctx.snapshots.refresh('hr');
      const right = new TrackedCollection(config, new OpGenerator(rng(1), 8));
      right.addGood(d!.seqStart, d!.seqEnd, served);
      const wrong = new TrackedCollection(config, new OpGenerator(rng(1), 8));
      wrong.addGood(d!.seqStart, d!.seqEnd, served.slice(0, 29));
      for (const [tracked, problems] of [
        [right, []],
        [wrong, ['http-reader-saw-mix']],
      ] as const) {
        const reader = new HttpReaderLoop(server.url, tracked);
        await reader.stop();
        await reader.readOnce();
        expect(reader.answers).toBeGreaterThan(0);
        expect(reader.problems.map((p) => p.invariant)).toEqual(problems);
      }
    } finally {
      await server.close();
    }
  });
});
