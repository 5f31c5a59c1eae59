/** serve: the query server (Chroma's HTTP API v2 over the current snapshots). */
import type { Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import { openExecutor } from '../../runners/index.js';
import { StrataServer } from '../../server/index.js';
import { type CliContext, parseDuration, parseFraction, parseIntOption } from '../context.js';

interface ServeCliOptions {
  host: string;
  port: number;
  token?: string;
  authReads?: boolean;
  compactEvery?: string;
  compactRunner: 'local' | 'inline';
  concurrency: number;
  refresh: string;
  maxBatchSize: number;
  bodyLimitMb: number;
  vectorCacheMb: number;
  leaseTtl: string;
  tailMaxRecords: number;
  tailMaxMb: number;
  readYourWrites: boolean;
  followStore: boolean;
  recallSample: number;
  recallAlert: number;
}

export function registerServe(program: Command, ctx: () => CliContext): void {
  program
    .command('serve')
    .description(
      "serve the current versions over Chroma's HTTP API v2 (writes become deltas, visible to this server's reads at once)",
    )
    .option('--host <host>', 'address to bind (only loopback unless you say otherwise)', '127.0.0.1')
    .option('--port <n>', 'port (0: any free port)', parseIntOption('--port', 0, 65535), 8000)
    .option('--token <token>', 'token required for writes (and reads with --auth-reads); env STRATA_TOKEN')
    .option('--auth-reads', 'require the token for reads too')
    .option('--compact-every <duration>', 'compact pending deltas in the background, e.g. 30s')
    .option('--compact-runner <runner>', 'local (worker processes) | inline', 'local')
    .option('--concurrency <n>', 'compaction worker processes', parseIntOption('--concurrency'), 1)
    .option('--refresh <duration>', 'how often to check for newly published snapshots', '1s')
    .option('--max-batch-size <n>', 'records per write request', parseIntOption('--max-batch-size'), 5_000)
    .option('--body-limit-mb <n>', 'largest request body in MiB', parseIntOption('--body-limit-mb'), 128)
    .option(
      '--vector-cache-mb <n>',
      'keep f32 vectors in memory for exact filtered search up to this size per snapshot',
      parseIntOption('--vector-cache-mb', 0),
      1024,
    )
    .option('--lease-ttl <duration>', 'compaction lease time-to-live', '60s')
    .option(
      '--tail-max-records <n>',
      'unpublished records held for read-your-writes; past it writes get 429 until compaction catches up',
      parseIntOption('--tail-max-records'),
      100_000,
    )
    .option(
      '--tail-max-mb <n>',
      'unpublished bytes held for read-your-writes, in MiB',
      parseIntOption('--tail-max-mb'),
      1024,
    )
    .option('--no-read-your-writes', 'reads see a write only once a published version contains it')
    .option('--no-follow-store', "do not show other producers' unpublished deltas (only this server's)")
    .option(
      '--recall-sample <fraction>',
      'recall watch: re-run this fraction of live queries exactly in the background, e.g. 0.01 (0: off)',
      parseFraction('--recall-sample'),
      0,
    )
    .option(
      '--recall-alert <recall>',
      'recall watch: alert while a collection’s recall@k is below this',
      parseFraction('--recall-alert'),
      0.95,
    )
    .action(async (o: ServeCliOptions) => {
      const c = ctx();
      const runner = o.compactRunner;
      if (runner !== 'local' && runner !== 'inline')
        throw new UsageError(`unknown compaction runner ${runner} (local | inline)`);
      const store = await c.openStore();
      let server: StrataServer;
      try {
        server = await StrataServer.start({
          store,
          compactExecutor: () =>
            openExecutor(runner, { store, storeSpec: c.storeSpec, concurrency: o.concurrency }),
          host: o.host,
          port: o.port,
          token: o.token ?? process.env.STRATA_TOKEN,
          authReads: !!o.authReads,
          compactEveryMs: o.compactEvery ? parseDuration(o.compactEvery) : 0,
          refreshMs: parseDuration(o.refresh),
          maxBatchSize: o.maxBatchSize,
          bodyLimit: o.bodyLimitMb << 20,
          vectorBudgetBytes: o.vectorCacheMb * 2 ** 20,
          leaseTtlMs: parseDuration(o.leaseTtl),
          readYourWrites: o.readYourWrites,
          followStore: o.followStore,
          tail: { maxRecords: o.tailMaxRecords, maxBytes: o.tailMaxMb * 2 ** 20 },
          recallSample: o.recallSample,
          recallAlert: o.recallAlert,
          logger: c.logger,
        });
      } catch (e) {
        await store.close();
        throw e;
      }
      c.out(
        { url: server.url, console: `${server.url}/console/`, store: store.url },
        () => `strata serve: ${server.url} (store ${store.url}); Console: ${server.url}/console/`,
      );
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      try {
        await server.close();
      } finally {
        await store.close();
      }
    });
}
