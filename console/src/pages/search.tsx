import { useState } from 'preact/hooks';
import type { Overview, SearchResponse } from '../../../src/server/console/wire.js';
import { ApiError, api, enc } from '../api.js';
import { ErrorNotice, JsonText } from '../components.js';
import { duration, pct } from '../format.js';
import { useApi } from '../hooks.js';
import { href, navigate } from '../router.js';

function parseJson(text: string, what: string): Record<string, unknown> | undefined {
  if (!text.trim()) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, 'E_BAD_JSON', `${what} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ApiError(400, 'E_BAD_JSON', `${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

export function SearchPage({ collection }: { collection: string | undefined }) {
  const o = useApi<Overview>('/strata/v1/overview');
  const [mode, setMode] = useState<'id' | 'vector'>('id');
  const [id, setId] = useState('');
  const [vector, setVector] = useState('');
  const [k, setK] = useState('10');
  const [where, setWhere] = useState('');
  const [whereDoc, setWhereDoc] = useState('');
  const [result, setResult] = useState<SearchResponse | undefined>();
  const [error, setError] = useState<Error | undefined>();
  const [busy, setBusy] = useState(false);
  const names = (o.data?.collections ?? []).filter((c) => c.state === 'ready').map((c) => c.collection);
  const current = collection ?? names[0];
  const run = async (checkRecall: boolean) => {
    if (!current) return;
    setBusy(true);
    setError(undefined);
    try {
      const body = {
        ...(mode === 'id' ? { id } : { vector: JSON.parse(vector || 'null') as unknown }),
        k: Number(k),
        where: parseJson(where, 'where'),
        where_document: parseJson(whereDoc, 'where_document'),
        checkRecall,
      };
      setResult(
        await api<SearchResponse>(`/strata/v1/collections/${enc(current)}/search`, { method: 'POST', body }),
      );
    } catch (e) {
      setResult(undefined);
      setError(e instanceof Error ? e : new Error(String(e)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <h1>Search playground</h1>
      <ErrorNotice error={o.error} />
      <form
        class="search-form"
        aria-label="Query"
        onSubmit={(e) => {
          e.preventDefault();
          void run(false);
        }}
      >
        <div class="field">
          <label for="s-collection">Collection</label>
          <select
            id="s-collection"
            value={current ?? ''}
            onChange={(e) => navigate(href(['search'], { c: (e.target as HTMLSelectElement).value }))}
          >
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </div>
        <fieldset class="field">
          <legend>Query by</legend>
          <label class="check">
            <input type="radio" name="mode" checked={mode === 'id'} onChange={() => setMode('id')} /> a
            record's id
          </label>
          <label class="check">
            <input type="radio" name="mode" checked={mode === 'vector'} onChange={() => setMode('vector')} />{' '}
            a pasted vector
          </label>
        </fieldset>
        {mode === 'id' ? (
          <div class="field">
            <label for="s-id">Id</label>
            <input id="s-id" value={id} onInput={(e) => setId((e.target as HTMLInputElement).value)} />
          </div>
        ) : (
          <div class="field">
            <label for="s-vector">Vector (JSON array)</label>
            <textarea
              id="s-vector"
              rows={3}
              value={vector}
              onInput={(e) => setVector((e.target as HTMLTextAreaElement).value)}
            />
          </div>
        )}
        <div class="field">
          <label for="s-k">k</label>
          <input
            id="s-k"
            type="number"
            min={1}
            max={1000}
            value={k}
            onInput={(e) => setK((e.target as HTMLInputElement).value)}
          />
        </div>
        <div class="field">
          <label for="s-where">where (JSON)</label>
          <textarea
            id="s-where"
            rows={2}
            placeholder='{"category": "fuel"}'
            value={where}
            onInput={(e) => setWhere((e.target as HTMLTextAreaElement).value)}
          />
        </div>
        <div class="field">
          <label for="s-where-doc">where_document (JSON)</label>
          <textarea
            id="s-where-doc"
            rows={2}
            placeholder='{"$contains": "receipt"}'
            value={whereDoc}
            onInput={(e) => setWhereDoc((e.target as HTMLTextAreaElement).value)}
          />
        </div>
        <div class="actions">
          <button type="submit" class="btn btn-primary" disabled={busy || !current}>
            Search
          </button>
          <button type="button" class="btn" disabled={busy || !current} onClick={() => void run(true)}>
            Check recall
          </button>
        </div>
      </form>
      <ErrorNotice error={error} />
      {result ? (
        <section class="panel" aria-labelledby="h-results">
          <h2 id="h-results">Results</h2>
          <p class="muted" role="status" data-field="search-summary">
            {result.results.length} results from{' '}
            {result.version === null ? 'no snapshot' : `v${result.version}`}, plan {result.strategy ?? '–'},{' '}
            {duration(result.ms)}
            {result.recall !== undefined
              ? `; recall@${result.k} against exact search: ${pct(result.recall)} (exact took ${duration(result.exact?.ms)})`
              : ''}
          </p>
          <div class="table-wrap">
            <table class="grid" aria-label="Results">
              <thead>
                <tr>
                  <th scope="col" class="num">
                    #
                  </th>
                  <th scope="col">Id</th>
                  <th scope="col" class="num">
                    Distance
                  </th>
                  <th scope="col">Document</th>
                  <th scope="col">Metadata</th>
                  {result.exact ? <th scope="col">In exact top-k</th> : null}
                </tr>
              </thead>
              <tbody>
                {result.results.map((h, i) => (
                  <tr key={h.id} data-id={h.id}>
                    <td class="num">{i + 1}</td>
                    <th scope="row" class="id">
                      {h.id}
                    </th>
                    <td class="num">{h.distance.toFixed(6)}</td>
                    <td class="doc">{h.document ?? <span class="muted">none</span>}</td>
                    <td>
                      <JsonText value={h.metadata} />
                    </td>
                    {result.exact ? <td>{result.exact.ids.includes(h.id) ? 'yes' : 'no'}</td> : null}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      ) : null}
    </>
  );
}
