/**
 * The server's metrics, in one prom-client registry per server: `/metrics` renders it in the Prometheus
 * text format (version 0.0.4) and the Console's charts sample the same objects (console/series.ts).
 * Names and labels are a public contract (dashboards and alerts use them): only ever add.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Query latency buckets, in seconds. */
export const QUERY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Compaction run duration buckets, in seconds. */
export const COMPACTION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'strata_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly queries = new Counter({
    name: 'strata_queries_total',
    help: 'k-NN queries answered, by collection and plan',
    labelNames: ['collection', 'plan'] as const,
    registers: [this.registry],
  });
  readonly queryLatency = new Histogram({
    name: 'strata_query_duration_seconds',
    help: 'Time to answer a query request (filter + search + rows), by collection',
    labelNames: ['collection'] as const,
    buckets: QUERY_BUCKETS,
    registers: [this.registry],
  });
  readonly snapshotVersion = new Gauge({
    name: 'strata_snapshot_version',
    help: 'Version of the snapshot being served',
    labelNames: ['collection'] as const,
    registers: [this.registry],
  });
  readonly snapshotRecords = new Gauge({
    name: 'strata_snapshot_records',
    help: 'Records in the snapshot being served',
    labelNames: ['collection'] as const,
    registers: [this.registry],
  });
  readonly swaps = new Counter({
    name: 'strata_snapshot_swaps_total',
    help: 'Snapshot swaps (a new snapshot became current)',
    labelNames: ['collection'] as const,
    registers: [this.registry],
  });
  readonly swapOpen = new Gauge({
    name: 'strata_snapshot_open_seconds',
    help: 'Open + verify + view build time of the last swap',
    labelNames: ['collection'] as const,
    registers: [this.registry],
  });
  readonly openFailures = new Counter({
    name: 'strata_snapshot_open_failures_total',
    help: 'New snapshots that could not be opened',
    labelNames: ['collection'] as const,
    registers: [this.registry],
  });
  readonly draining = new Gauge({
    name: 'strata_snapshots_draining',
    help: 'Retired snapshots still held by in-flight queries',
    registers: [this.registry],
  });
  readonly writeOps = new Counter({
    name: 'strata_write_operations_total',
    help: 'Operations accepted into deltas, by collection',
    labelNames: ['collection'] as const,
    registers: [this.registry],
  });
  readonly deltas = new Counter({
    name: 'strata_deltas_accepted_total',
    help: 'Deltas accepted, by collection',
    labelNames: ['collection'] as const,
    registers: [this.registry],
  });
  readonly compactions = new Counter({
    name: 'strata_compactions_total',
    help: 'Background compaction runs, by collection and status',
    labelNames: ['collection', 'status'] as const,
    registers: [this.registry],
  });
  // --- added with the Console -------------------------------------------------------------------------
  readonly compactionDuration = new Histogram({
    name: 'strata_compaction_duration_seconds',
    help: 'Wall time of compaction runs this server ran, by collection and status',
    labelNames: ['collection', 'status'] as const,
    buckets: COMPACTION_BUCKETS,
    registers: [this.registry],
  });
  readonly recall = new Gauge({
    name: 'strata_recall_at_k',
    help: 'Recall@k of sampled live queries against exact search (mean over the recent window), by collection',
    labelNames: ['collection'] as const,
    registers: [this.registry],
  });
  readonly recallSamples = new Counter({
    name: 'strata_recall_samples_total',
    help: 'Live queries re-run exactly by the recall watch, by collection',
    labelNames: ['collection'] as const,
    registers: [this.registry],
  });
  readonly recallDropped = new Counter({
    name: 'strata_recall_dropped_total',
    help: 'Sampled queries the recall watch dropped because its queue was full',
    registers: [this.registry],
  });
  readonly recallAlert = new Gauge({
    name: 'strata_recall_alert',
    help: '1 while a collection’s recall@k is below the alert threshold, else 0',
    labelNames: ['collection'] as const,
    registers: [this.registry],
  });
  readonly eventClients = new Gauge({
    name: 'strata_console_event_clients',
    help: 'Open server-sent event streams (Console live updates)',
    registers: [this.registry],
  });

  // --- added with segmented versions and read-your-writes -------------------------------------------------
  readonly tailRecords = new Gauge({
    name: 'strata_tail_records',
    help: 'Ids with acknowledged writes no published version contains yet (read-your-writes tail)',
    labelNames: ['collection'] as const,
    registers: [this.registry],
  });
  readonly tailBytes = new Gauge({
    name: 'strata_tail_bytes',
    help: 'Bytes of those writes (vectors, documents, metadata)',
    labelNames: ['collection'] as const,
    registers: [this.registry],
  });
  readonly tailAge = new Gauge({
    name: 'strata_tail_age_seconds',
    help: 'Age of the oldest unpublished delta the server holds',
    labelNames: ['collection'] as const,
    registers: [this.registry],
  });
  readonly tailQuarantined = new Counter({
    name: 'strata_tail_quarantined_total',
    help: 'Deltas the server acknowledged that compaction then quarantined (their writes left the tail)',
    labelNames: ['collection'] as const,
    registers: [this.registry],
  });
  readonly segmentsServed = new Gauge({
    name: 'strata_segments_served',
    help: 'Segments of the version being served',
    labelNames: ['collection'] as const,
    registers: [this.registry],
  });
  readonly merges = new Counter({
    name: 'strata_merges_total',
    help: 'Merges this server ran in the background, by collection and outcome (published, dropped)',
    labelNames: ['collection', 'outcome'] as const,
    registers: [this.registry],
  });

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * The text exposition. prom-client writes a histogram bucket's `le` before the series labels; it is
   * moved last, as this server has always written it (label order carries no meaning, but scripts grep).
   */
  async render(): Promise<string> {
    const text = await this.registry.metrics();
    return text.replace(/^([a-z_:][a-z0-9_:]*_bucket)\{le="([^"]*)",(.+)\}( .*)$/gm, '$1{$3,le="$2"}$4');
  }
}
