/** compact, status, verify, inspect, gc: operating a store. */
import type { Command } from 'commander';
import { ErrorCodes, StrataError, UsageError } from '../../core/errors.js';
import type { VersionManifest } from '../../core/version-manifest.js';
import { getCollection, listCollections } from '../../pipeline/collections.js';
import type { CompactReport } from '../../pipeline/compact.js';
import { type GcReport, gcCollection } from '../../pipeline/gc.js';
import { Keys } from '../../pipeline/layout.js';
import { type LedgerEntry, readLedger } from '../../pipeline/ledger.js';
import { planMerges } from '../../pipeline/merges.js';
import { baseRefOf, pointerTarget, readPointer } from '../../pipeline/pointer.js';
import { listRuns } from '../../pipeline/runs.js';
import { fetchManifest } from '../../pipeline/segments.js';
import { type SnapshotVerification, verifyCollection } from '../../pipeline/verify.js';
import { readVersion } from '../../pipeline/versions.js';
import type { ObjectStore } from '../../store/index.js';
import { runCompaction, runMerges } from '../compaction.js';
import { type CliContext, parseDuration, parseIntOption } from '../context.js';

type Ctx = () => CliContext;

interface StatusRow {
  collection: string;
  dimension: number;
  metric: string;
  quantization: string;
  version: number | null;
  count: number;
  /** Key of the current version manifest (format 1: the snapshot prefix). */
  snapshot: string | null;
  publishedAt: string | null;
  /** The current version's segments: rows, superseded rows, bytes, indexed or searched exactly. */
  segments: Array<{
    segment: string;
    rows: number;
    deleted: number;
    supersededPct: number;
    bytes: number;
    indexed: boolean;
  }>;
  /** Merges the merge policy asks for on the current version (each a list of segment addresses). */
  pendingMerges: string[][];
  /**
   * Accepted writes no published version contains yet (pending and compacting deltas): what a query
   * server's read-your-writes tail holds for this collection (`--follow-store`, the default), bounded by
   * its --tail-max-records / --tail-max-mb.
   */
  unpublished: { operations: number; deltas: number; bytes: number; oldestAgeMs: number | null };
  pending: number;
  compacting: number;
  promoted: number;
  rolledBack: number;
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
    .description(
      'compact pending deltas into a new version (chunks → groups → new segments → publish), then merge segments as the policy asks',
    )
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
    .option('--retain <n>', 'versions to keep reachable', parseIntOption('--retain'), 4)
    .option(
      '--merge <mode>',
      'after publishing, merge segments: auto (as the merge policy asks) | none | all',
      'auto',
    )
    .action(async (o) => {
      if (!['auto', 'none', 'all'].includes(o.merge))
        throw new UsageError(`--merge must be auto, none or all, not ${o.merge}`);
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
              merge: o.merge,
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
                    ? `, version v${r.snapshot.version} (${r.snapshot.count} records in ${r.snapshot.segments} segments, ${(r.snapshot.newBytes / 1e6).toFixed(1)} MB new)`
                    : '') +
                  (r.merges?.published.length
                    ? `, ${r.merges.published.length} merge(s) → v${r.merges.published[r.merges.published.length - 1]!.version}`
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
    .command('optimize')
    .description("merge a collection's segments down to one (reclaiming every superseded row)")
    .requiredOption('-c, --collection <name>', 'collection')
    .option('--runner <runner>', 'local | inline | bullmq', 'local')
    .option('--redis <url>', 'with --runner bullmq: Redis URL the workers serve')
    .option('--queue <name>', 'with --runner bullmq: queue name')
    .option('--concurrency <n>', 'worker processes (default: cores)', parseIntOption('--concurrency'))
    .option('--lease-ttl <duration>', 'lease time-to-live', '60s')
    .option('--wait-lease <duration>', 'if another compactor holds the lease, wait this long', '0s')
    .option('--retain <n>', 'versions to keep reachable', parseIntOption('--retain'), 4)
    .action(async (o) => {
      const c = ctx();
      const store = await c.openStore();
      try {
        await getCollection(store, o.collection);
        const r = await runMerges(c, store, o.collection, {
          mode: 'all',
          runner: o.runner,
          redis: o.redis,
          queue: o.queue,
          concurrency: o.concurrency,
          leaseTtlMs: parseDuration(o.leaseTtl),
          leaseWaitMs: parseDuration(o.waitLease),
          retain: o.retain,
        });
        c.out({ collection: o.collection, ...r }, () =>
          r.planned.length === 0
            ? `${o.collection}: already one segment with nothing superseded`
            : r.published.length
              ? `${o.collection}: merged ${r.published[0]!.inputs} segment(s), ${r.published[0]!.rows} rows (${r.published[0]!.build} graph, ${r.published[0]!.ms} ms) → version v${r.published[0]!.version}`
              : `${o.collection}: merge dropped: ${r.dropped.map((d) => d.error.message).join('; ')}`,
        );
        if (r.planned.length > 0 && r.published.length === 0) process.exitCode = 1;
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
            snapshot: l.pointer ? pointerTarget(l.pointer.value) : null,
            publishedAt: l.pointer?.value.publishedAt ?? null,
            segments: segmentRows(l.manifest),
            pendingMerges: l.manifest && l.pointer?.value.manifest ? planMerges(l.manifest, 'auto') : [],
            unpublished: unpublishedOf(l.entries),
            pending: l.counts.pending,
            compacting: l.counts.compacting,
            promoted: l.counts.promoted,
            rolledBack: l.counts['rolled-back'],
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
                    `${s.collection} (${s.dimension}-d ${s.metric} ${s.quantization}): version ${s.version === null ? 'none' : `v${s.version}`}, ${s.count} records in ${s.segments.length} segment(s)${s.pendingMerges.length ? `, ${s.pendingMerges.length} merge(s) pending` : ''}; deltas: ${s.pending} pending, ${s.compacting} compacting, ${s.promoted} promoted, ${s.rolledBack ? `${s.rolledBack} rolled back, ` : ''}${s.quarantined} quarantined` +
                    (s.unpublished.deltas > 0
                      ? `\n  unpublished: ${s.unpublished.operations} operations in ${s.unpublished.deltas} delta(s), ${formatBytes(s.unpublished.bytes)}, oldest ${formatAge(s.unpublished.oldestAgeMs)}`
                      : '') +
                    (s.segments.length > 1 ? `\n${formatSegments(s.segments)}` : '') +
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
                  : `${r.collection}: version v${r.version} ${r.ok ? 'verified' : `FAILED: ${r.problems.join('; ')}`} (${r.count} records, ${r.segments.length} segment(s))`,
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
    .description(
      "show a version's segments (rows, superseded, bytes, indexed or exact), or one segment's manifest and files",
    )
    .requiredOption('-c, --collection <name>', 'collection')
    .option('--version <n>', 'a retained version (default: current)', parseIntOption('--version'))
    .option(
      '--segment <address>',
      "a segment's address (manifest SHA-256) or key prefix: its manifest and files",
    )
    .action(async (o: { collection: string; version?: number; segment?: string }) => {
      const c = ctx();
      const store = await c.openStore();
      try {
        const pointer = await readPointer(store, o.collection);
        if (!pointer)
          throw new StrataError(ErrorCodes.NOT_FOUND, `collection ${o.collection} has no version yet`, {
            collection: o.collection,
          });
        if (o.segment) {
          const prefix = /^[0-9a-f]{64}$/.test(o.segment) ? Keys.segment(o.collection, o.segment) : o.segment;
          const { manifest, sha256 } = await fetchManifest(store, prefix);
          c.out({ prefix, manifestSha256: sha256, manifest }, () =>
            [
              `segment ${prefix}`,
              `  ${manifest.kind}, format ${manifest.formatVersion}, ${manifest.counts.records} rows (keys to ${manifest.maxKey ?? '?'}), ${manifest.dimension}-d ${manifest.metric}, index ${manifest.index ? `usearch ${manifest.quantization} M=${manifest.index.connectivity}` : 'none (searched exactly)'}`,
              `  content hash ${manifest.contentHash}, seq range ${JSON.stringify(manifest.seqRange)}`,
              ...manifest.files.map(
                (f) => `  ${f.name.padEnd(16)} ${String(f.size).padStart(12)} bytes  sha256 ${f.sha256}`,
              ),
            ].join('\n'),
          );
          return;
        }
        const ref =
          o.version === undefined || o.version === pointer.value.version
            ? baseRefOf(pointer)!
            : (() => {
                const r = pointer.value.retained.find((x) => x.version === o.version);
                if (!r) {
                  throw new StrataError(ErrorCodes.NOT_FOUND, `version ${o.version} is not retained`, {
                    collection: o.collection,
                  });
                }
                return {
                  version: r.version,
                  manifest: r.manifest,
                  snapshot: r.snapshot,
                  manifestSha256: r.manifestSha256 ?? '',
                };
              })();
        const v = await readVersion(store, ref, o.collection);
        const m = v.manifest;
        c.out(
          { pointer: pointer.value, key: v.key, manifestSha256: v.sha256, legacy: v.legacy, manifest: m },
          () =>
            [
              `version ${m.version} (${m.cause}${m.restores ? ` of v${m.restores}` : ''}, parent ${m.parentVersion ?? 'none'}, run ${m.run})${v.legacy ? ' — format 1 snapshot' : ''}`,
              `  ${m.count} records in ${m.segments.length} segment(s), ${m.dimension}-d ${m.metric}`,
              `  content hash ${m.contentHash}`,
              `  ${m.promotedDeltas} deltas promoted in ${m.promoted.length} range(s)${m.rolledBack.length ? `, ${m.rolledBack.length} range(s) rolled back` : ''}`,
              formatSegments(segmentRows(m)),
            ].join('\n'),
        );
      } finally {
        await store.close();
      }
    });

  program
    .command('gc')
    .description(
      'delete versions, segments and deletion vectors nothing reaches, and finished runs, older than the grace period',
    )
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
                  `${r.collection}: ${o.dryRun ? 'would delete' : 'deleted'} ${r.deletedVersions} version(s), ${r.deletedSegments.length} segment(s), ${r.deletedDeletionVectors} deletion vector(s), ${r.deletedSnapshots.length} format 1 snapshot(s), ${r.deletedRuns.length} run(s): ${r.deletedObjects} objects, ${(r.deletedBytes / 1e6).toFixed(1)} MB`,
              )
              .join('\n') || 'no collections',
        );
      } finally {
        await store.close();
      }
    });
}

