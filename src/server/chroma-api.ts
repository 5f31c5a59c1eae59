/**
 * Chroma's HTTP API v2, the part apps use, so the official chromadb client works unchanged:
 * system endpoints, tenants/databases (implicit: every valid name exists), collections (create with
 * get_or_create, get by name or id, list, count, delete) and per collection add, upsert, update, delete,
 * get, query and count.
 *
 * Reads answer from the current snapshot (header x-strata-snapshot-version). Writes become deltas that are
 * visible to reads only after the next compaction publishes them (header x-strata-visibility:
 * after-compaction): Strata ingests, then compacts; it is not a transactional database.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCodes, InvalidInputError, UsageError } from '../core/errors.js';
import type { Operation } from '../core/types.js';
import type { DeltaDescriptor } from '../pipeline/deltas.js';
import { normalizeFilter } from '../query/index.js';
import { type CatalogEntry, DEFAULT_DATABASE, DEFAULT_TENANT, uuidFrom, validateTenant } from './catalog.js';
import {
  asBody,
  firstDimension,
  parseCount,
  parseIds,
  parseInclude,
  parseObject,
  parseQueryEmbeddings,
  parseRecordSet,
  updateOps,
  upsertOps,
} from './chroma-codec.js';
import type { ServerContext } from './context.js';
import { planLabel, queryRows, rowsPayload, selectRows } from './read-ops.js';
import { offerRecallSamples } from './recall-adapter.js';

/** The Chroma server version this API corresponds to. */
export const CHROMA_API_VERSION = '1.0.0';

type DbParams = { tenant: string; database: string };
type CollParams = DbParams & { collection: string };
type Req<P> = FastifyRequest<{ Params: P; Body: unknown; Querystring: Record<string, string | undefined> }>;

function collectionJson(ctx: ServerContext, e: CatalogEntry): Record<string, unknown> {
  const snap = ctx.snapshots.current(e.strata);
  return {
    id: e.chroma.id,
    name: e.chroma.name,
    configuration_json: e.chroma.configuration,
    metadata: e.chroma.metadata,
    dimension: e.config?.dimension ?? null,
    tenant: e.chroma.tenant,
    database: e.chroma.database,
    log_position: 0,
    version: snap?.version ?? 0,
  };
}

function dbParams(p: DbParams): DbParams {
  return { tenant: validateTenant(p.tenant), database: validateTenant(p.database, 'database') };
}

function pageOf<T>(items: T[], q: Record<string, string | undefined>): T[] {
  const num = (v: string | undefined, field: string) => {
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`${field} must be a non-negative integer`);
    return n;
  };
  const offset = num(q.offset, 'offset') ?? 0;
  const limit = num(q.limit, 'limit');
  return items.slice(offset, limit === undefined ? undefined : offset + limit);
}

function pendingHeaders(reply: FastifyReply, d: DeltaDescriptor | undefined, immediate: boolean): void {
  reply.header('x-strata-visibility', immediate ? 'immediate' : 'after-compaction');
  if (d) reply.header('x-strata-delta', `${d.seqStart}-${d.seqEnd}`);
}

