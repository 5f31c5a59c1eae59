import { useEffect, useState } from 'preact/hooks';
import type { Overview, RecallView, Series } from '../../../src/server/console/wire.js';
import { ActionButton, compactNow, ErrorNotice, Loading, Sparkline, StatusBadge } from '../components.js';
import { ago, duration, ms3, num, pct } from '../format.js';
import { useApi, useEvery, useLive, useNow } from '../hooks.js';
import { subscribe } from '../live.js';
import { href } from '../router.js';

function RecallCell({ r }: { r: RecallView | null }) {
  if (r?.recall === null || r?.recall === undefined) return <span class="muted">–</span>;
  return (
    <span class={r.alert ? 'alert-text' : ''}>
      {pct(r.recall)}
      {r.alert ? ' below threshold' : ''}
    </span>
  );
}

export function OverviewPage() {
  const o = useApi<Overview>('/strata/v1/overview');
  const s = useApi<Series>('/strata/v1/series');
  const now = useNow(1_000);
  // runs, swaps and new deltas change the rows; recall events update their cell in place (they can come
  // with every sampled query, and a reload reads every collection's ledger)
  useLive((e) => e.type === 'run' || e.type === 'swap' || e.type === 'ledger', o.reload, 2_000);
  useEvery(o.reload, 15_000);
  const [recall, setRecall] = useState<Record<string, RecallView>>({});
  useEffect(
    () =>
      subscribe((e) => {
        if (e.type === 'recall') setRecall((r) => ({ ...r, [e.collection]: e.recall }));
      }),
    [],
  );
  const series = s.data;
  const every = series?.everyMs ?? 5_000;
  // a fresh series point arrives every everyMs: follow it
  useEvery(s.reload, every);
  const spark = (c: string, f: 'qps' | 'p50') =>
    (series?.points ?? []).map((p) => p.collections[c]?.[f] ?? null);
  if (!o.data) return o.error ? <ErrorNotice error={o.error} /> : <Loading what="collections" />;
  const d = o.data;
  return (
    <>
      <h1>Overview</h1>
      <ErrorNotice error={o.error} />
      <p class="lede">
        Store <code>{d.store}</code>: {num(d.totals.collections)} collections, {num(d.totals.records)}{' '}
        records; deltas {num(d.totals.pending)} pending, {num(d.totals.compacting)} compacting,{' '}
        {num(d.totals.quarantined)} quarantined.{' '}
        {d.writesEnabled
          ? 'Actions need the operator token.'
          : 'Actions are disabled (the server has no token).'}
      </p>
      <div class="table-wrap">
        <table class="grid" aria-label="Collections">
          <thead>
            <tr>
              <th scope="col">Collection</th>
              <th scope="col">Version</th>
              <th scope="col" class="num">
                Records
              </th>
              <th scope="col" class="num">
                Segments
              </th>
              <th scope="col" class="num">
                Pending
              </th>
              <th scope="col" class="num">
                Compacting
              </th>
              <th scope="col" class="num">
                Quarantined
              </th>
              <th scope="col">Lease</th>
              <th scope="col">Last run</th>
              <th scope="col">Freshness lag</th>
              <th scope="col">Queries/s</th>
              <th scope="col">Latency p50</th>
              <th scope="col">Recall@k</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {d.collections.map((c) => (
              <tr key={c.collection} data-collection={c.collection}>
                <th scope="row">
                  <a href={href(['c', c.collection])}>{c.collection}</a>
                  {c.chroma.tenant !== 'default_tenant' || c.chroma.database !== 'default_database' ? (
                    <div class="muted small">
                      {c.chroma.tenant}/{c.chroma.database}/{c.chroma.name}
                    </div>
                  ) : null}
                </th>
                <td data-field="version">
                  {c.version === null ? <span class="muted">none</span> : `v${c.version}`}
                </td>
                <td class="num" data-field="records">
                  {num(c.records)}
                </td>
                <td class="num">{num(c.segments)}</td>
                <td class="num" data-field="pending">
                  {num(c.ledger.pending)}
                  {c.tail?.records ? (
                    <div class="muted small" title="acknowledged writes reads already see (read-your-writes)">
                      {num(c.tail.records)} records readable
                    </div>
                  ) : null}
                </td>
                <td class="num" data-field="compacting">
                  {num(c.ledger.compacting)}
                </td>
                <td class="num" data-field="quarantined">
                  {c.ledger.quarantined ? (
                    <a href={href(['c', c.collection, 'deltas'], { state: 'quarantined' })}>
                      {num(c.ledger.quarantined)}
                    </a>
                  ) : (
                    '0'
                  )}
                </td>
                <td>
                  {c.lease?.live ? (
                    <span>
                      held by <code>{c.lease.owner}</code>, expires {ago(c.lease.expiresAt, now)}
                    </span>
                  ) : (
                    <span class="muted">free</span>
                  )}
                </td>
                <td>
                  {c.lastRun ? (
                    <a href={href(['runs', c.lastRun.run], { c: c.collection })}>
                      <StatusBadge status={c.lastRun.status} />{' '}
                      {ago(c.lastRun.finishedAt ?? c.lastRun.startedAt, now)}
                    </a>
                  ) : (
                    <span class="muted">never</span>
                  )}
                </td>
                <td>
                  {c.ledger.pending ? (
                    duration(c.freshnessLagMs + (now - d.now))
                  ) : (
                    <span class="muted">up to date</span>
                  )}
                </td>
                <td>
                  <Sparkline
                    values={spark(c.collection, 'qps')}
                    label="queries per second"
                    format={(v) => v.toFixed(1)}
                  />
                </td>
                <td>
                  <Sparkline values={spark(c.collection, 'p50')} label="query latency p50" format={ms3} />
                </td>
                <td>
                  <RecallCell r={recall[c.collection] ?? c.recall} />
                </td>
                <td>
                  {c.state === 'ready' && d.writesEnabled ? (
                    <ActionButton
                      label="Compact now"
                      run={() => compactNow(c.collection)}
                      onDone={o.reload}
                    />
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {d.collections.length === 0 ? <p class="muted">No collections yet.</p> : null}
    </>
  );
}
