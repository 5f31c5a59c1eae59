/**
 * Talking to the server: same-origin fetches of /strata/v1/…, with the operator's token (when one was
 * given) in the Authorization header. The token lives in sessionStorage (this tab only, gone when it
 * closes); there are no cookies, so no other site can make this browser act on the server.
 */
const TOKEN_KEY = 'strata-console-token';

export function getToken(): string {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function setToken(t: string): void {
  try {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled: the token is not kept */
  }
  for (const l of tokenListeners) l();
}

const tokenListeners = new Set<() => void>();
export function onTokenChange(l: () => void): () => void {
  tokenListeners.add(l);
  return () => tokenListeners.delete(l);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
  get needsToken(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

export function authHeaders(): Record<string, string> {
  const t = getToken();
  return t ? { authorization: `Bearer ${t}` } : {};
}

export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; signal?: AbortSignal } = {},
): Promise<T> {
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    headers: {
      accept: 'application/json',
      ...authHeaders(),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    credentials: 'omit',
    cache: 'no-store',
    signal: init.signal,
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const e = (json ?? {}) as { code?: string; message?: string };
    throw new ApiError(res.status, e.code ?? `HTTP_${res.status}`, e.message ?? (text || res.statusText));
  }
  return json as T;
}

export const enc = encodeURIComponent;
