/** compact, status, verify, inspect, gc: operating a store. */
import type { Command } from 'commander';
import { ErrorCodes, StrataError } from '../../core/errors.js';
import { getCollection, listCollections } from '../../pipeline/collections.js';
import type { CompactReport } from '../../pipeline/compact.js';
import { type GcReport, gcCollection } from '../../pipeline/gc.js';
import { readLedger } from '../../pipeline/ledger.js';
import { listRuns } from '../../pipeline/runs.js';
import { fetchManifest } from '../../pipeline/segments.js';
import { type SnapshotVerification, verifyCollection } from '../../pipeline/verify.js';
import type { ObjectStore } from '../../store/object-store.js';
import { runCompaction } from '../compaction.js';
import { type CliContext, parseDuration, parseIntOption } from '../context.js';

type Ctx = () => CliContext;

interface StatusRow {
  collection: string;
  dimension: number;
  metric: string;
  quantization: string;
  version: number | null;
  count: number;
  snapshot: string | null;
  publishedAt: string | null;
  pending: number;
  compacting: number;
  promoted: number;
  quarantined: number;
  lastRuns: Array<{ run: string; status: string; startedAt: string; finishedAt?: string }>;
  deltas?: Array<{
    seqStart: number;
    count: number;
    state: string;
    version?: number;
    error?: string;
    source?: string;
  }>;
}

async function targets(store: ObjectStore, collection?: string): Promise<string[]> {
  if (collection) {
    await getCollection(store, collection);
    return [collection];
  }
  return listCollections(store);
}

