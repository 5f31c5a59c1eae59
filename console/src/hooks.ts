import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { ConsoleEvent } from '../../src/server/console/wire.js';
import { type ApiError, api, onTokenChange } from './api.js';
import { subscribe } from './live.js';

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | Error | undefined;
  loading: boolean;
  reload: () => void;
}

/**
 * GETs a JSON endpoint; reloads when the path or the token changes, or when reload() is called. A newer
 * load supersedes an older one (its answer is ignored; requests are not aborted, so none fails).
 */
export function useApi<T>(path: string | null): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiError | Error; loading: boolean }>({
    loading: true,
  });
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  const inflight = useRef(false);
  const again = useRef(false);
  const lastPath = useRef(path);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => onTokenChange(reload), [reload]);
  useEffect(
    () => () => {
      seq.current++;
    },
    [],
  );
  useEffect(() => {
    if (path === null) return;
    if (lastPath.current !== path) {
      lastPath.current = path;
      seq.current++; // an answer for the previous path is no longer wanted
    }
    // one request at a time per view: a reload asked meanwhile runs once the current one answers
    if (inflight.current) {
      again.current = true;
      return;
    }
    const mine = ++seq.current;
    inflight.current = true;
    setState((s) => ({ ...s, loading: true }));
    const done = () => {
      inflight.current = false;
      if (again.current) {
        again.current = false;
        reload();
      }
    };
    api<T>(path).then(
      (data) => {
        if (mine === seq.current) setState({ data, loading: false });
        done();
      },
      (error: unknown) => {
        if (mine === seq.current)
          setState((s) => ({
            data: s.data,
            error: error instanceof Error ? error : new Error(String(error)),
            loading: false,
          }));
        done();
      },
    );
  }, [path, tick]);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/** Calls `fn` for live events that pass `filter`, at most once per `everyMs` (trailing call kept). */
export function useLive(filter: (e: ConsoleEvent) => boolean, fn: () => void, everyMs = 1_000): void {
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const filterRef = useRef(filter);
  filterRef.current = filter;
  useEffect(() => {
    let last = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const fire = () => {
      timer = undefined;
      last = Date.now();
      fnRef.current();
    };
    const off = subscribe((e) => {
      if (!filterRef.current(e)) return;
      if (timer) return;
      const wait = Math.max(0, last + everyMs - Date.now());
      timer = setTimeout(fire, wait);
    });
    return () => {
      off();
      if (timer) clearTimeout(timer);
    };
  }, [everyMs]);
}

/** Re-renders every `ms` (relative times, lease countdowns). */
export function useNow(ms = 1_000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** Calls `fn` every `ms` while mounted. */
export function useEvery(fn: () => void, ms: number): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    const t = setInterval(() => ref.current(), ms);
    return () => clearInterval(t);
  }, [ms]);
}
