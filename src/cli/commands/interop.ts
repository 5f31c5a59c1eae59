/** strata import chroma, strata export chroma: Chroma persistent directories in and out. */
import type { Command } from 'commander';
import type { Quantization } from '../../core/types.js';
import { exportChroma, importChroma } from '../../interop/chroma/index.js';
import { type CliContext, parseIntOption } from '../context.js';

type Ctx = () => CliContext;

export function registerInterop(program: Command, ctx: Ctx): void {
  const imp = program.command('import').description('bring data from other vector databases into Strata');
  imp
    .command('chroma')
    .description(
      'import a Chroma persistent directory read-only, without starting Chroma: every collection (names preserved) becomes pending deltas; refuses a directory in use or inconsistent',
    )
    .argument('<dir>', 'Chroma persistent directory (holds chroma.sqlite3)')
    .option('-c, --collection <name>', 'import only this Chroma collection')
    .option('--into <name>', 'Strata collection to import into (default: the Chroma name)')
    .option('--batch <n>', 'at most this many records per delta', parseIntOption('--batch'), 10_000)
    .option('--quantization <q>', 'index quantization of collections created by the import', 'f16')
    .action(
      async (
        dir: string,
        o: { collection?: string; into?: string; batch: number; quantization: Quantization },
      ) => {
        const c = ctx();
        const store = await c.openStore();
        try {
          c.progress.stage('import', 1);
          const report = await importChroma(store, dir, {
            ...(o.collection !== undefined ? { collection: o.collection } : {}),
            ...(o.into !== undefined ? { into: o.into } : {}),
            batch: o.batch,
            quantization: o.quantization,
            onProgress: (e) => c.progress.tick('import', e.records, e.total),
          });
          c.progress.done();
          c.out(
            report,
            () =>
              [
                ...report.collections.map(
                  (r) =>
                    `imported ${r.records} records of Chroma collection ${r.chroma.name} into ${r.collection} as ${r.deltas.length} delta(s) (${r.fromIndex} vectors from the index files, ${r.fromLog} from the log; pending until the next compaction)`,
                ),
                ...report.skipped.map((s) => `skipped ${s.name}: ${s.reason}`),
              ].join('\n') || `no collections in ${report.dir}`,
          );
        } finally {
          await store.close();
        }
      },
    );
}

/** Adds `chroma` under the `export` command. */
export function registerExportChroma(exp: Command, ctx: Ctx): void {
  exp
    .command('chroma')
    .description(
      "write a collection's current snapshot as a Chroma persistent directory: loaded through a private Chroma server, which is stopped and awaited, then verified with a fresh server",
    )
    .argument('<dir>', 'new directory to create')
    .requiredOption('-c, --collection <name>', 'collection to export')
    .option(
      '--name <name>',
      'Chroma collection name (default: the name recorded at import, else the collection name)',
    )
    .option(
      '--samples <n>',
      'records checked bit-exact and by query in the fresh server',
      parseIntOption('--samples', 0),
      32,
    )
    .action(async (dir: string, o: { collection: string; name?: string; samples: number }) => {
      const c = ctx();
      const store = await c.openStore();
      try {
        c.progress.stage('export', 1);
        const report = await exportChroma(store, o.collection, dir, {
          ...(o.name !== undefined ? { name: o.name } : {}),
          samples: o.samples,
          onProgress: (e) => c.progress.tick('export', e.records, e.total),
        });
        c.progress.done();
        c.out(
          report,
          () =>
            `exported ${report.records} records of ${report.collection} (snapshot v${report.snapshot.version}) to ${report.dir} as Chroma collection ${report.chroma.name} (${report.chroma.space}); verified with a fresh Chroma ${report.chroma.version}: count ${report.verification.count}, ${report.verification.exact}/${report.verification.sampled} samples exact, ${report.verification.foundByQuery} found by query, self-recall@10 ${report.verification.selfRecall}/${report.verification.sampled}${report.drifted ? `; ${report.drifted} vectors drift by ±1 ulp` : ''}`,
        );
      } finally {
        await store.close();
      }
    });
}
