/** rollback: make a retained version current again (a new, fenced pointer compare-and-swap). */
import type { Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import { getCollection } from '../../pipeline/collections.js';
import { rollbackCollection } from '../../pipeline/rollback.js';
import { type CliContext, parseDuration } from '../context.js';

/** "v3" or "3" → 3. */
export function parseVersionArg(v: string): number {
  const m = /^v?(\d+)$/i.exec(v.trim());
  const n = m ? Number(m[1]) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--to must be a version like v3, got ${v}`);
  return n;
}

export function registerRollback(program: Command, ctx: () => CliContext): void {
  program
    .command('rollback')
    .description('make a retained snapshot version current again (published as a new version)')
    .requiredOption('-c, --collection <name>', 'collection')
    .requiredOption('--to <version>', 'the retained version to restore, e.g. v3', parseVersionArg)
    .option('--lease-ttl <duration>', 'lease time-to-live', '60s')
    .option('--wait-lease <duration>', 'if a compactor holds the lease, wait this long for it to end', '0s')
    .action(async (o: { collection: string; to: number; leaseTtl: string; waitLease: string }) => {
      const c = ctx();
      const store = await c.openStore();
      try {
        await getCollection(store, o.collection);
        const r = await rollbackCollection(store, o.collection, {
          toVersion: o.to,
          lease: { ttlMs: parseDuration(o.leaseTtl), waitMs: parseDuration(o.waitLease) },
        });
        c.out(
          r,
          () =>
            `${r.collection}: rolled back from v${r.from} to the snapshot of v${r.to}, published as v${r.version}`,
        );
      } finally {
        await store.close();
      }
    });
}
