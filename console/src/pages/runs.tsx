import { useEffect, useState } from 'preact/hooks';
import type { ConsoleEvent, RunDetail, RunSummary, StepView } from '../../../src/server/console/wire.js';
import { enc } from '../api.js';
import { ErrorNotice, Loading, StatusBadge } from '../components.js';
import { ago, duration, num, time } from '../format.js';
import { useApi, useLive, useNow } from '../hooks.js';
import { subscribe } from '../live.js';
import { href } from '../router.js';

export function RunsPage({ collection }: { collection: string | undefined }) {
  const path = `/strata/v1/runs?limit=100${collection ? `&collection=${enc(collection)}` : ''}`;
  const r = useApi<{ runs: RunSummary[] }>(path);
  const [live, setLive] = useState<Map<string, RunSummary>>(new Map());
  const now = useNow(1_000);
  useEffect(
    () =>
      subscribe((e) => {
        if (e.type !== 'run' || (collection && e.run.collection !== collection)) return;
        setLive((m) => new Map(m).set(e.run.run, e.run));
      }),
    [collection],
  );
  useLive((e) => e.type === 'run', r.reload, 2_000);
  const runs = new Map<string, RunSummary>();
  for (const x of r.data?.runs ?? []) runs.set(x.run, x);
  for (const [id, x] of live) runs.set(id, { ...runs.get(id), ...x });
  const list = [...runs.values()].sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  return (
    <>
      <h1>Runs{collection ? <span class="name"> of {collection}</span> : null}</h1>
      <ErrorNotice error={r.error} />
      {!r.data && !r.error ? <Loading what="runs" /> : null}
      <div class="table-wrap">
        <table class="grid" aria-label="Compaction runs">
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Collection</th>
              <th scope="col">Status</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
              <th scope="col" class="num">
                Deltas
              </th>
              <th scope="col" class="num">
                Chunks
              </th>
              <th scope="col" class="num">
                Groups
              </th>
              <th scope="col">Version</th>
              <th scope="col">Error</th>
            </tr>
          </thead>
          <tbody>
            {list.map((x) => (
              <tr key={x.run} data-run={x.run}>
                <th scope="row">
                  <a href={href(['runs', x.run], { c: x.collection })}>{x.run}</a>
                </th>
                <td>
                  <a href={href(['c', x.collection])}>{x.collection}</a>
                </td>
                <td data-field="status">
                  <StatusBadge status={x.status} />
                </td>
                <td>{ago(x.startedAt, now)}</td>
                <td>{duration((x.finishedAt ? Date.parse(x.finishedAt) : now) - Date.parse(x.startedAt))}</td>
                <td class="num">{num(x.deltas)}</td>
                <td class="num">{num(x.chunks)}</td>
                <td class="num">
                  {x.groupsFailed ? `${num(x.groupsSucceeded)}/${num(x.groups)}` : num(x.groups)}
                </td>
                <td>{x.version ? `v${x.version} (${num(x.records)} records)` : '–'}</td>
                <td>{x.error ? <code>{x.error.code}</code> : null}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {r.data && list.length === 0 ? <p class="muted">No runs yet.</p> : null}
    </>
  );
}

function mergeStep(steps: StepView[], s: StepView): StepView[] {
  const i = steps.findIndex((x) => x.step === s.step);
  if (i < 0) return [...steps, s];
  const out = steps.slice();
  out[i] = s;
  return out;
}

const KIND_ORDER: Record<string, number> = { chunk: 0, group: 1, final: 2, publish: 3 };

export function RunPage({ id, collection }: { id: string; collection: string | undefined }) {
  const path = `/strata/v1/runs/${enc(id)}/timeline${collection ? `?collection=${enc(collection)}` : ''}`;
  const r = useApi<RunDetail>(path);
  const [steps, setSteps] = useState<StepView[]>([]);
  const [summary, setSummary] = useState<RunSummary | undefined>();
  // the clock only matters while the run is in progress (a finished run's 1,000 rows need no re-render)
  const now = useNow((summary?.status ?? r.data?.status) === 'running' ? 500 : 60_000);
  useEffect(() => {
    if (r.data) {
      setSteps(r.data.steps);
      setSummary(undefined);
    }
  }, [r.data]);
  useEffect(
    () =>
      subscribe((e: ConsoleEvent) => {
        if (e.type === 'step' && e.run === id) setSteps((s) => mergeStep(s, e.step));
        if (e.type === 'run' && e.run.run === id) setSummary(e.run);
      }),
    [id],
  );
  // the run's end: reload once for the final record (publish timing, failures)
  useLive((e) => e.type === 'run' && e.run.run === id && e.run.status !== 'running', r.reload, 500);
  if (!r.data) return r.error ? <ErrorNotice error={r.error} /> : <Loading what={`run ${id}`} />;
  const d = { ...r.data, ...(summary ?? {}) };
  const sorted = [...steps].sort(
    (a, b) =>
      (KIND_ORDER[a.kind] ?? 9) - (KIND_ORDER[b.kind] ?? 9) ||
      a.index - b.index ||
      a.step.localeCompare(b.step),
  );
  const t = (s: string | undefined) => (s ? Date.parse(s) : Number.NaN);
  const starts = sorted.map((s) => t(s.submittedAt)).filter(Number.isFinite);
  const t0 = Math.min(Date.parse(d.startedAt), ...starts);
  const ends = sorted.map((s) => (s.finishedAt ? t(s.finishedAt) : now));
  const t1 = Math.max(d.finishedAt ? Date.parse(d.finishedAt) : now, ...ends, t0 + 1);
  const span = t1 - t0;
  const x = (ms: number) => `${(((ms - t0) / span) * 100).toFixed(3)}%`;
  const w = (a: number, b: number) => `${Math.max(0.15, ((b - a) / span) * 100).toFixed(3)}%`;
  return (
    <>
      <h1>
        Run <span class="name">{d.run}</span>
      </h1>
      <p class="lede" data-field="run-status">
        <StatusBadge status={d.status} /> {d.collection}: {num(d.deltas)} deltas → {num(d.chunks)} chunks →{' '}
        {num(d.groups)} groups → final merge
        {d.version ? ` → v${d.version} (${num(d.records)} records, ${d.build} build)` : ''}; started{' '}
        {time(d.startedAt)},{' '}
        {d.finishedAt
          ? `took ${duration(Date.parse(d.finishedAt) - Date.parse(d.startedAt))}`
          : `running for ${duration(now - Date.parse(d.startedAt))}`}
        .
      </p>
      {d.error ? (
        <div class="notice notice-error" role="alert">
          <strong>{d.error.code}</strong>: {d.error.message}
        </div>
      ) : null}
      {!r.data.journal && steps.length > 0 ? (
        <p class="muted">This run has no step journal: its stages are shown from the run record's timings.</p>
      ) : null}
      <div class="gantt-wrap">
        <table class="gantt" aria-label={`Timeline of run ${d.run}`}>
          <thead>
            <tr>
              <th scope="col" class="gantt-label">
                Step
              </th>
              <th scope="col" class="gantt-track">
                0 … {duration(span)}
              </th>
              <th scope="col" class="gantt-dur">
                Duration
              </th>
            </tr>
          </thead>
          <tbody>
            {sorted.map((s) => {
              const sub = t(s.submittedAt);
              const start = s.startedAt ? t(s.startedAt) : sub;
              const end = s.finishedAt ? t(s.finishedAt) : now;
              return (
                <tr key={s.step} data-step={s.step} data-status={s.status}>
                  <th scope="row" class="gantt-label">
                    {s.step}
                  </th>
                  <td>
                    <div class="gantt-track">
                      {start > sub ? (
                        <span class="bar bar-queued" style={{ left: x(sub), width: w(sub, start) }} />
                      ) : null}
                      <span class={`bar bar-${s.status}`} style={{ left: x(start), width: w(start, end) }} />
                    </div>
                  </td>
                  <td class="gantt-dur num">
                    {s.status === 'running' ? 'running' : duration(s.ms ?? end - start)}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <p class="legend">
        <span class="bar-key bar-queued" /> queued <span class="bar-key bar-running" /> running{' '}
        <span class="bar-key bar-succeeded" /> succeeded <span class="bar-key bar-failed" /> failed
      </p>
      <div class="table-wrap">
        <table class="grid" aria-label="Steps">
          <thead>
            <tr>
              <th scope="col">Step</th>
              <th scope="col">Status</th>
              <th scope="col">Duration</th>
              <th scope="col">Queued</th>
              <th scope="col" class="num">
                Attempts
              </th>
              <th scope="col">Worker</th>
              <th scope="col" class="num">
                Inputs
              </th>
              <th scope="col" class="num">
                Records out
              </th>
              <th scope="col">Failure</th>
            </tr>
          </thead>
          <tbody>
            {sorted.map((s) => (
              <tr key={s.step}>
                <th scope="row">{s.step}</th>
                <td>
                  <StatusBadge status={s.status} />
                </td>
                <td>{s.status === 'running' ? 'running' : duration(s.ms)}</td>
                <td>{s.startedAt ? duration(t(s.startedAt) - t(s.submittedAt)) : '–'}</td>
                <td class="num">{num(s.attempts)}</td>
                <td>{s.worker ? <code>{s.worker}</code> : '–'}</td>
                <td class="num">{num(s.inputs)}</td>
                <td class="num">
                  {num(s.records)}
                  {s.rejected ? ` (${s.rejected} refused)` : ''}
                </td>
                <td>
                  {s.error ? (
                    <span>
                      <code>{s.error.code}</code> {s.error.message}
                    </span>
                  ) : null}
                  {s.retries?.map((e, i) => (
                    <div class="muted small" key={i}>
                      retried after <code>{e.code}</code> {e.message}
                    </div>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {d.failures.length ? (
        <>
          <h2>Failures</h2>
          <ul>
            {d.failures.map((f) => (
              <li key={f.step}>
                <code>{f.step}</code>: <code>{f.error.code}</code> {f.error.message}
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </>
  );
}