export function registerOps(program: Command, ctx: Ctx): void {
  program
    .command('compact')
    .description('compact pending deltas into a new snapshot (chunks → groups → final merge → publish)')
    .option('-c, --collection <name>', 'only this collection (default: every collection with pending deltas)')
    .option(
      '--runner <runner>',
      'local (worker processes) | inline (this process) | bullmq (`strata worker`s via Redis)',
      'local',
    )
    .option('--redis <url>', 'with --runner bullmq: Redis URL the workers serve')
    .option('--queue <name>', 'with --runner bullmq: queue name (default strata-steps)')
    .option('--concurrency <n>', 'worker processes (default: cores)', parseIntOption('--concurrency'))
    .option('--chunk-size <n>', 'deltas per chunk', parseIntOption('--chunk-size'), 3)
    .option('--group-size <n>', 'chunks per group', parseIntOption('--group-size'), 10)
    .option('--max-deltas <n>', 'compact at most this many pending deltas', parseIntOption('--max-deltas'))
    .option('--lease-ttl <duration>', 'lease time-to-live', '60s')
    .option(
      '--wait-lease <duration>',
      'if another compactor holds the lease, wait this long for it to end',
      '0s',
    )
    .option('--in-flight-grace <duration>', 'a delta still being written blocks later deltas this long', '2m')
    .option('--retain <n>', 'snapshots to keep reachable', parseIntOption('--retain'), 4)
    .action(async (o) => {
      const c = ctx();
      const store = await c.openStore();
      try {
        const reports: CompactReport[] = [];
        for (const name of await targets(store, o.collection)) {
          reports.push(
            await runCompaction(c, store, name, {
              runner: o.runner,
              redis: o.redis,
              queue: o.queue,
              concurrency: o.concurrency,
              chunkSize: o.chunkSize,
              groupSize: o.groupSize,
              maxDeltas: o.maxDeltas,
              leaseTtlMs: parseDuration(o.leaseTtl),
              leaseWaitMs: parseDuration(o.waitLease),
              inFlightMs: parseDuration(o.inFlightGrace),
              retain: o.retain,
            }),
          );
        }
        c.out(o.collection ? reports[0] : reports, () =>
          reports
            .map((r) =>
              r.status === 'nothing-to-do'
                ? `${r.collection}: nothing to compact`
                : `${r.collection}: ${r.status} — ${r.deltas} deltas, ${r.chunks} chunks, groups ${r.groupsSucceeded}/${r.groups} succeeded` +
                  (r.snapshot
                    ? `, snapshot v${r.snapshot.version} (${r.snapshot.count} records, ${r.snapshot.build} build)`
                    : '') +
                  (r.quarantined.length ? `, ${r.quarantined.length} delta(s) quarantined` : '') +
                  `, ${r.timingsMs.total} ms`,
            )
            .join('\n'),
        );
        if (reports.some((r) => r.groupsFailed > 0)) process.exitCode = 1;
      } finally {
        await store.close();
      }
    });

  program
    .command('status')
    .description('collections, current snapshots and ledger counts')
    .option('-c, --collection <name>', 'only this collection')
    .option('--deltas', 'list every delta with its state')
    .action(async (o: { collection?: string; deltas?: boolean }) => {
      const c = ctx();
      const store = await c.openStore();
      try {
        const out: StatusRow[] = [];
        for (const name of await targets(store, o.collection)) {
          const l = await readLedger(store, name);
          const config = await getCollection(store, name);
          const runs = await listRuns(store, name, 5);
          out.push({
            collection: name,
            dimension: config.dimension,
            metric: config.metric,
            quantization: config.quantization,
            version: l.pointer?.value.version ?? null,
            count: l.pointer?.value.count ?? 0,
            snapshot: l.pointer?.value.snapshot ?? null,
            publishedAt: l.pointer?.value.publishedAt ?? null,
            pending: l.counts.pending,
            compacting: l.counts.compacting,
            promoted: l.counts.promoted,
            quarantined: l.counts.quarantined,
            lastRuns: runs.map((r) => ({
              run: r.run,
              status: r.status,
              startedAt: r.startedAt,
              finishedAt: r.finishedAt,
            })),
            ...(o.deltas
              ? {
                  deltas: l.entries.map((e) => ({
                    seqStart: e.seqStart,
                    count: e.count,
                    state: e.state,
                    version: e.version,
                    error: e.error?.code,
                    source: e.source,
                  })),
                }
              : {}),
          });
        }
        c.out({ store: store.url, collections: out }, () =>
          out.length === 0
            ? `store ${store.url}: no collections`
            : out
                .map(
                  (s) =>
                    `${s.collection} (${s.dimension}-d ${s.metric} ${s.quantization}): snapshot ${s.version === null ? 'none' : `v${s.version}`}, ${s.count} records; deltas: ${s.pending} pending, ${s.compacting} compacting, ${s.promoted} promoted, ${s.quarantined} quarantined` +
                    (s.deltas
                      ? `\n${s.deltas.map((d) => `  ${d.seqStart}\t${d.count}\t${d.state}${d.version ? ` v${d.version}` : ''}${d.error ? ` ${d.error}` : ''}`).join('\n')}`
                      : ''),
                )
                .join('\n'),
        );
      } finally {
        await store.close();
      }
    });

  program
    .command('verify')
    .description(
      'resolve pointer → manifest → files and verify every checksum, the record store and the index',
    )
    .option('-c, --collection <name>', 'only this collection')
    .action(async (o: { collection?: string }) => {
      const c = ctx();
      const store = await c.openStore();
      try {
        const results: Array<Omit<SnapshotVerification, 'manifest'>> = [];
        for (const name of await targets(store, o.collection)) {
          const v = await verifyCollection(store, name);
          const { manifest: _m, ...rest } = v;
          results.push(rest);
        }
        const ok = results.every((r) => r.ok);
        c.out(
          { ok, collections: results },
          () =>
            results
              .map((r) =>
                r.version === null
                  ? `${r.collection}: no snapshot yet`
                  : `${r.collection}: snapshot v${r.version} ${r.ok ? 'verified' : `FAILED: ${r.problems.join('; ')}`} (${r.count} records)`,
              )
              .join('\n') || 'no collections',
        );
        if (!ok) process.exitCode = 1;
      } finally {
        await store.close();
      }
    });

  program
    .command('inspect')
    .description("show a snapshot's manifest, counts and files")
    .requiredOption('-c, --collection <name>', 'collection')
    .option('--snapshot <prefix>', 'a snapshot key prefix (default: current)')
    .action(async (o: { collection: string; snapshot?: string }) => {
      const c = ctx();
      const store = await c.openStore();
      try {
        const l = await readLedger(store, o.collection);
        const prefix = o.snapshot ?? l.pointer?.value.snapshot;
        if (!prefix)
          throw new StrataError(ErrorCodes.NOT_FOUND, `collection ${o.collection} has no snapshot yet`, {
            collection: o.collection,
          });
        const { manifest, sha256 } = await fetchManifest(
          store,
          prefix,
          o.snapshot ? undefined : l.pointer?.value.manifestSha256,
        );
        c.out({ pointer: l.pointer?.value ?? null, manifestSha256: sha256, manifest }, () =>
          [
            `snapshot ${prefix}`,
            `  version ${manifest.snapshot?.version} (parent ${manifest.snapshot?.parentVersion ?? 'none'}), ${manifest.snapshot?.build} build, run ${manifest.snapshot?.run}`,
            `  ${manifest.counts.records} records, ${manifest.dimension}-d ${manifest.metric}, index ${manifest.index ? `usearch ${manifest.quantization} M=${manifest.index.connectivity}` : 'none'}`,
            `  content hash ${manifest.contentHash}`,
            `  seq range ${JSON.stringify(manifest.seqRange)}, ${manifest.snapshot?.promotedDeltas} deltas promoted in ${manifest.snapshot?.promoted.length} range(s)`,
            ...manifest.files.map(
              (f) => `  ${f.name.padEnd(16)} ${String(f.size).padStart(12)} bytes  sha256 ${f.sha256}`,
            ),
          ].join('\n'),
        );
      } finally {
        await store.close();
      }
    });

  program
    .command('gc')
    .description('delete unreachable snapshots and finished runs older than the grace period')
    .option('-c, --collection <name>', 'only this collection')
    .option('--grace <duration>', 'keep anything younger than this', '10m')
    .option('--dry-run', 'only report what would be deleted')
    .action(async (o: { collection?: string; grace: string; dryRun?: boolean }) => {
      const c = ctx();
      const store = await c.openStore();
      try {
        const reports: GcReport[] = [];
        for (const name of await targets(store, o.collection)) {
          reports.push(
            await gcCollection(store, name, { graceMs: parseDuration(o.grace), dryRun: !!o.dryRun }),
          );
        }
        c.out(
          { dryRun: !!o.dryRun, collections: reports },
          () =>
            reports
              .map(
                (r) =>
                  `${r.collection}: ${o.dryRun ? 'would delete' : 'deleted'} ${r.deletedSnapshots.length} snapshot(s), ${r.deletedRuns.length} run(s), ${r.deletedObjects} objects, ${(r.deletedBytes / 1e6).toFixed(1)} MB`,
              )
              .join('\n') || 'no collections',
        );
      } finally {
        await store.close();
      }
    });
}
