/**
 * `strata serve`: a Fastify server that speaks Chroma's HTTP API v2 from the current snapshots, turns
 * writes into deltas, optionally compacts in the background, and hot-swaps snapshots as pointers move.
 * StrataServer owns everything it starts (HTTP listener, watcher timer, compactor, delta writer, opened
 * snapshots); close() stops them in dependency order. The store stays the caller's.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { StrataError, toStrataError } from '../core/errors.js';
import type { OpenOptions } from '../engine/index.js';
import type { ExecutorFactory } from '../pipeline/executor.js';
import { readRunRecord } from '../pipeline/runs.js';
import { StepJournal } from '../pipeline/step-journal.js';
import type { ObjectStore } from '../store/index.js';
import { TokenAuth } from './auth.js';
import { Catalog } from './catalog.js';
import { registerChromaApi } from './chroma-api.js';
import { BackgroundCompactor } from './compactor.js';
import { registerConsoleApi } from './console/api.js';
import { ConsoleEvents, runSummary, stepView } from './console/events.js';
import { MetricSeries } from './console/series.js';
import { registerConsoleStatic } from './console/static.js';
import { ViewCache } from './console/views.js';
import type { ServerContext } from './context.js';
import { DeltaWriter, type DeltaWriterOptions } from './delta-writer.js';
import { toHttpError } from './http-errors.js';
import { ServerMetrics } from './metrics.js';
import { RecallWatch } from './recall-watch.js';
import { SnapshotSet } from './snapshots.js';
import { registerStrataApi } from './strata-api.js';
import type { TailLimits } from './tail.js';
import { Tails } from './tails.js';

export interface ServeOptions {
  store: ObjectStore;
  /**
   * Opens the executor compactions run their steps on (on first use; closed with the server), e.g.
   * `() => openExecutor('local', { storeSpec })`. Without it the server does not compact.
   */
  compactExecutor?: ExecutorFactory;
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** Required for writes; for reads too with authReads. */
  token?: string;
  authReads?: boolean;
  /** Largest request body in bytes (default 128 MiB). */
  bodyLimit?: number;
  /** Records per add/upsert/update/delete request, as pre-flight reports it (default 5,000). */
  maxBatchSize?: number;
  /** Largest n_results (default 10,000). */
  maxResults?: number;
  /** How often to check the collections' pointers, in ms (default 1,000). */
  refreshMs?: number;
  /** Background compaction interval in ms (0 = off, the default). */
  compactEveryMs?: number;
  leaseTtlMs?: number;
  verify?: OpenOptions['verify'];
  vectorBudgetBytes?: number;
  writes?: Omit<DeltaWriterOptions, 'onDelta'>;
  /** Reads see this server's acknowledged writes at once (default true); false: only once published. */
  readYourWrites?: boolean;
  /** Bounds of the tail of unpublished writes (past them writes get 429 until compaction catches up). */
  tail?: Partial<TailLimits>;
  /** Also show other producers' deltas from the store, picked up on each refresh (default true). */
  followStore?: boolean;
  logger?: Logger;
  /** Recall watch: fraction of live queries re-run exactly in the background (0 = off, the default). */
  recallSample?: number;
  /** Recall watch: alert while a collection's recall@k is below this (default 0.95). */
  recallAlert?: number;
  /** How often the Console's metric history is sampled, in ms (default 5,000). */
  seriesEveryMs?: number;
  /** How often open Consoles are updated about runs of other processes, in ms (default: refreshMs). */
  eventsPollMs?: number;
  /** Where the built Console is (default: dist/console of this package). */
  consoleDir?: string;
}

export class StrataServer {
  readonly app: FastifyInstance;
  readonly ctx: ServerContext;
  readonly url: string;
  readonly port: number;
  readonly #timer: NodeJS.Timeout;
  #closing: Promise<void> | null = null;

  private constructor(
    app: FastifyInstance,
    ctx: ServerContext,
    url: string,
    port: number,
    timer: NodeJS.Timeout,
  ) {
    this.app = app;
    this.ctx = ctx;
    this.url = url;
    this.port = port;
    this.#timer = timer;
  }

