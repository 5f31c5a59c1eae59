import { Command, CommanderError } from 'commander';
import { ErrorCodes, StrataError, UsageError } from '../core/errors.js';
import { registerData } from './commands/data.js';
import { registerExport } from './commands/export.js';
import { registerInterop } from './commands/interop.js';
import { registerOps } from './commands/ops.js';
import { registerQuery } from './commands/query.js';
import { registerRollback } from './commands/rollback.js';
import { registerServe } from './commands/serve.js';
import { registerWorker } from './commands/worker.js';
import { type CliContext, createContext, type GlobalOptions, parseIntOption } from './context.js';
import { DEMO_DEFAULTS, formatDemo, runDemo } from './demo.js';

export const VERSION = '0.1.0';

/** Exit codes: 0 success, 1 a failed check or operation, 2 bad usage. */
export function exitCodeFor(e: unknown): number {
  if (e instanceof UsageError || (e instanceof StrataError && e.code === ErrorCodes.USAGE)) return 2;
  if (e instanceof CommanderError) return 2;
  return 1;
}

export function buildProgram(): Command {
  const program = new Command();
  let context: CliContext | undefined;
  const ctx = () => {
    context ??= createContext(program.opts<GlobalOptions>());
    return context;
  };
  program
    .name('strata')
    .description('Turn a stream of embedding batches into verified, query-ready vector snapshots.')
    .version(VERSION)
    .option('--dir <path>', 'local store directory (env STRATA_DIR; default ./strata-data)')
    .option('--store <url>', 'store URL: a path, file:///path or s3://bucket/prefix (env STRATA_STORE)')
    .option(
      '--s3-endpoint <url>',
      'S3-compatible endpoint for an s3:// store, e.g. http://127.0.0.1:7480 (env STRATA_S3_ENDPOINT)',
    )
    .option('--json', 'machine-readable output on stdout')
    .option('-v, --verbose', 'debug logs and stack traces')
    .option('-q, --quiet', 'no progress output')
    .showHelpAfterError()
    .exitOverride();

  registerData(program, ctx);
  registerOps(program, ctx);
  registerRollback(program, ctx);
  registerQuery(program, ctx);
  registerServe(program, ctx);
  registerWorker(program, ctx);
  registerExport(program, ctx);
  registerInterop(program, ctx);

  program
    .command('demo')
    .description(
      "run the seed system's workload end to end: ingest, compact in worker processes, verify, measure recall",
    )
    .option('-c, --collection <name>', 'collection', DEMO_DEFAULTS.collection)
    .option('--records <n>', 'records in the first round', parseIntOption('--records'), DEMO_DEFAULTS.records)
    .option(
      '--dimension <n>',
      'vector dimension',
      parseIntOption('--dimension', 2, 65536),
      DEMO_DEFAULTS.dimension,
    )
    .option('--deltas <n>', 'deltas in the first round', parseIntOption('--deltas'), DEMO_DEFAULTS.deltas)
    .option('--chunk-size <n>', 'deltas per chunk', parseIntOption('--chunk-size'), DEMO_DEFAULTS.chunkSize)
    .option('--group-size <n>', 'chunks per group', parseIntOption('--group-size'), DEMO_DEFAULTS.groupSize)
    .option(
      '--changes <n>',
      'operations in each later round',
      parseIntOption('--changes'),
      DEMO_DEFAULTS.changes,
    )
    .option(
      '--change-deltas <n>',
      'deltas in each later round',
      parseIntOption('--change-deltas'),
      DEMO_DEFAULTS.changeDeltas,
    )
    .option('--seed <n>', 'workload seed', parseIntOption('--seed', 0), DEMO_DEFAULTS.seed)
    .option('--concurrency <n>', 'worker processes (default: cores)', parseIntOption('--concurrency'))
    .option(
      '--queries <n>',
      'sample queries for recall@10',
      parseIntOption('--queries', 0),
      DEMO_DEFAULTS.queries,
    )
    .option('--runner <runner>', 'local | inline', 'local')
    .action(async (o) => {
      const c = ctx();
      const store = await c.openStore();
      try {
        const result = await runDemo(c, store, { ...DEMO_DEFAULTS, ...o });
        const { compaction: _c, ...summary } = result;
        c.out(summary, () => formatDemo(result));
        if (result.groupsFailed > 0 || !result.snapshot.verified) process.exitCode = 1;
      } finally {
        await store.close();
      }
    });
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version are not errors; commander has printed its message already
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    const verbose = program.opts<GlobalOptions>().verbose;
    const json = program.opts<GlobalOptions>().json;
    const err = e instanceof StrataError ? e : undefined;
    if (json) {
      process.stdout.write(
        `${JSON.stringify({ error: err ? { code: err.code, message: err.message, context: err.context } : { code: ErrorCodes.INTERNAL, message: String((e as Error)?.message ?? e) } })}\n`,
      );
    }
    process.stderr.write(
      `${err ? err.describe() : `${ErrorCodes.INTERNAL}: ${(e as Error)?.message ?? String(e)}`}\n`,
    );
    if (verbose && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    process.exitCode = exitCodeFor(e);
  }
}
