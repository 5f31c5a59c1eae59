import type { CollectionDetail, SegmentView } from '../../../src/server/console/wire.js';
import { api, enc } from '../api.js';
import {
  ActionButton,
  compactNow,
  ErrorNotice,
  JsonText,
  Loading,
  Section,
  StatusBadge,
} from '../components.js';
import { ago, bytes, duration, num, pct, time } from '../format.js';
import { useApi, useLive, useNow } from '../hooks.js';
import { href } from '../router.js';

function segmentsOf(d: CollectionDetail): Array<SegmentView & { label: string }> {
  if (d.segments) return d.segments.map((s) => ({ ...s, label: s.segment.slice(0, 12) }));
  if (!d.current) return [];
  // A server that answers without the list (older): the version as one segment.
  return [
    {
      segment: d.current.snapshot,
      label: 'single segment',
      rows: d.current.records,
      superseded: 0,
      bytes: d.current.bytes,
      indexed: d.current.indexed,
    },
  ];
}

export function CollectionPage({ name }: { name: string }) {
  const c = useApi<CollectionDetail>(`/strata/v1/collections/${enc(name)}`);
  const now = useNow(1_000);
  useLive((e) => (e.type === 'ledger' || e.type === 'swap') && e.collection === name, c.reload, 1_000);
  useLive((e) => e.type === 'run' && e.run.collection === name, c.reload, 1_000);
  if (!c.data) return c.error ? <ErrorNotice error={c.error} /> : <Loading what={`collection ${name}`} />;
  const d = c.data;
  const segs = segmentsOf(d);
  return (
    <>
      <h1>
        Collection <span class="name">{d.collection}</span>
      </h1>
      <ErrorNotice error={c.error} />
      <nav class="subnav" aria-label="Collection pages">
        <a href={href(['c', d.collection, 'deltas'])}>Deltas</a>
        <a href={href(['runs'], { c: d.collection })}>Runs</a>
        <a href={href(['search'], { c: d.collection })}>Search</a>
      </nav>
      <dl class="facts">
        <dt>Current version</dt>
        <dd data-field="version">{d.current ? `v${d.current.version}` : 'none'}</dd>
        <dt>Records</dt>
        <dd data-field="records">{num(d.current?.records ?? 0)}</dd>
        <dt>Served</dt>
        <dd>
          {d.served
            ? `v${d.served.version} (${num(d.served.records)} records, opened in ${duration(d.served.openMs)})`
            : 'not loaded'}
        </dd>
        <dt>Unpublished writes</dt>
        <dd data-field="tail">
          {d.tail
            ? d.tail.records
              ? `${num(d.tail.records)} records in ${num(d.tail.deltas)} deltas (${bytes(d.tail.bytes)}), oldest ${duration(d.tail.ageMs)} old — answered by reads already`
              : 'none'
            : 'read-your-writes off: reads see published versions only'}
        </dd>
        <dt>Shape</dt>
        <dd>
          {d.config
            ? `${d.config.dimension}-d ${d.config.metric}, ${d.config.quantization} index (M=${d.config.connectivity})`
            : 'no data yet'}
        </dd>
        <dt>Ledger</dt>
        <dd data-field="ledger">
          {num(d.ledger.pending)} pending, {num(d.ledger.compacting)} compacting, {num(d.ledger.promoted)}{' '}
          promoted, {num(d.ledger.quarantined)} quarantined
          {d.ledger['rolled-back'] ? `, ${num(d.ledger['rolled-back'])} rolled back` : ''}
        </dd>
        <dt>Freshness lag</dt>
        <dd>{d.ledger.pending ? duration(d.freshnessLagMs) : 'up to date'}</dd>
        <dt>Lease</dt>
        <dd>
          {d.lease?.live ? (
            <span>
              held by <code>{d.lease.owner}</code> (token {d.lease.token}), expires{' '}
              {ago(d.lease.expiresAt, now)}
            </span>
          ) : (
            'free'
          )}
        </dd>
        <dt>Recall@k (live sample)</dt>
        <dd>
          {d.recall?.recall !== null && d.recall?.recall !== undefined
            ? `${pct(d.recall.recall)} over ${d.recall.window} samples${d.recall.alert ? ` — below the ${pct(d.recall.threshold)} threshold` : ''}`
            : 'no samples'}
        </dd>
        <dt>Chroma</dt>
        <dd>
          {d.chroma.tenant}/{d.chroma.database}/{d.chroma.name}{' '}
          <span class="muted small">({d.chroma.id})</span>
        </dd>
      </dl>
      {d.writesEnabled && d.config ? (
        <div class="actions">
          <ActionButton label="Compact now" run={() => compactNow(d.collection)} onDone={c.reload} />
          <ActionButton
            label="Collect garbage"
            confirm="Delete versions, segments and run intermediates nothing reaches any more (older than the 10 min grace period)?"
            run={() => api('/strata/v1/gc', { method: 'POST', body: { collection: d.collection } })}
            onDone={c.reload}
          />
        </div>
      ) : null}

      <Section title="Version history">
        <div class="table-wrap">
          <table class="grid" aria-label="Version history">
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Published</th>
                <th scope="col">Run</th>
                <th scope="col" class="num">
                  Records
                </th>
                <th scope="col">What changed</th>
                <th scope="col" class="num">
                  Size
                </th>
                <th scope="col">Build</th>
                <th scope="col">Rollback</th>
              </tr>
            </thead>
            <tbody>
              {d.versions.map((v) => (
                <tr key={v.version} data-version={v.version}>
                  <th scope="row">
                    v{v.version}{' '}
                    {v.current ? (
                      <StatusBadge status="current" />
                    ) : v.retained ? (
                      <StatusBadge status="retained" />
                    ) : null}
                  </th>
                  <td>{time(v.publishedAt)}</td>
                  <td>{v.run ? <a href={href(['runs', v.run], { c: d.collection })}>{v.run}</a> : '–'}</td>
                  <td class="num">{num(v.records)}</td>
                  <td>{v.promotedDeltas === null ? '–' : `${num(v.promotedDeltas)} deltas promoted`}</td>
                  <td class="num">{bytes(v.bytes)}</td>
                  <td>{v.build ?? '–'}</td>
                  <td>
                    {v.retained && !v.current && d.writesEnabled ? (
                      <ActionButton
                        label={`Roll back to v${v.version}`}
                        danger
                        confirm={`Make the records of v${v.version} current again? They are published as a new version. Deltas that landed after v${v.version} are marked rolled back: no later compaction re-applies them (ingest them again to restore them). Pending deltas apply on top as usual.`}
                        describe={(r) => {
                          const x = r as { version: number; to: number; rolledBackDeltas: number };
                          return `Rolled back to the records of v${x.to}, published as v${x.version} (${num(x.rolledBackDeltas)} deltas rolled back)`;
                        }}
                        run={() =>
                          api(`/strata/v1/collections/${enc(d.collection)}/rollback`, {
                            method: 'POST',
                            body: { toVersion: v.version },
                          })
                        }
                        onDone={c.reload}
                      />
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {d.versions.length === 0 ? <p class="muted">No version published yet.</p> : null}
      </Section>

      <Section title="Segments of the current version">
        <div class="table-wrap">
          <table class="grid" aria-label="Segments of the current version">
            <thead>
              <tr>
                <th scope="col">Segment</th>
                <th scope="col" class="num">
                  Rows
                </th>
                <th scope="col" class="num">
                  Superseded
                </th>
                <th scope="col" class="num">
                  Bytes
                </th>
                <th scope="col">Search</th>
              </tr>
            </thead>
            <tbody>
              {segs.map((s) => (
                <tr key={s.segment}>
                  <th scope="row" data-segment={s.segment} title={s.segment}>
                    <code>{s.label}</code>
                  </th>
                  <td class="num">{num(s.rows)}</td>
                  <td class="num">{s.rows ? pct(s.superseded / s.rows) : '–'}</td>
                  <td class="num">{bytes(s.bytes)}</td>
                  <td>{s.indexed ? 'indexed (HNSW)' : 'exact'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {segs.length === 0 ? <p class="muted">No version yet.</p> : null}
        {segs.length > 0 ? (
          <p class="muted" data-field="pending-merges">
            {d.pendingMerges
              ? `${num(d.pendingMerges)} merge${d.pendingMerges === 1 ? '' : 's'} the merge policy asks for (run after the next compaction, in the background, or by strata optimize)`
              : 'No merge pending.'}
          </p>
        ) : null}
      </Section>

      <Section title="Chroma metadata">
        <JsonText value={d.chroma.metadata} />
      </Section>
    </>
  );
}
