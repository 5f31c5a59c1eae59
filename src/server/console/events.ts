/**
 * Live updates for open Consoles: GET /strata/v1/events is a server-sent event stream (one JSON object per
 * `data:` line, see ConsoleEvent). Runs this server executes report their steps as they happen (the step
 * journal's listener); runs of other processes (`strata compact`, workers, another server) are found by a
 * poller that runs only while a Console is connected: one small read of each collection's lease per tick,
 * and while a lease is held, the run's record and its step journal (only changed objects are re-read).
 */
import type { ServerResponse } from 'node:http';
import { readJson } from '../../pipeline/json-object.js';
import { Keys } from '../../pipeline/layout.js';
import { readLease } from '../../pipeline/lease.js';
import type { RunRecord } from '../../pipeline/runs.js';
import { journalPrefix, type StepRecord } from '../../pipeline/step-journal.js';
import type { ObjectStore } from '../../store/index.js';
import type { ConsoleEvent, RunSummary, StepView } from './wire.js';

/** What the Console shows of a run record. */
export function runSummary(r: RunRecord): RunSummary {
  const mergedVersions = (r.merges ?? []).flatMap((m) => (m.version !== undefined ? [m.version] : []));
  const lastMerge = mergedVersions.length > 0 ? Math.max(...mergedVersions) : undefined;
  return {
    collection: r.collection,
    run: r.run,
    kind: r.kind ?? 'compact',
    status: r.status,
    startedAt: r.startedAt,
    ...(r.finishedAt ? { finishedAt: r.finishedAt } : {}),
    deltas: r.deltas.length,
    chunks: r.chunks,
    groups: r.groups,
    ...(r.groupsSucceeded !== undefined ? { groupsSucceeded: r.groupsSucceeded } : {}),
    ...(r.groupsFailed !== undefined ? { groupsFailed: r.groupsFailed } : {}),
    ...(r.quarantined ? { quarantined: r.quarantined.length } : {}),
    ...(r.snapshot
      ? { version: r.snapshot.version, records: r.snapshot.count, build: r.snapshot.build ?? 'full' }
      : lastMerge !== undefined
        ? { version: lastMerge, build: 'merge' }
        : {}),
    ...(r.merges
      ? {
          merges: {
            planned: r.merges.length,
            published: mergedVersions.length,
            dropped: r.merges.filter((m) => m.dropped).length,
            versions: mergedVersions,
          },
        }
      : {}),
    ...(r.timingsMs ? { timingsMs: r.timingsMs } : {}),
    ...(r.error ? { error: { code: r.error.code, message: r.error.message, context: r.error.context } } : {}),
  };
}

export function stepView(s: StepRecord): StepView {
  const { collection: _c, run: _r, ...rest } = s;
  return rest;
}

interface Client {
  res: ServerResponse;
}

interface Watched {
  run: string | undefined;
  seen: Map<string, string>;
}

export interface ConsoleEventsOptions {
  /** How often the poller looks for runs of other processes (default 2 s). */
  pollMs?: number;
  /** The collections to watch. */
  collections: () => string[];
  /** Largest backlog a slow client may have before it is dropped (default 1 MiB). */
  maxBacklogBytes?: number;
  onClients?: (n: number) => void;
}

export class ConsoleEvents {
  readonly #store: ObjectStore;
  readonly #opts: ConsoleEventsOptions;
  readonly #clients = new Set<Client>();
  /** Runs this process executes (their events come from the journal listener, not the poller). */
  readonly #local = new Set<string>();
  readonly #watched = new Map<string, Watched>();
  #timer: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #polling = false;
  #closed = false;

  constructor(store: ObjectStore, opts: ConsoleEventsOptions) {
    this.#store = store;
    this.#opts = opts;
  }

  get clients(): number {
    return this.#clients.size;
  }

  markLocal(run: string, running: boolean): void {
    if (running) this.#local.add(run);
    else this.#local.delete(run);
  }

