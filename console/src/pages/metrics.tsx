import type { RecallReport, Series } from '../../../src/server/console/wire.js';
import { Chart, ErrorNotice, Loading, Section } from '../components.js';
import { num, pct } from '../format.js';
import { useApi, useEvery, useLive } from '../hooks.js';
import { href, navigate } from '../router.js';

const COLORS = ['#1f5fbf', '#b34700', '#2e7d32', '#7b1fa2', '#00796b', '#c2185b'];

export function MetricsPage({ collection }: { collection: string | undefined }) {
  const s = useApi<Series>('/strata/v1/series');
  const r = useApi<RecallReport>('/strata/v1/recall');
  useEvery(s.reload, s.data?.everyMs ?? 5_000);
  useLive((e) => e.type === 'recall', r.reload, 2_000);
  const points = s.data?.points ?? [];
  const all = [...new Set(points.flatMap((p) => Object.keys(p.collections)))].sort();
  const shown = collection ? [collection] : all.slice(0, COLORS.length);
  const times = points.map((p) => p.t);
  const col = (c: string, f: 'qps' | 'p50' | 'p95' | 'p99' | 'swaps' | 'compactionSeconds' | 'recall') =>
    points.map((p) => {
      const v = p.collections[c]?.[f];
      return v === undefined ? null : v;
    });
  const ms = (xs: Array<number | null>) => xs.map((v) => (v === null ? null : v * 1000));
  const recall = r.data;
  return (
    <>
      <h1>Metrics and recall watch</h1>
      <p class="lede">
        Sampled every {num((s.data?.everyMs ?? 0) / 1000)} s from the same registry as{' '}
        <a href="/metrics">/metrics</a>; the last {num(points.length)} samples.
      </p>
      <div class="field">
        <label for="m-collection">Collection</label>
        <select
          id="m-collection"
          value={collection ?? ''}
          onChange={(e) => navigate(href(['metrics'], { c: (e.target as HTMLSelectElement).value }))}
        >
          <option value="">all (first {COLORS.length})</option>
          {all.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
      </div>
      <ErrorNotice error={s.error} />
      {!s.data && !s.error ? <Loading what="metrics" /> : null}

      <Section title="Recall watch">
        <ErrorNotice error={r.error} />
        {recall ? (
          <>
            <p data-field="recall-config">
              {recall.sample > 0
                ? `Re-running ${pct(recall.sample, 2)} of live queries exactly; alert below ${pct(recall.threshold)}. Queue ${recall.queue.length}/${recall.queue.limit}, ${num(recall.queue.dropped)} dropped.`
                : 'Off: start the server with --recall-sample 0.01 to re-run 1 % of live queries exactly.'}
            </p>
            <div class="table-wrap">
              <table class="grid" aria-label="Recall by collection">
                <thead>
                  <tr>
                    <th scope="col">Collection</th>
                    <th scope="col" class="num">
                      Recall@k
                    </th>
                    <th scope="col" class="num">
                      k
                    </th>
                    <th scope="col" class="num">
                      Window
                    </th>
                    <th scope="col" class="num">
                      Samples
                    </th>
                    <th scope="col">State</th>
                  </tr>
                </thead>
                <tbody>
                  {Object.entries(recall.collections).map(([c, v]) => (
                    <tr key={c} data-collection={c} class={v.alert ? 'row-alert' : ''}>
                      <th scope="row">
                        <a href={href(['c', c])}>{c}</a>
                      </th>
                      <td class="num">{pct(v.recall, 2)}</td>
                      <td class="num">{num(v.k)}</td>
                      <td class="num">{num(v.window)}</td>
                      <td class="num">{num(v.samples)}</td>
                      <td data-field="recall-state">
                        {v.alert ? (
                          <span class="badge badge-failed">alert: below {pct(v.threshold)}</span>
                        ) : (
                          <span class="badge badge-succeeded">ok</span>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        ) : null}
        {shown.length ? (
          <Chart
            title="Recall@k (live sample)"
            unit="recall"
            times={times}
            series={[
              ...shown.map((c, i) => ({
                label: c,
                values: col(c, 'recall'),
                stroke: COLORS[i % COLORS.length]!,
              })),
              ...(recall
                ? [
                    {
                      label: 'alert threshold',
                      values: times.map(() => recall.threshold),
                      stroke: '#b00020',
                      dash: [6, 4],
                    },
                  ]
                : []),
            ]}
          />
        ) : null}
      </Section>

      {shown.length ? (
        <>
          <Section title="Queries">
            <Chart
              title="Query rate"
              unit="queries/s"
              times={times}
              series={shown.map((c, i) => ({
                label: c,
                values: col(c, 'qps'),
                stroke: COLORS[i % COLORS.length]!,
              }))}
            />
            {shown.map((c, i) => (
              <Chart
                key={c}
                title={`Latency percentiles: ${c}`}
                unit="ms"
                times={times}
                series={[
                  { label: 'p50', values: ms(col(c, 'p50')), stroke: COLORS[i % COLORS.length]! },
                  { label: 'p95', values: ms(col(c, 'p95')), stroke: '#555555', dash: [4, 3] },
                  { label: 'p99', values: ms(col(c, 'p99')), stroke: '#b00020', dash: [2, 2] },
                ]}
              />
            ))}
          </Section>
          <Section title="Snapshots and compaction">
            <Chart
              title="Snapshot swaps per sample"
              unit="swaps"
              times={times}
              series={shown.map((c, i) => ({
                label: c,
                values: col(c, 'swaps'),
                stroke: COLORS[i % COLORS.length]!,
              }))}
            />
            <Chart
              title="Compaction duration (runs of this server)"
              unit="seconds"
              times={times}
              series={shown.map((c, i) => ({
                label: c,
                values: col(c, 'compactionSeconds'),
                stroke: COLORS[i % COLORS.length]!,
              }))}
            />
          </Section>
        </>
      ) : s.data ? (
        <p class="muted">No traffic yet: charts appear once a collection is queried or compacted.</p>
      ) : null}
    </>
  );
}