  static async start(o: ServeOptions): Promise<StrataServer> {
    const log = o.logger;
    const metrics = new ServerMetrics();
    const tails =
      o.readYourWrites === false
        ? undefined
        : new Tails(o.store, {
            ...(o.tail ? { limits: o.tail } : {}),
            ...(o.followStore !== undefined ? { followStore: o.followStore } : {}),
            onQuarantined: (collection, seqStart, code) => {
              metrics.tailQuarantined.inc({ collection });
              log?.warn(
                { collection, delta: seqStart, code },
                'a delta this server acknowledged was quarantined by compaction; its writes are no longer visible',
              );
            },
          });
    // created first: the snapshot set, writer and compactor report to open Consoles through it
    const catalog = new Catalog(o.store);
    const events = new ConsoleEvents(o.store, {
      pollMs: o.eventsPollMs ?? Math.max(o.refreshMs ?? 1_000, 2_000),
      collections: () =>
        catalog
          .entries()
          .filter((e) => e.config)
          .map((e) => e.strata),
      onClients: (n) => metrics.eventClients.set(n),
    });
    const snapshots = new SnapshotSet(o.store, {
      ...(tails ? { tails } : {}),
      verify: o.verify ?? 'checksums',
      ...(o.vectorBudgetBytes !== undefined ? { vectorBudgetBytes: o.vectorBudgetBytes } : {}),
      onSwap: (e) => {
        metrics.swaps.inc({ collection: e.collection });
        metrics.swapOpen.set({ collection: e.collection }, e.openMs / 1000);
        const snap = snapshots.current(e.collection);
        if (snap) {
          metrics.snapshotVersion.set({ collection: e.collection }, snap.version);
          metrics.snapshotRecords.set({ collection: e.collection }, snap.view.count);
        } else {
          metrics.snapshotVersion.remove({ collection: e.collection });
          metrics.snapshotRecords.remove({ collection: e.collection });
        }
        events.publish({ type: 'swap', collection: e.collection, from: e.from, to: e.to });
        log?.info({ ...e, openMs: Math.round(e.openMs) }, 'snapshot swapped');
      },
      onError: (collection, e) => {
        metrics.openFailures.inc({ collection });
        log?.error(
          { collection, code: e.code, err: e.message },
          'snapshot refresh failed; still serving the previous one',
        );
      },
    });
    const writer = new DeltaWriter(o.store, {
      ...o.writes,
      onDelta: (collection, d, ops) => {
        tails?.acknowledge(collection, d, ops);
        metrics.deltas.inc({ collection });
        events.publish({ type: 'ledger', collection });
        log?.debug({ collection, seqStart: d.seqStart, count: d.count }, 'delta accepted');
      },
    });
    const journal = new StepJournal(o.store, {
      onStep: (st) =>
        events.publish({ type: 'step', collection: st.collection, run: st.run, step: stepView(st) }),
    });
    // every step of this server's compactions and merges is journaled (the Console's run timeline)
    const factory = o.compactExecutor;
    const executor = factory ? async () => journal.wrap(await factory()) : undefined;
    /** A run this server ran has ended: its record goes to open Consoles. */
    const runEnded = (collection: string, run: string | undefined) => {
      if (run === undefined) return;
      events.markLocal(run, false);
      void readRunRecord(o.store, collection, run)
        .then((r) => {
          if (r) events.publish({ type: 'run', run: runSummary(r) });
          events.publish({ type: 'ledger', collection });
        })
        .catch(() => undefined);
    };
    const compactor = new BackgroundCompactor(o.store, executor, {
      everyMs: o.compactEveryMs,
      leaseTtlMs: o.leaseTtlMs,
      onEvent: (collection, e) => {
        if (e.type !== 'planned') return;
        events.markLocal(e.run, true);
        events.publish({
          type: 'run',
          run: {
            collection,
            run: e.run,
            kind: 'compact',
            status: 'running',
            startedAt: new Date().toISOString(),
            deltas: e.deltas,
            chunks: e.chunks,
            groups: e.groups,
          },
        });
      },
      onReport: (r) => {
        metrics.compactions.inc({ collection: r.collection, status: r.status });
        if (r.status !== 'nothing-to-do')
          metrics.compactionDuration.observe(
            { collection: r.collection, status: r.status },
            (r.timingsMs.total ?? 0) / 1000,
          );
        runEnded(r.collection, r.run);
        log?.info(
          { collection: r.collection, run: r.run, status: r.status, version: r.snapshot?.version },
          'compaction',
        );
        if (r.status === 'published') void snapshots.refresh(r.collection).catch(() => undefined);
      },
      onMerge: (collection, r) => {
        log?.info(
          { collection, run: r.run, published: r.published.map((p) => p.version), dropped: r.dropped.length },
          'merge',
        );
        metrics.merges.inc({ collection, outcome: 'published' }, r.published.length);
        if (r.dropped.length > 0) metrics.merges.inc({ collection, outcome: 'dropped' }, r.dropped.length);
        runEnded(collection, r.run ?? undefined);
        if (r.published.length > 0) void snapshots.refresh(collection).catch(() => undefined);
      },
      onError: (collection, e) => {
        metrics.compactions.inc({ collection, status: 'failed' });
        runEnded(collection, typeof e.context.run === 'string' ? e.context.run : undefined);
        log?.error({ collection, code: e.code, err: e.message }, 'compaction failed');
      },
    });
    const recall = new RecallWatch({
      sample: o.recallSample ?? 0,
      alertBelow: o.recallAlert ?? 0.95,
      onUpdate: (collection, st) => {
        metrics.recallSamples.inc({ collection });
        if (st.recall !== null) metrics.recall.set({ collection }, st.recall);
        metrics.recallAlert.set({ collection }, st.alert ? 1 : 0);
        events.publish({ type: 'recall', collection, recall: st });
      },
      onDrop: () => metrics.recallDropped.inc(),
    });
    const series = new MetricSeries(metrics, { everyMs: o.seriesEveryMs });
    const ctx: ServerContext = {
      store: o.store,
      catalog,
      snapshots,
      tails,
      writer,
      auth: new TokenAuth(o.token, o.authReads ?? false),
      metrics,
      compactor,
      limits: { maxBatchSize: o.maxBatchSize ?? 5_000, maxResults: o.maxResults ?? 10_000 },
      recall,
      console: { events, series, views: new ViewCache(), journal, leaseTtlMs: o.leaseTtlMs },
    };

    const app = Fastify({
      logger: false,
      bodyLimit: o.bodyLimit ?? 128 << 20,
      routerOptions: { maxParamLength: 600 },
    });
    app.setErrorHandler((err, req, reply) => {
      const { status, body } = toHttpError(err);
      if (status === 429) {
        const after = err instanceof StrataError ? Number(err.context.retryAfterSeconds ?? 1) : 1;
        void reply.header('retry-after', String(Math.max(1, Math.ceil(after))));
      }
      if (status >= 500) log?.error({ url: req.url, err: toStrataError(err).describe() }, 'request failed');
      void reply.code(status).header('x-strata-error', body.code).send(body);
    });
    app.setNotFoundHandler((req, reply) => {
      void reply
        .code(404)
        .send({ error: 'NotFoundError', message: `no route ${req.method} ${req.url}`, code: 'E_NOT_FOUND' });
    });
    app.addHook('onResponse', async (req, reply) => {
      metrics.requests.inc({
        method: req.method,
        route: req.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      });
    });
    // open event streams end first: the HTTP server waits for open connections before it closes
    app.addHook('preClose', async () => events.close());
    registerChromaApi(app, ctx);
    registerStrataApi(app, ctx);
    registerConsoleApi(app, ctx);
    registerConsoleStatic(app, o.consoleDir);

    await ctx.catalog.reload();
    const address = await app.listen({ host: o.host ?? '127.0.0.1', port: o.port ?? 8000 });
    const port = (app.server.address() as { port: number }).port;
    // Pointer watch: a cheap read of each served collection's pointer; a moved one is swapped in.
    const timer = setInterval(() => {
      void snapshots.refreshAll();
    }, o.refreshMs ?? 1_000);
    timer.unref();
    compactor.start();
    series.start();
    // The Console's first overview reads every delta descriptor once; do it now, in the background, so
    // an operator opening the Console does not wait for it (later views read only what changed).
    void ctx.console.views.overview(ctx).catch(() => undefined);
    log?.info({ url: address, store: o.store.url, writes: ctx.auth.writesEnabled }, 'strata serve listening');
    return new StrataServer(app, ctx, address, port, timer);
  }

  /** Stops accepting requests, lets in-flight ones finish, flushes writes, stops compaction, closes snapshots. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#timer);
      this.ctx.console.series.stop();
      this.ctx.recall.close();
      await this.app.close();
      await this.ctx.writer.close();
      await this.ctx.compactor.close();
      await this.ctx.snapshots.close();
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