function segmentRows(m: VersionManifest | undefined): StatusRow['segments'] {
  return (m?.segments ?? []).map((s) => ({
    segment: s.manifestSha256,
    rows: s.rows,
    deleted: s.deleted,
    supersededPct: s.rows === 0 ? 0 : Math.round((1000 * s.deleted) / s.rows) / 10,
    bytes: s.bytes,
    indexed: s.indexed,
  }));
}

function formatSegments(rows: StatusRow['segments']): string {
  return rows
    .map(
      (s, i) =>
        `  ${String(i + 1).padStart(3)}. ${s.segment.slice(0, 12)}  ${String(s.rows).padStart(10)} rows  ${String(s.supersededPct).padStart(5)} % superseded  ${(s.bytes / 1e6).toFixed(1).padStart(9)} MB  ${s.indexed ? 'indexed' : 'exact'}`,
    )
    .join('\n');
}

/** Pending and compacting deltas: what no published version contains yet. */
function unpublishedOf(entries: ReadonlyArray<LedgerEntry>): StatusRow['unpublished'] {
  let operations = 0;
  let deltas = 0;
  let bytes = 0;
  let oldest = Number.POSITIVE_INFINITY;
  for (const e of entries) {
    if (e.state !== 'pending' && e.state !== 'compacting') continue;
    operations += e.count;
    deltas++;
    bytes += e.size;
    oldest = Math.min(oldest, Date.parse(e.acceptedAt));
  }
  return {
    operations,
    deltas,
    bytes,
    oldestAgeMs: Number.isFinite(oldest) ? Math.max(0, Date.now() - oldest) : null,
  };
}

function formatBytes(n: number): string {
  return n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;
}

function formatAge(ms: number | null): string {
  if (ms === null) return '-';
  return ms < 120_000 ? `${Math.round(ms / 1000)} s ago` : `${Math.round(ms / 60_000)} min ago`;
}
