/**
 * Server-sent events from /strata/v1/events, read with fetch (EventSource cannot send the token header).
 * Reconnects with a growing delay; listeners get each parsed event.
 */
import type { ConsoleEvent } from '../../src/server/console/wire.js';
import { authHeaders, onTokenChange } from './api.js';

type Listener = (e: ConsoleEvent) => void;
type StatusListener = (connected: boolean) => void;

const listeners = new Set<Listener>();
const statusListeners = new Set<StatusListener>();
let controller: AbortController | undefined;
let connected = false;
let started = false;
let retryMs = 1_000;
let retryTimer: ReturnType<typeof setTimeout> | undefined;

function setConnected(v: boolean): void {
  if (connected === v) return;
  connected = v;
  for (const l of statusListeners) l(v);
}

function dispatch(block: string): void {
  const data = block
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).trimStart())
    .join('\n');
  if (!data) return;
  let e: ConsoleEvent;
  try {
    e = JSON.parse(data) as ConsoleEvent;
  } catch {
    return;
  }
  for (const l of listeners) l(e);
}

async function connect(): Promise<void> {
  controller?.abort();
  const c = new AbortController();
  controller = c;
  try {
    const res = await fetch('/strata/v1/events', {
      headers: { accept: 'text/event-stream', ...authHeaders() },
      credentials: 'omit',
      cache: 'no-store',
      signal: c.signal,
    });
    if (!res.ok || !res.body) throw new Error(`events: HTTP ${res.status}`);
    setConnected(true);
    retryMs = 1_000;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        dispatch(buf.slice(0, i));
        buf = buf.slice(i + 2);
      }
    }
  } catch {
    /* aborted or dropped: reconnect below */
  }
  if (controller !== c) return;
  setConnected(false);
  retryTimer = setTimeout(() => void connect(), retryMs);
  retryMs = Math.min(retryMs * 2, 15_000);
}

function ensureStarted(): void {
  if (started) return;
  started = true;
  void connect();
  onTokenChange(() => {
    if (retryTimer) clearTimeout(retryTimer);
    retryMs = 1_000;
    void connect();
  });
}

export function subscribe(l: Listener): () => void {
  ensureStarted();
  listeners.add(l);
  return () => listeners.delete(l);
}

export function onLiveStatus(l: StatusListener): () => void {
  ensureStarted();
  statusListeners.add(l);
  l(connected);
  return () => statusListeners.delete(l);
}
