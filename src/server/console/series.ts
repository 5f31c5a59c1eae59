/**
 * Metric history for the Console's charts: every `everyMs` the server samples its own prom-client
 * registry (the objects /metrics renders) into a ring buffer of per-collection points — query rate,
 * latency percentiles (from the histogram's bucket increments over the interval), swaps, compactions and
 * their mean duration, recall@k. Sampling reads counters only; nothing on the query path changes.
 */
import type { MetricValueWithName } from 'prom-client';
import type { ServerMetrics } from '../metrics.js';
import type { Series, SeriesPoint } from './wire.js';

type Values = Array<MetricValueWithName<string>>;
type Point = SeriesPoint['collections'][string];

/** The q-quantile of a histogram's increments (cumulative counts by upper bound), linearly interpolated. */
export function quantileOf(buckets: Array<[bound: number, cumulative: number]>, q: number): number | null {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, cum] of sorted) {
    if (cum >= rank) {
      if (!Number.isFinite(bound)) return prevBound;
      const inBucket = cum - prevCount;
      return inBucket <= 0 ? bound : prevBound + ((bound - prevBound) * (rank - prevCount)) / inBucket;
    }
    prevBound = bound;
    prevCount = cum;
  }
  return prevBound;
}

const byCollection = (values: Values, metricName?: string) => {
  const out = new Map<string, Values>();
  for (const v of values) {
    if (metricName && v.metricName !== metricName) continue;
    const c = v.labels.collection;
    if (typeof c !== 'string') continue;
    const list = out.get(c) ?? [];
    list.push(v);
    out.set(c, list);
  }
  return out;
};

const sum = (vs: Values | undefined) => (vs ?? []).reduce((n, v) => n + v.value, 0);

export class MetricSeries {
  readonly everyMs: number;
  readonly capacity: number;
  readonly #metrics: ServerMetrics;
  readonly #points: SeriesPoint[] = [];
  #prev: Map<string, number> = new Map();
  #baseline = false;
  #timer: NodeJS.Timeout | undefined;
  #sampling: Promise<void> | undefined;

  constructor(metrics: ServerMetrics, opts: { everyMs?: number; capacity?: number } = {}) {
    this.#metrics = metrics;
    this.everyMs = opts.everyMs ?? 5_000;
    this.capacity = opts.capacity ?? 120;
  }

  start(): void {
    if (this.#timer) return;
    // a first reading, so the first interval has a baseline
    void this.sample();
    this.#timer = setInterval(() => void this.sample(), this.everyMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  snapshot(): Series {
    return { everyMs: this.everyMs, points: [...this.#points] };
  }

  /** Takes one point now (concurrent calls share one). */
  sample(): Promise<void> {
    this.#sampling ??= this.#sample().finally(() => {
      this.#sampling = undefined;
    });
    return this.#sampling;
  }

  async #sample(): Promise<void> {
    const m = this.#metrics;
    const [queries, latency, swaps, compactions, durations, recall] = await Promise.all([
      m.queries.get(),
      m.queryLatency.get(),
      m.swaps.get(),
      m.compactions.get(),
      m.compactionDuration.get(),
      m.recall.get(),
    ]);
    const now = Date.now();
    const cur = new Map<string, number>();
    const first = !this.#baseline;
    this.#baseline = true;
    // a series that appeared since the last reading started from 0 (prom-client creates it at its first use)
    const delta = (key: string, value: number) => {
      cur.set(key, value);
      const before = this.#prev.get(key) ?? (first ? undefined : 0);
      return before === undefined ? null : Math.max(0, value - before);
    };
    const collections = new Set<string>();
    for (const vs of [queries.values, latency.values, swaps.values, compactions.values, recall.values])
      for (const v of vs) if (typeof v.labels.collection === 'string') collections.add(v.labels.collection);

    const q = byCollection(queries.values);
    const lat = byCollection(latency.values, 'strata_query_duration_seconds_bucket');
    const sw = byCollection(swaps.values);
    const co = byCollection(compactions.values);
    const dSum = byCollection(durations.values, 'strata_compaction_duration_seconds_sum');
    const dCount = byCollection(durations.values, 'strata_compaction_duration_seconds_count');
    const rc = byCollection(recall.values);
    const point: SeriesPoint = { t: now, collections: {} };
    const seconds = this.#points.length ? (now - this.#points.at(-1)!.t) / 1000 : this.everyMs / 1000;
    for (const c of [...collections].sort()) {
      const dq = delta(`q\n${c}`, sum(q.get(c)));
      const buckets: Array<[number, number]> = [];
      const perBound = new Map<number, number>();
      for (const v of lat.get(c) ?? []) {
        const le = v.labels.le;
        const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
        perBound.set(bound, (perBound.get(bound) ?? 0) + v.value);
      }
      for (const [bound, cum] of perBound) {
        const d = delta(`l\n${c}\n${bound}`, cum);
        if (d !== null) buckets.push([bound, d]);
      }
      const dsw = delta(`s\n${c}`, sum(sw.get(c)));
      const dco = delta(`c\n${c}`, sum(co.get(c)));
      const ds = delta(`ds\n${c}`, sum(dSum.get(c)));
      const dc = delta(`dc\n${c}`, sum(dCount.get(c)));
      const r = rc.get(c)?.[0]?.value;
      const p: Point = {
        qps: dq === null ? 0 : dq / Math.max(seconds, 1e-3),
        p50: quantileOf(buckets, 0.5),
        p95: quantileOf(buckets, 0.95),
        p99: quantileOf(buckets, 0.99),
        swaps: dsw ?? 0,
        compactions: dco ?? 0,
        compactionSeconds: dc ? (ds ?? 0) / dc : null,
        recall: typeof r === 'number' ? r : null,
      };
      point.collections[c] = p;
    }
    this.#prev = cur;
    if (first) return; // the baseline reading is not a point: it has no interval
    this.#points.push(point);
    if (this.#points.length > this.capacity) this.#points.splice(0, this.#points.length - this.capacity);
  }
}
