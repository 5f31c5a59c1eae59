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
import type { ObjectStore } from '../store/index.js';
import { TokenAuth } from './auth.js';
import { Catalog } from './catalog.js';
import { registerChromaApi } from './chroma-api.js';
import { BackgroundCompactor } from './compactor.js';
import type { ServerContext } from './context.js';
import { DeltaWriter, type DeltaWriterOptions } from './delta-writer.js';
import { toHttpError } from './http-errors.js';
import { ServerMetrics } from './metrics.js';
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
        log?.debug({ collection, seqStart: d.seqStart, count: d.count }, 'delta accepted');
      },
    });
    const compactor = new BackgroundCompactor(o.store, o.compactExecutor, {
      everyMs: o.compactEveryMs,
      leaseTtlMs: o.leaseTtlMs,
      onReport: (r) => {
        metrics.compactions.inc({ collection: r.collection, status: r.status });
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
        if (r.published.length > 0) void snapshots.refresh(collection).catch(() => undefined);
      },
      onError: (collection, e) => {
        metrics.compactions.inc({ collection, status: 'failed' });
        log?.error({ collection, code: e.code, err: e.message }, 'compaction failed');
      },
    });
    const ctx: ServerContext = {
      store: o.store,
      catalog: new Catalog(o.store),
      snapshots,
      tails,
      writer,
      auth: new TokenAuth(o.token, o.authReads ?? false),
      metrics,
      compactor,
      limits: { maxBatchSize: o.maxBatchSize ?? 5_000, maxResults: o.maxResults ?? 10_000 },
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
    registerChromaApi(app, ctx);
    registerStrataApi(app, ctx);

    await ctx.catalog.reload();
    const address = await app.listen({ host: o.host ?? '127.0.0.1', port: o.port ?? 8000 });
    const port = (app.server.address() as { port: number }).port;
    // Pointer watch: a cheap read of each served collection's pointer; a moved one is swapped in.
    const timer = setInterval(() => {
      void snapshots.refreshAll();
    }, o.refreshMs ?? 1_000);
    timer.unref();
    compactor.start();
    log?.info({ url: address, store: o.store.url, writes: ctx.auth.writesEnabled }, 'strata serve listening');
    return new StrataServer(app, ctx, address, port, timer);
  }

  /** Stops accepting requests, lets in-flight ones finish, flushes writes, stops compaction, closes snapshots. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#timer);
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