export function registerChromaApi(app: FastifyInstance, ctx: ServerContext): void {
  const read = (req: FastifyRequest) => ctx.auth.check(req.headers, 'read');
  const write = (req: FastifyRequest) => ctx.auth.check(req.headers, 'write');
  const { maxBatchSize } = ctx.limits;

  // --- system ------------------------------------------------------------------------------------------
  app.get('/api/v2/heartbeat', async () => ({ 'nanosecond heartbeat': Date.now() * 1e6 }));
  app.get('/api/v2/version', async (_req, reply) =>
    reply.type('application/json').send(JSON.stringify(CHROMA_API_VERSION)),
  );
  app.get('/api/v2/pre-flight-checks', async () => ({
    max_batch_size: maxBatchSize,
    supports_base64_encoding: true,
  }));
  app.get('/api/v2/healthcheck', async () => ({ is_executor_ready: true, is_log_client_ready: true }));
  app.get('/api/v2/auth/identity', async (req) => {
    read(req);
    return { user_id: '', tenant: DEFAULT_TENANT, databases: [DEFAULT_DATABASE] };
  });

  // --- tenants and databases: implicit ------------------------------------------------------------------
  app.post('/api/v2/tenants', async (req) => {
    write(req);
    validateTenant(String(asBody(req.body).name ?? ''));
    return {};
  });
  app.get<{ Params: { tenant: string } }>('/api/v2/tenants/:tenant', async (req) => {
    read(req);
    return { name: validateTenant(req.params.tenant) };
  });
  app.get<{ Params: { tenant: string } }>('/api/v2/tenants/:tenant/databases', async (req) => {
    read(req);
    const tenant = validateTenant(req.params.tenant);
    await ctx.catalog.reload();
    const names = new Set(
      ctx.catalog
        .entries()
        .filter((e) => e.chroma.tenant === tenant)
        .map((e) => e.chroma.database),
    );
    names.add(DEFAULT_DATABASE);
    return [...names].sort().map((name) => ({ id: databaseId(tenant, name), name, tenant }));
  });
  app.post<{ Params: { tenant: string } }>('/api/v2/tenants/:tenant/databases', async (req) => {
    write(req);
    validateTenant(req.params.tenant);
    validateTenant(String(asBody(req.body).name ?? ''), 'database');
    return {};
  });
  app.get<{ Params: DbParams }>('/api/v2/tenants/:tenant/databases/:database', async (req) => {
    read(req);
    const { tenant, database } = dbParams(req.params);
    return { id: databaseId(tenant, database), name: database, tenant };
  });

  // --- collections ------------------------------------------------------------------------------------
  const base = '/api/v2/tenants/:tenant/databases/:database';
  app.get(`${base}/collections`, async (req: Req<DbParams>) => {
    read(req);
    const { tenant, database } = dbParams(req.params);
    await ctx.catalog.reload();
    return pageOf(ctx.catalog.list(tenant, database), req.query).map((e) => collectionJson(ctx, e));
  });
  app.get(`${base}/collections_count`, async (req: Req<DbParams>) => {
    read(req);
    const { tenant, database } = dbParams(req.params);
    await ctx.catalog.reload();
    return ctx.catalog.list(tenant, database).length;
  });
  app.post(`${base}/collections`, async (req: Req<DbParams>, reply) => {
    write(req);
    const { tenant, database } = dbParams(req.params);
    const body = asBody(req.body);
    if (typeof body.name !== 'string') throw new UsageError('name must be a string');
    const e = await ctx.catalog.create({
      tenant,
      database,
      name: body.name,
      metadata: parseObject(body.metadata, 'metadata'),
      configuration: parseObject(body.configuration, 'configuration') ?? {},
      getOrCreate: body.get_or_create === true,
    });
    return reply.code(200).send(collectionJson(ctx, e));
  });
  const getCollection = async (req: Req<CollParams>) => {
    read(req);
    const { tenant, database } = dbParams(req.params);
    return collectionJson(ctx, await ctx.catalog.resolve(tenant, database, req.params.collection));
  };
  app.get(`${base}/collections/:collection`, getCollection);
  app.get(`${base}/collections/by-id/:collection`, getCollection);
  app.put(`${base}/collections/:collection`, async (req: Req<CollParams>) => {
    write(req);
    throw new InvalidInputError(
      ErrorCodes.UNSUPPORTED,
      'renaming or modifying a collection is not supported by Strata',
    );
  });
  app.delete(`${base}/collections/:collection`, async (req: Req<CollParams>) => {
    write(req);
    const { tenant, database } = dbParams(req.params);
    const e = await ctx.catalog.resolve(tenant, database, req.params.collection);
    await ctx.catalog.delete(e);
    ctx.snapshots.drop(e.strata);
    return {};
  });

  // --- records ----------------------------------------------------------------------------------------
  const coll = `${base}/collections/:collection`;
  const entryOf = async (req: Req<CollParams>) => {
    const { tenant, database } = dbParams(req.params);
    return ctx.catalog.resolve(tenant, database, req.params.collection);
  };

  const submit = async (e: CatalogEntry, ops: Operation[], dimension: number) => {
    const config = await ctx.catalog.materialize(e, dimension);
    if (ctx.tails) {
      await ctx.snapshots.get(e.strata); // the version and the tail of unpublished writes, loaded once
      ctx.tails.admit(e.strata, ops);
    }
    const d = await ctx.writer.write(config, ops);
    ctx.metrics.writeOps.inc({ collection: e.strata }, ops.length);
    return d;
  };

  const upsertLike = (status: number) => async (req: Req<CollParams>, reply: FastifyReply) => {
    write(req);
    const e = await entryOf(req);
    const rs = parseRecordSet(asBody(req.body), maxBatchSize);
    const dimension = e.config?.dimension ?? firstDimension(rs);
    if (dimension === undefined) {
      throw new InvalidInputError(
        ErrorCodes.MISSING_EMBEDDING,
        'records need embeddings (Strata does not embed documents)',
      );
    }
    const d = await submit(e, upsertOps(rs, dimension), dimension);
    pendingHeaders(reply, d, ctx.tails !== undefined);
    return reply.code(status).send({});
  };
  app.post(`${coll}/add`, upsertLike(201));
  app.post(`${coll}/upsert`, upsertLike(200));

  app.post(`${coll}/update`, async (req: Req<CollParams>, reply) => {
    write(req);
    const e = await entryOf(req);
    const rs = parseRecordSet(asBody(req.body), maxBatchSize);
    const ops = updateOps(rs, e.config?.dimension ?? 1);
    // A collection that never had a write has no records to update.
    const d = e.config ? await submit(e, ops, e.config.dimension) : undefined;
    pendingHeaders(reply, d, ctx.tails !== undefined);
    return {};
  });

  app.post(`${coll}/delete`, async (req: Req<CollParams>, reply) => {
    write(req);
    const e = await entryOf(req);
    const body = asBody(req.body);
    const ids =
      body.ids === undefined || body.ids === null ? undefined : parseIds(body.ids, 'ids', maxBatchSize);
    const filter = normalizeFilter({ where: body.where, whereDocument: body.where_document, ids });
    const limit = parseCount(body.limit, 'limit', { min: 0, max: Number.MAX_SAFE_INTEGER });
    if (!ids && !filter.where && !filter.whereDocument) {
      throw new UsageError('delete needs ids, where or where_document');
    }
    let targets: string[];
    if (!filter.where && !filter.whereDocument) targets = ids ?? [];
    else {
      // A filtered delete removes the matching records of the current snapshot.
      const r = e.config ? await ctx.snapshots.acquireView(e.strata) : undefined;
      try {
        const view = r?.view;
        targets = view ? selectRows(view, filter).map((x) => view.id(x)) : [];
      } finally {
        r?.release();
      }
    }
    if (limit !== undefined) targets = targets.slice(0, limit);
    const ops: Operation[] = targets.map((id) => ({ op: 'delete', id }));
    const d = e.config && ops.length > 0 ? await submit(e, ops, e.config.dimension) : undefined;
    pendingHeaders(reply, d, ctx.tails !== undefined);
    return { deleted: ops.length };
  });

  app.get(`${coll}/count`, async (req: Req<CollParams>, reply) => {
    read(req);
    const e = await entryOf(req);
    const r = e.config ? await ctx.snapshots.acquireView(e.strata) : undefined;
    try {
      if (r?.version != null) reply.header('x-strata-snapshot-version', String(r.version));
      return r?.view?.count ?? 0;
    } finally {
      r?.release();
    }
  });

  app.post(`${coll}/get`, async (req: Req<CollParams>, reply) => {
    read(req);
    const e = await entryOf(req);
    const body = asBody(req.body);
    const include = parseInclude(body.include, ['documents', 'metadatas'], false);
    const ids = body.ids === undefined || body.ids === null ? undefined : parseIds(body.ids);
    const filter = normalizeFilter({ where: body.where, whereDocument: body.where_document, ids });
    const limit = parseCount(body.limit, 'limit', { min: 0, max: Number.MAX_SAFE_INTEGER });
    const offset = parseCount(body.offset, 'offset', { min: 0, max: Number.MAX_SAFE_INTEGER }) ?? 0;
    const r = e.config ? await ctx.snapshots.acquireView(e.strata) : undefined;
    try {
      const view = r?.view;
      if (!view) return { ...emptyRows(include), include };
      if (r.version !== null) reply.header('x-strata-snapshot-version', String(r.version));
      const rows = selectRows(view, filter).slice(offset, limit === undefined ? undefined : offset + limit);
      return { ...rowsPayload(view, rows, include), include };
    } finally {
      r?.release();
    }
  });

  app.post(`${coll}/query`, async (req: Req<CollParams>, reply) => {
    const t0 = performance.now();
    read(req);
    const e = await entryOf(req);
    const body = asBody(req.body);
    const include = parseInclude(body.include, ['metadatas', 'documents', 'distances'], true);
    const k = parseCount(body.n_results, 'n_results', { min: 1, max: ctx.limits.maxResults }) ?? 10;
    const queries = parseQueryEmbeddings(body.query_embeddings, e.config?.dimension, maxBatchSize);
    const ids = body.ids === undefined || body.ids === null ? undefined : parseIds(body.ids);
    const filter = normalizeFilter({ where: body.where, whereDocument: body.where_document, ids });
    const r = e.config ? await ctx.snapshots.acquireView(e.strata) : undefined;
    try {
      const view = r?.view;
      if (!view) {
        const none = queries.map(() => [] as never[]);
        return {
          ids: none,
          distances: include.includes('distances') ? none : null,
          documents: include.includes('documents') ? none : null,
          metadatas: include.includes('metadatas') ? none : null,
          embeddings: include.includes('embeddings') ? none : null,
          uris: include.includes('uris') ? none : null,
          include,
        };
      }
      if (r.version !== null) reply.header('x-strata-snapshot-version', String(r.version));
      const answer = queryRows(view, queries, k, filter);
      if (ctx.recall.wants())
        offerRecallSamples(ctx.recall, e.strata, view, r.retain, queries, k, filter, answer);
      const per = answer.refs.map((rows) => rowsPayload(view, rows, include));
      for (const s of answer.strategies)
        ctx.metrics.queries.inc({ collection: e.strata, plan: planLabel(s) });
      ctx.metrics.queryLatency.observe({ collection: e.strata }, (performance.now() - t0) / 1000);
      return {
        ids: per.map((p) => p.ids),
        distances: include.includes('distances') ? answer.distances : null,
        documents: include.includes('documents') ? per.map((p) => p.documents) : null,
        metadatas: include.includes('metadatas') ? per.map((p) => p.metadatas) : null,
        embeddings: include.includes('embeddings') ? per.map((p) => p.embeddings) : null,
        uris: include.includes('uris') ? per.map((p) => p.uris) : null,
        include,
      };
    } finally {
      r?.release();
    }
  });
}

function emptyRows(include: readonly string[]) {
  const f = (name: string) => (include.includes(name) ? [] : null);
  return {
    ids: [],
    documents: f('documents'),
    metadatas: f('metadatas'),
    embeddings: f('embeddings'),
    uris: f('uris'),
  };
}

/** Databases are implicit; their ids are derived from the names (Chroma clients only display them). */
const databaseId = (tenant: string, name: string) => uuidFrom(`strata-database\n${tenant}\n${name}`);