  publish(e: ConsoleEvent): void {
    if (this.#clients.size === 0) return;
    const line = `data: ${JSON.stringify(e)}\n\n`;
    for (const c of this.#clients) this.#write(c, line);
  }

  #write(c: Client, text: string): void {
    if (c.res.writableLength > (this.#opts.maxBacklogBytes ?? 1 << 20)) {
      c.res.destroy();
      return;
    }
    c.res.write(text);
  }

  /** Takes over an HTTP response as an event stream until the client goes away or the server closes. */
  attach(res: ServerResponse, headers: Record<string, string>): void {
    if (this.#closed) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    res.flushHeaders();
    const c: Client = { res };
    this.#clients.add(c);
    this.#opts.onClients?.(this.#clients.size);
    res.on('close', () => {
      this.#clients.delete(c);
      this.#opts.onClients?.(this.#clients.size);
      if (this.#clients.size === 0) this.#stopTimers();
    });
    res.write(`retry: 2000\ndata: ${JSON.stringify({ type: 'hello', at: Date.now() })}\n\n`);
    this.#startTimers();
  }

  #startTimers(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.poll(), this.#opts.pollMs ?? 2_000);
    this.#timer.unref();
    this.#heartbeat = setInterval(() => {
      for (const c of this.#clients) this.#write(c, ': keep-alive\n\n');
    }, 15_000);
    this.#heartbeat.unref();
  }

  #stopTimers(): void {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#timer = undefined;
    this.#heartbeat = undefined;
  }

  /** One pass of the poller over every collection (ticks never overlap). */
  async poll(): Promise<void> {
    if (this.#polling || this.#closed || this.#clients.size === 0) return;
    this.#polling = true;
    try {
      const cs = this.#opts.collections();
      const width = 8;
      for (let i = 0; i < cs.length; i += width)
        await Promise.all(cs.slice(i, i + width).map((c) => this.#pollCollection(c).catch(() => undefined)));
    } finally {
      this.#polling = false;
    }
  }

  async #pollCollection(collection: string): Promise<void> {
    const lease = await readLease(this.#store, collection);
    const live = lease !== undefined && !lease.released && lease.expiresAt > Date.now();
    let w = this.#watched.get(collection);
    if (!live && !w) return;
    if (!w) {
      w = { run: undefined, seen: new Map() };
      this.#watched.set(collection, w);
    }
    if (w.run === undefined && live) {
      const keys = (await this.#store.list(Keys.runsPrefix(collection)))
        .filter((o) => o.key.endsWith('/run.json'))
        .map((o) => o.key)
        .sort()
        .reverse()
        .slice(0, 3);
      for (const k of keys) {
        const r = (await readJson<RunRecord>(this.#store, k))?.value;
        if (r && r.status === 'running' && r.owner === lease.owner && r.token === lease.token) {
          w.run = r.run;
          if (!this.#local.has(r.run)) this.publish({ type: 'run', run: runSummary(r) });
          break;
        }
      }
    }
    const run = w.run;
    if (run !== undefined && !this.#local.has(run)) await this.#pollJournal(collection, run, w);
    if (!live) {
      this.#watched.delete(collection);
      if (run !== undefined && !this.#local.has(run)) {
        const r = (await readJson<RunRecord>(this.#store, Keys.runRecord(collection, run)))?.value;
        if (r) this.publish({ type: 'run', run: runSummary(r) });
        this.publish({ type: 'ledger', collection });
      }
    }
  }

  async #pollJournal(collection: string, run: string, w: Watched): Promise<void> {
    for (const o of await this.#store.list(journalPrefix(collection, run))) {
      const stamp = `${o.size}/${o.lastModified?.getTime() ?? ''}`;
      if (w.seen.get(o.key) === stamp) continue;
      const got = await readJson<StepRecord>(this.#store, o.key);
      if (!got) continue;
      w.seen.set(o.key, stamp);
      this.publish({ type: 'step', collection, run, step: stepView(got.value) });
    }
  }

  /** Ends every stream (before the HTTP server closes: it waits for open connections). */
  close(): void {
    this.#closed = true;
    this.#stopTimers();
    for (const c of this.#clients) c.res.end();
    this.#clients.clear();
  }
}
