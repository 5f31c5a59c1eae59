import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { ApiError, api, getToken, onTokenChange, setToken } from './api.js';
import { onLiveStatus } from './live.js';

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge badge-${status.replace(/[^a-z-]/g, '')}`}>{status}</span>;
}

/** An error from the server, as text; a 401/403 asks for the token. */
export function ErrorNotice({ error }: { error: Error | undefined }) {
  if (!error) return null;
  const needsToken = error instanceof ApiError && error.needsToken;
  return (
    <div class="notice notice-error" role="alert">
      <strong>{error instanceof ApiError ? error.code : 'Error'}</strong>: {error.message}
      {needsToken ? (
        <p>This server needs the operator token: set it with the Token button at the top.</p>
      ) : null}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" aria-live="polite">
      Loading {what}…
    </p>
  );
}

/** The operator token: kept in this tab's sessionStorage and sent as a header, never a cookie. */
export function TokenControl() {
  const [open, setOpen] = useState(false);
  const [has, setHas] = useState(getToken() !== '');
  const [value, setValue] = useState('');
  useEffect(() => onTokenChange(() => setHas(getToken() !== '')), []);
  return (
    <div class="token">
      <button type="button" class="btn" aria-expanded={open} onClick={() => setOpen(!open)}>
        Token{has ? ' ✓' : ''}
      </button>
      {open ? (
        <form
          class="token-form"
          onSubmit={(e) => {
            e.preventDefault();
            setToken(value.trim());
            setValue('');
            setOpen(false);
          }}
        >
          <label for="token-input">Operator token</label>
          <input
            id="token-input"
            type="password"
            autocomplete="off"
            value={value}
            onInput={(e) => setValue((e.target as HTMLInputElement).value)}
          />
          <button type="submit" class="btn btn-primary">
            Save for this tab
          </button>
          {has ? (
            <button
              type="button"
              class="btn"
              onClick={() => {
                setToken('');
                setOpen(false);
              }}
            >
              Forget
            </button>
          ) : null}
        </form>
      ) : null}
    </div>
  );
}

export function LiveIndicator() {
  const [live, setLive] = useState(false);
  useEffect(() => onLiveStatus(setLive), []);
  return (
    <span class={live ? 'live live-on' : 'live'} role="status">
      {live ? 'live' : 'offline'}
    </span>
  );
}

/** A tiny line chart as SVG (no canvas, no library): one per table row on the overview. */
export function Sparkline({
  values,
  label,
  format,
}: {
  values: Array<number | null>;
  label: string;
  format: (v: number) => string;
}) {
  const w = 96;
  const h = 24;
  const xs = values.map((v) => (v === null || !Number.isFinite(v) ? null : v));
  const finite = xs.filter((v): v is number => v !== null);
  const last = finite.at(-1);
  const max = Math.max(...finite, 0);
  const min = Math.min(...finite, 0);
  const span = max - min || 1;
  const pts: string[] = [];
  xs.forEach((v, i) => {
    if (v === null) return;
    const x = xs.length <= 1 ? w : (i / (xs.length - 1)) * w;
    const y = h - 2 - ((v - min) / span) * (h - 4);
    pts.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  });
  const text = `${label}: ${last === undefined ? 'no data' : format(last)}`;
  return (
    <span class="spark">
      <svg width={w} height={h} viewBox={`0 0 ${w} ${h}`} role="img" aria-label={text}>
        <title>{text}</title>
        {pts.length > 1 ? <polyline points={pts.join(' ')} class="spark-line" /> : null}
      </svg>
      <span class="spark-value">{last === undefined ? '–' : format(last)}</span>
    </span>
  );
}

export interface ChartSeries {
  label: string;
  values: Array<number | null>;
  /** A CSS colour (the chart's canvas is drawn by uPlot). */
  stroke: string;
  dash?: number[];
}

/** A time-series chart (uPlot, canvas); the figure has a text label for assistive technology. */
export function Chart({
  title,
  times,
  series,
  unit,
  height = 180,
}: {
  title: string;
  times: number[];
  series: ChartSeries[];
  unit: string;
  height?: number;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = series.map((s) => `${s.label}/${s.stroke}`).join('|');
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(320, el.clientWidth || 600),
      height,
      legend: { show: true },
      scales: { x: { time: true } },
      axes: [{}, { label: unit, size: 60 }],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.stroke,
          width: 2,
          ...(s.dash ? { dash: s.dash } : {}),
          spanGaps: true,
        })),
      ],
    };
    plot.current = new uPlot(opts, [[], ...series.map(() => [])] as uPlot.AlignedData, el);
    const ro = new ResizeObserver(() =>
      plot.current?.setSize({ width: Math.max(320, el.clientWidth), height }),
    );
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [shape, height, unit]);
  useEffect(() => {
    plot.current?.setData([times.map((t) => t / 1000), ...series.map((s) => s.values)] as uPlot.AlignedData);
  });
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={ref} role="img" aria-label={`${title} (${unit}), ${times.length} points`} />
    </figure>
  );
}

/** A two-step action: the button asks, a confirm panel (in the page, not a browser dialog) does. */
export function ActionButton({
  label,
  confirm,
  run,
  onDone,
  danger,
  describe,
}: {
  label: string;
  confirm?: ComponentChildren;
  run: () => Promise<unknown>;
  onDone?: (result: unknown) => void;
  danger?: boolean;
  /** What the action did, from its answer (default: "<label>: done"). */
  describe?: (result: unknown) => string;
}) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | undefined>();
  const [done, setDone] = useState<string | undefined>();
  const go = async () => {
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    try {
      const r = await run();
      setDone(describe ? describe(r) : `${label}: done`);
      onDone?.(r);
    } catch (e) {
      setError(e instanceof Error ? e : new Error(String(e)));
    } finally {
      setBusy(false);
      setAsking(false);
    }
  };
  return (
    <span class="action">
      {asking ? (
        <fieldset class="confirm">
          <legend class="confirm-text">{confirm}</legend>
          <button
            type="button"
            class={danger ? 'btn btn-danger' : 'btn btn-primary'}
            disabled={busy}
            onClick={() => void go()}
          >
            {busy ? 'Working…' : `Yes, ${label.toLowerCase()}`}
          </button>
          <button type="button" class="btn" disabled={busy} onClick={() => setAsking(false)}>
            Cancel
          </button>
        </fieldset>
      ) : (
        <button
          type="button"
          class={danger ? 'btn btn-danger' : 'btn'}
          disabled={busy}
          onClick={() => (confirm ? setAsking(true) : void go())}
        >
          {busy ? 'Working…' : label}
        </button>
      )}
      {done && !error ? (
        <span class="muted" role="status">
          {done}
        </span>
      ) : null}
      <ErrorNotice error={error} />
    </span>
  );
}

export const compactNow = (collection: string) =>
  api('/strata/v1/compact', { method: 'POST', body: { collection } });

export function Section({
  title,
  children,
  id,
}: {
  title: string;
  children: ComponentChildren;
  id?: string;
}) {
  const hid = id ?? `h-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return (
    <section class="panel" aria-labelledby={hid}>
      <h2 id={hid}>{title}</h2>
      {children}
    </section>
  );
}

/** A JSON value rendered as text (a <pre>), never as markup. */
export function JsonText({ value }: { value: unknown }) {
  if (value === null || value === undefined) return <span class="muted">none</span>;
  return <pre class="json">{JSON.stringify(value, null, 2)}</pre>;
}
