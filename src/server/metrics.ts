/** The server's metrics in the Prometheus text exposition format (version 0.0.4): counters, gauges, histograms. */

type Labels = Record<string, string>;

const labelKey = (l: Labels) =>
  Object.keys(l)
    .sort()
    .map((k) => `${k}="${String(l[k]).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`)
    .join(',');

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
  ) {}
  abstract lines(): string[];
  header(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
  }
}

export class Counter extends Metric {
  readonly #values = new Map<string, number>();
  constructor(name: string, help: string, type: 'counter' | 'gauge' = 'counter') {
    super(name, help, type);
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }
  set(labels: Labels, value: number): void {
    this.#values.set(labelKey(labels), value);
  }
  remove(labels: Labels): void {
    this.#values.delete(labelKey(labels));
  }
  get(labels: Labels = {}): number {
    return this.#values.get(labelKey(labels)) ?? 0;
  }
  lines(): string[] {
    return [...this.#values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ''} ${v}`);
  }
}

export class Gauge extends Counter {
  constructor(name: string, help: string) {
    super(name, help, 'gauge');
  }
}

export class Histogram extends Metric {
  readonly #buckets: number[];
  readonly #series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(name: string, help: string, buckets: number[]) {
    super(name, help, 'histogram');
    this.#buckets = [...buckets].sort((a, b) => a - b);
  }
  observe(labels: Labels, value: number): void {
    const k = labelKey(labels);
    let s = this.#series.get(k);
    if (!s) {
      s = { counts: new Array<number>(this.#buckets.length).fill(0), sum: 0, count: 0 };
      this.#series.set(k, s);
    }
    for (let i = 0; i < this.#buckets.length; i++) if (value <= this.#buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  lines(): string[] {
    const out: string[] = [];
    for (const [k, s] of this.#series) {
      const sep = k ? `${k},` : '';
      for (const [i, b] of this.#buckets.entries())
        out.push(`${this.name}_bucket{${sep}le="${b}"} ${s.counts[i]}`);
      out.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      out.push(`${this.name}_sum${k ? `{${k}}` : ''} ${s.sum}`);
      out.push(`${this.name}_count${k ? `{${k}}` : ''} ${s.count}`);
    }
    return out;
  }
}

export class ServerMetrics {
  readonly requests = new Counter('strata_http_requests_total', 'HTTP requests by route and status');
  readonly queries = new Counter('strata_queries_total', 'k-NN queries answered, by collection and plan');
  readonly queryLatency = new Histogram(
    'strata_query_duration_seconds',
    'Time to answer a query request (filter + search + rows), by collection',
    [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  );
  readonly snapshotVersion = new Gauge('strata_snapshot_version', 'Version of the snapshot being served');
  readonly snapshotRecords = new Gauge('strata_snapshot_records', 'Records in the snapshot being served');
  readonly swaps = new Counter(
    'strata_snapshot_swaps_total',
    'Snapshot swaps (a new snapshot became current)',
  );
  readonly swapOpen = new Gauge(
    'strata_snapshot_open_seconds',
    'Open + verify + view build time of the last swap',
  );
  readonly openFailures = new Counter(
    'strata_snapshot_open_failures_total',
    'New snapshots that could not be opened',
  );
  readonly draining = new Gauge(
    'strata_snapshots_draining',
    'Retired snapshots still held by in-flight queries',
  );
  readonly writeOps = new Counter(
    'strata_write_operations_total',
    'Operations accepted into deltas, by collection',
  );
  readonly deltas = new Counter('strata_deltas_accepted_total', 'Deltas accepted, by collection');
  readonly compactions = new Counter(
    'strata_compactions_total',
    'Background compaction runs, by collection and status',
  );

  readonly tailRecords = new Gauge(
    'strata_tail_records',
    'Ids with acknowledged writes no published version contains yet',
  );
  readonly tailBytes = new Gauge('strata_tail_bytes', 'Bytes of those writes (vectors, documents, metadata)');
  readonly tailAge = new Gauge(
    'strata_tail_age_seconds',
    'Age of the oldest unpublished delta the server holds',
  );
  readonly tailQuarantined = new Counter(
    'strata_tail_quarantined_total',
    'Deltas the server acknowledged that compaction then quarantined (their writes left the tail)',
  );
  readonly segmentsServed = new Gauge('strata_segments_served', 'Segments of the version being served');

  render(): string {
    const all: Metric[] = [
      this.tailRecords,
      this.tailBytes,
      this.tailAge,
      this.tailQuarantined,
      this.segmentsServed,
      this.requests,
      this.queries,
      this.queryLatency,
      this.snapshotVersion,
      this.snapshotRecords,
      this.swaps,
      this.swapOpen,
      this.openFailures,
      this.draining,
      this.writeOps,
      this.deltas,
      this.compactions,
    ];
    return `${all.flatMap((m) => [...m.header(), ...m.lines()]).join('\n')}\n`;
  }
}
