/** The Strata Console: a single page over /strata/v1/… (hash routes, Preact, uPlot). */
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { render } from 'preact';
import { LiveIndicator, TokenControl } from './components.js';
import { CollectionPage } from './pages/collection.js';
import { DeltasPage } from './pages/deltas.js';
import { MetricsPage } from './pages/metrics.js';
import { OverviewPage } from './pages/overview.js';
import { RunPage, RunsPage } from './pages/runs.js';
import { SearchPage } from './pages/search.js';
import { href, type Route, useRoute } from './router.js';

function Page({ route }: { route: Route }) {
  const [first, second, third] = route.path;
  const c = route.query.get('c') || undefined;
  if (first === 'c' && second && third === 'deltas') return <DeltasPage name={second} query={route.query} />;
  if (first === 'c' && second) return <CollectionPage name={second} />;
  if (first === 'runs' && second) return <RunPage id={second} collection={c} />;
  if (first === 'runs') return <RunsPage collection={c} />;
  if (first === 'search') return <SearchPage collection={c} />;
  if (first === 'metrics') return <MetricsPage collection={c} />;
  return <OverviewPage />;
}

const NAV: Array<[string, string, string]> = [
  ['Overview', href([]), ''],
  ['Runs', href(['runs']), 'runs'],
  ['Search', href(['search']), 'search'],
  ['Metrics', href(['metrics']), 'metrics'],
];

function App() {
  const route = useRoute();
  const top = route.path[0] === 'c' ? '' : (route.path[0] ?? '');
  const title =
    { runs: 'Runs', search: 'Search', metrics: 'Metrics' }[top] ??
    (route.path[0] === 'c' ? route.path[1] : 'Overview');
  document.title = `${title ?? 'Strata'} · Strata Console`;
  return (
    <>
      <header class="top">
        <a class="brand" href={href([])}>
          Strata Console
        </a>
        <nav aria-label="Main">
          {NAV.map(([label, h, key]) => (
            <a key={key} href={h} aria-current={key === top ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <div class="top-right">
          <LiveIndicator />
          <TokenControl />
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
