import { useState } from 'preact/hooks';
import type { DeltaPage, DeltaState } from '../../../src/server/console/wire.js';
import { enc } from '../api.js';
import { ErrorNotice, JsonText, Loading, StatusBadge } from '../components.js';
import { ago, bytes, num } from '../format.js';
import { useApi, useLive, useNow } from '../hooks.js';
import { href, navigate } from '../router.js';

const STATES: DeltaState[] = ['pending', 'compacting', 'promoted', 'quarantined'];
const PAGE = 100;

export function DeltasPage({ name, query }: { name: string; query: URLSearchParams }) {
  const state = query.get('state') ?? '';
  const from = query.get('from') ?? '';
  const to = query.get('to') ?? '';
  const offset = Number(query.get('offset') ?? '0') || 0;
  const qs = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  if (state) qs.set('state', state);
  if (from) qs.set('from', from);
  if (to) qs.set('to', to);
  const p = useApi<DeltaPage>(`/strata/v1/collections/${enc(name)}/deltas?${qs}`);
  const now = useNow(5_000);
  useLive((e) => (e.type === 'ledger' || e.type === 'swap') && e.collection === name, p.reload, 2_000);
  useLive((e) => e.type === 'run' && e.run.collection === name, p.reload, 2_000);
  const [fromIn, setFrom] = useState(from);
  const [toIn, setTo] = useState(to);
  const selected = new Set(state.split(',').filter(Boolean));
  const go = (next: Record<string, string | undefined>) =>
    navigate(href(['c', name, 'deltas'], { state, from, to, ...next }));
  const toggle = (s: string) => {
    const n = new Set(selected);
    if (n.has(s)) n.delete(s);
    else n.add(s);
    go({ state: [...n].join(','), offset: undefined });
  };
  const d = p.data;
  return (
    <>
      <h1>
        Deltas of <a href={href(['c', name])}>{name}</a>
      </h1>
      <form
        class="filters"
        aria-label="Filter deltas"
        onSubmit={(e) => {
          e.preventDefault();
          go({ from: fromIn.trim(), to: toIn.trim(), offset: undefined });
        }}
      >
        <fieldset>
          <legend>State</legend>
          {STATES.map((s) => (
            <label key={s} class="check">
              <input type="checkbox" checked={selected.has(s)} onChange={() => toggle(s)} /> {s}
              {d ? ` (${num(d.counts[s])})` : ''}
            </label>
          ))}
        </fieldset>
        <fieldset>
          <legend>Sequence range</legend>
          <label for="seq-from">from</label>
          <input
            id="seq-from"
            inputMode="numeric"
            size={10}
            value={fromIn}
            onInput={(e) => setFrom((e.target as HTMLInputElement).value)}
          />
          <label for="seq-to">to</label>
          <input
            id="seq-to"
            inputMode="numeric"
            size={10}
            value={toIn}
            onInput={(e) => setTo((e.target as HTMLInputElement).value)}
          />
          <button type="submit" class="btn">
            Apply
          </button>
        </fieldset>
      </form>
      <ErrorNotice error={p.error} />
      {!d && !p.error ? <Loading what="deltas" /> : null}
      {d ? (
        <>
          <p class="muted" role="status">
            {num(d.matching)} of {num(d.total)} deltas match
            {d.matching > PAGE
              ? `; showing ${num(offset + 1)}–${num(Math.min(offset + PAGE, d.matching))}`
              : ''}
            .
          </p>
          <div class="table-wrap">
            <table class="grid" aria-label="Deltas">
              <thead>
                <tr>
                  <th scope="col">Sequence</th>
                  <th scope="col">State</th>
                  <th scope="col" class="num">
                    Operations
                  </th>
                  <th scope="col">Accepted</th>
                  <th scope="col">Source</th>
                  <th scope="col" class="num">
                    Size
                  </th>
                  <th scope="col">Detail</th>
                </tr>
              </thead>
              <tbody>
                {d.deltas.map((x) => (
                  <tr key={x.seqStart} data-seq={x.seqStart} data-state={x.state}>
                    <th scope="row">
                      {x.seqStart}–{x.seqEnd}
                    </th>
                    <td>
                      <StatusBadge status={x.state} />
                    </td>
                    <td class="num">{num(x.count)}</td>
                    <td>{ago(x.acceptedAt, now)}</td>
                    <td>
                      {x.source ?? <span class="muted">–</span>}
                      <div class="muted small">{x.producer}</div>
                    </td>
                    <td class="num">{bytes(x.size)}</td>
                    <td>
                      {x.state === 'promoted' && x.version ? `in v${x.version}` : null}
                      {x.state === 'compacting' && x.run ? (
                        <a href={href(['runs', x.run], { c: name })}>in run {x.run}</a>
                      ) : null}
                      {x.quarantine ? (
                        <details>
                          <summary>
                            <code>{x.quarantine.code}</code> {x.quarantine.message}
                          </summary>
                          <dl class="facts small">
                            <dt>File</dt>
                            <dd>
                              <code>{x.quarantine.file ?? x.key}</code>
                            </dd>
                            {x.run ? (
                              <>
                                <dt>Run</dt>
                                <dd>
                                  <a href={href(['runs', x.run], { c: name })}>{x.run}</a>
                                  {x.quarantine.chunk !== undefined ? `, chunk ${x.quarantine.chunk}` : ''}
                                </dd>
                              </>
                            ) : null}
                            <dt>Context</dt>
                            <dd>
                              <JsonText value={x.quarantine.context} />
                            </dd>
                          </dl>
                        </details>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav class="pager" aria-label="Pages">
            <button
              type="button"
              class="btn"
              disabled={offset === 0}
              onClick={() => go({ offset: String(Math.max(0, offset - PAGE)) })}
            >
              Previous
            </button>
            <button
              type="button"
              class="btn"
              disabled={offset + PAGE >= d.matching}
              onClick={() => go({ offset: String(offset + PAGE) })}
            >
              Next
            </button>
          </nav>
        </>
      ) : null}
    </>
  );
}
