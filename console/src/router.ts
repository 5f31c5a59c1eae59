/** Hash routes: #/, #/c/NAME, #/c/NAME/deltas, #/runs, #/runs/ID?c=NAME, #/search, #/metrics. */
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  path: string[];
  query: URLSearchParams;
}

function parse(): Route {
  const h = location.hash.replace(/^#/, '') || '/';
  const [p = '/', q = ''] = h.split('?', 2);
  return {
    path: p
      .split('/')
      .filter(Boolean)
      .map((s) => {
        try {
          return decodeURIComponent(s);
        } catch {
          return s;
        }
      }),
    query: new URLSearchParams(q),
  };
}

export function useRoute(): Route {
  const [r, setR] = useState(parse);
  useEffect(() => {
    const on = () => setR(parse());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return r;
}

/** An href for a route: segments are URI-encoded, so any collection name or id stays one segment. */
export function href(path: Array<string | number>, query: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') q.set(k, v);
  const qs = q.toString();
  return `#/${path.map((s) => encodeURIComponent(String(s))).join('/')}${qs ? `?${qs}` : ''}`;
}

export function navigate(h: string): void {
  location.hash = h.replace(/^#/, '');
}
