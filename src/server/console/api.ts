/**
 * The Console's JSON endpoints under /strata/v1/ (reads follow --auth-reads; actions need the token in a
 * header — Authorization: Bearer or x-chroma-token — never a cookie, so a page elsewhere cannot act):
 *
 *   GET  /strata/v1/overview                       every collection at a glance
 *   GET  /strata/v1/collections/:name              version history, current segment(s), ledger, lease, recall
 *   GET  /strata/v1/collections/:name/deltas       the ledger: ?state=a,b&from=SEQ&to=SEQ&offset=&limit=
 *   POST /strata/v1/collections/:name/search       playground: {id | vector, k, where, where_document, checkRecall}
 *   POST /strata/v1/collections/:name/rollback     {toVersion} (write)
 *   GET  /strata/v1/runs?collection=&limit=        runs, newest first
 *   GET  /strata/v1/runs/:id/timeline              a run with its steps (step journal)
 *   GET  /strata/v1/series                         metric history (ring buffer) for the charts
 *   GET  /strata/v1/recall                         recall watch state
 *   GET  /strata/v1/events                         server-sent events (runs, steps, swaps, recall)
 *   POST /strata/v1/gc                             {collection?, dryRun?, graceMs?} (write)
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ErrorCodes, NotFoundError, StrataError, UsageError } from '../../core/errors.js';
import { validateEmbedding } from '../../core/validate.js';
import { type GcReport, gcCollection } from '../../pipeline/gc.js';
import { rollbackCollection } from '../../pipeline/rollback.js';
import { normalizeFilter } from '../../query/index.js';
import { asBody } from '../chroma-codec.js';
import type { ServerContext } from '../context.js';
import { queryRows, rowsPayload } from '../read-ops.js';
import { exactQuery } from '../recall-adapter.js';
import { recallAtK } from '../recall-watch.js';
import { SECURITY_HEADERS } from './static.js';
import { buildCollection, buildDeltas, buildRunDetail, buildRuns, entryOf } from './views.js';
import type { RecallReport, SearchResponse } from './wire.js';

type NameReq = FastifyRequest<{ Params: { name: string }; Querystring: Record<string, string | undefined> }>;

function parseVersion(v: unknown): number {
  const n = typeof v === 'string' ? Number(v.replace(/^v/i, '')) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1)
    throw new UsageError('toVersion must be a version number (e.g. 3 or "v3")');
  return n;
}

export function registerConsoleApi(app: FastifyInstance, ctx: ServerContext): void {
  const read = (req: FastifyRequest) => ctx.auth.check(req.headers, 'read');
  const write = (req: FastifyRequest) => ctx.auth.check(req.headers, 'write');
  const views = ctx.console.views;

  app.get('/strata/v1/overview', async (req) => {
    read(req);
    return views.overview(ctx);
  });

  app.get('/strata/v1/collections/:name', async (req: NameReq) => {
    read(req);
    return buildCollection(ctx, views, req.params.name);
  });

  app.get('/strata/v1/collections/:name/deltas', async (req: NameReq) => {
    read(req);
    return buildDeltas(ctx, views, req.params.name, req.query);
  });

  app.post('/strata/v1/collections/:name/search', async (req: NameReq, reply) => {
    read(req);
    const t0 = performance.now();
    const e = await entryOf(ctx, req.params.name);
    const body = asBody(req.body);
    const k = intParam(body.k, 'k', { min: 1, max: Math.min(1_000, ctx.limits.maxResults) }) ?? 10;
    const filter = normalizeFilter({ where: body.where, whereDocument: body.where_document });
    const hasId = body.id !== undefined && body.id !== null && body.id !== '';
    const hasVector = body.vector !== undefined && body.vector !== null;
    if (hasId === hasVector) throw new UsageError('give either an id or a vector to search with');
    const r = e.config ? await ctx.snapshots.acquireView(e.strata) : undefined;
    try {
      const empty: SearchResponse = {
        collection: e.strata,
        version: null,
        k,
        strategy: null,
        ms: 0,
        results: [],
      };
      const view = r?.view;
      if (!view || !e.config) return empty;
      if (r.version !== null) reply.header('x-strata-snapshot-version', String(r.version));
      let q: Float32Array;
      if (hasId) {
        if (typeof body.id !== 'string') throw new UsageError('id must be a string');
        const ref = view.rowOfId(body.id);
        if (!ref)
          throw new NotFoundError(`no record with id ${JSON.stringify(body.id)} in version ${r.version}`, {
            collection: e.strata,
          });
        q = Float32Array.from(rowsPayload(view, [ref], ['embeddings']).embeddings![0]!);
      } else q = validateEmbedding(body.vector, e.config.dimension, { collection: e.strata });
      const answer = queryRows(view, [q], k, filter);
      const refs = answer.refs[0] ?? [];
      const payload = rowsPayload(view, refs, ['documents', 'metadatas']);
      const ms = performance.now() - t0;
      const out: SearchResponse = {
        collection: e.strata,
        version: r.version,
        k,
        strategy: [...new Set(answer.strategies[0] ?? [])].join('+') || null,
        ms,
        results: payload.ids.map((id, i) => ({
          id,
          distance: answer.distances[0]![i]!,
          document: payload.documents?.[i] ?? null,
          metadata: payload.metadatas?.[i] ?? null,
        })),
      };
      if (body.checkRecall === true) {
        const t1 = performance.now();
        const exact = exactQuery(view, q, k, filter);
        out.exact = { ids: exact.ids, distances: exact.distances, ms: performance.now() - t1 };
        out.recall = recallAtK(payload.ids, exact.ids, k);
      }
      return out;
    } finally {
      r?.release();
    }
  });

  app.post('/strata/v1/collections/:name/rollback', async (req: NameReq) => {
    write(req);
    const e = await entryOf(ctx, req.params.name);
    if (!e.config)
      throw new StrataError(ErrorCodes.NOT_FOUND, `collection ${e.strata} has no snapshot yet`, {
        collection: e.strata,
      });
    const toVersion = parseVersion(asBody(req.body).toVersion);
    const ttl = ctx.console.leaseTtlMs;
    const result = await rollbackCollection(ctx.store, e.strata, {
      toVersion,
      ...(ttl ? { lease: { ttlMs: ttl } } : {}),
    });
    await ctx.snapshots.refresh(e.strata).catch(() => undefined);
    ctx.console.events.publish({ type: 'ledger', collection: e.strata });
    return result;
  });

  app.get(
    '/strata/v1/runs',
    async (req: FastifyRequest<{ Querystring: Record<string, string | undefined> }>) => {
      read(req);
      const limit =
        intParam(req.query.limit ? Number(req.query.limit) : undefined, 'limit', { min: 1, max: 500 }) ?? 50;
      return { runs: await buildRuns(ctx, views, req.query.collection || undefined, limit) };
    },
  );

  app.get(
    '/strata/v1/runs/:id/timeline',
    async (
      req: FastifyRequest<{ Params: { id: string }; Querystring: Record<string, string | undefined> }>,
    ) => {
      read(req);
      const r = await buildRunDetail(ctx, views, req.params.id, req.query.collection || undefined);
      if (!r) throw new NotFoundError(`no run ${req.params.id}`, { run: req.params.id });
      return r;
    },
  );

  app.get('/strata/v1/series', async (req) => {
    read(req);
    return ctx.console.series.snapshot();
  });

  app.get('/strata/v1/recall', async (req) => {
    read(req);
    const r: RecallReport = {
      sample: ctx.recall.sample,
      threshold: ctx.recall.threshold,
      queue: { length: ctx.recall.queued, limit: ctx.recall.queueLimit, dropped: ctx.recall.dropped },
      collections: ctx.recall.states(),
    };
    return r;
  });

  app.get('/strata/v1/events', async (req, reply) => {
    read(req);
    reply.hijack();
    ctx.console.events.attach(reply.raw, SECURITY_HEADERS);
  });

  app.post('/strata/v1/gc', async (req) => {
    write(req);
    const body = asBody(req.body);
    const graceMs = intParam(body.graceMs, 'graceMs', { min: 0, max: Number.MAX_SAFE_INTEGER });
    const names =
      typeof body.collection === 'string' && body.collection
        ? [(await entryOf(ctx, body.collection)).strata]
        : ctx.catalog
            .entries()
            .filter((e) => e.config)
            .map((e) => e.strata);
    const reports: GcReport[] = [];
    for (const c of names)
      reports.push(
        await gcCollection(ctx.store, c, {
          dryRun: body.dryRun === true,
          ...(graceMs !== undefined ? { graceMs } : {}),
        }),
      );
    return { dryRun: body.dryRun === true, reports };
  });
}

/** An optional integer parameter within [min, max] (400 otherwise). */
function intParam(v: unknown, field: string, range: { min: number; max: number }): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < range.min || v > range.max) {
    throw new UsageError(
      `${field} must be an integer from ${range.min} to ${range.max}, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}
