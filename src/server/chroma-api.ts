/**
 * Chroma's HTTP API v2 as the official chromadb clients (3.0.14, 3.5.0) call it, answering as Chroma's
 * server 1.0 does — held to it by the differential test (test/chroma-diff) and listed endpoint by endpoint
 * in the README ("Chroma compatibility"): system endpoints, tenants and databases (created, listed,
 * deleted), collections (create with get_or_create, get by name or id, list, count, modify, delete) and per
 * collection add, upsert, update, delete, get, query and count.
 *
 * Writes follow Chroma's semantics (chroma-writes.ts: add keeps an existing record, upsert and update merge
 * metadata, update may change a vector, delete by filter) translated against the records as they are
 * (chroma-state.ts: the served version with the tail of acknowledged writes on top), and become deltas
 * admitted to that tail before they are acknowledged (x-strata-visibility: immediate; after-compaction when
 * the server runs without a tail). Reads answer from the same view (header x-strata-snapshot-version: the
 * version under the tail).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCodes, InvalidInputError, NotFoundError } from '../core/errors.js';
import type { CollectionConfig } from '../core/types.js';
import type { DeltaDescriptor } from '../pipeline/deltas.js';
import { normalizeFilter } from '../query/index.js';
import { type CatalogEntry, DEFAULT_DATABASE, DEFAULT_TENANT, validateTenant } from './catalog.js';
import {
  asBody,
  type Include,
  parseCount,
  parseIds,
  parseInclude,
  parseQueryEmbeddings,
  parseWriteShape,
  recordsJson,
  type WriteKind,
  writeRecords,
} from './chroma-codec.js';
import { collectionMetadata, validateNewTenantName } from './chroma-config.js';
import { checkChromaWhere, checkChromaWhereDocument } from './chroma-filters.js';
import { openRecordState } from './chroma-state.js';
import { type ChromaWrite, translateWrite } from './chroma-writes.js';
import type { ServerContext } from './context.js';
import { ChromaApiError } from './http-errors.js';
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
    return parseCount(Number(v), field);
  };
  const offset = num(q.offset, 'offset') ?? 0;
  const limit = num(q.limit, 'limit');
  return items.slice(offset, limit === undefined ? undefined : offset + limit);
}

function pendingHeaders(reply: FastifyReply, d: DeltaDescriptor | undefined, immediate: boolean): void {
  reply.header('x-strata-visibility', immediate ? 'immediate' : 'after-compaction');
  if (d) reply.header('x-strata-delta', `${d.seqStart}-${d.seqEnd}`);
}

/** A records answer; JSON written here only when an embedding holds a negative zero (recordsJson). */
function sendRecords(
  reply: FastifyReply,
  payload: Record<string, unknown>,
): FastifyReply | Record<string, unknown> {
  const json = recordsJson(payload);
  return json === undefined ? payload : reply.type('application/json').send(json);
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
  app.post('/api/v2/reset', async (req) => {
    write(req);
    throw new ChromaApiError(403, 'ChromaError', ErrorCodes.FORBIDDEN, 'Reset is disabled by config');
  });

  // --- tenants and databases ------------------------------------------------------------------------------
  app.post('/api/v2/tenants', async (req) => {
    write(req);
    const name = validateNewTenantName(asBody(req.body).name, 'name');
    await ctx.catalog.createTenant(validateTenant(name));
    return {};
  });
  app.get<{ Params: { tenant: string } }>('/api/v2/tenants/:tenant', async (req) => {
    read(req);
    const tenant = validateTenant(req.params.tenant);
    await ctx.catalog.reload();
    if (!ctx.catalog.tenantExists(tenant))
      throw new NotFoundError(`Tenant [${tenant}] not found`, { tenant });
    return { name: tenant, resource_name: null };
  });
  app.get<{ Params: { tenant: string }; Querystring: Record<string, string | undefined> }>(
    '/api/v2/tenants/:tenant/databases',
    async (req) => {
      read(req);
      const tenant = validateTenant(req.params.tenant);
      await ctx.catalog.reload();
      return pageOf(ctx.catalog.listDatabases(tenant), req.query);
    },
  );
  app.post<{ Params: { tenant: string } }>('/api/v2/tenants/:tenant/databases', async (req) => {
    write(req);
    const tenant = validateTenant(req.params.tenant);
    const name = validateNewTenantName(asBody(req.body).name, 'database_name');
    await ctx.catalog.createDatabase(tenant, validateTenant(name, 'database'));
    return {};
  });
  app.get<{ Params: DbParams }>('/api/v2/tenants/:tenant/databases/:database', async (req) => {
    read(req);
    const { tenant, database } = dbParams(req.params);
    await ctx.catalog.reload();
    const d = ctx.catalog.database(tenant, database);
    if (!d)
      throw new NotFoundError(`Database [${database}] not found. Are you sure it exists?`, {
        tenant,
        database,
      });
    return d;
  });
  app.delete<{ Params: DbParams }>('/api/v2/tenants/:tenant/databases/:database', async (req) => {
    write(req);
    const { tenant, database } = dbParams(req.params);
    await ctx.catalog.reload();
    const gone = ctx.catalog.list(tenant, database).map((e) => e.strata);
    await ctx.catalog.deleteDatabase(tenant, database);
    for (const s of gone) ctx.snapshots.drop(s);
    return {};
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
    const e = await ctx.catalog.create({
      tenant,
      database,
      name: body.name as string,
      metadata: collectionMetadata(body.metadata, 'metadata'),
      configuration: body.configuration,
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
    const e = await entryOf(req);
    const body = asBody(req.body);
    if (body.new_name !== undefined && body.new_name !== null && typeof body.new_name !== 'string') {
      throw new InvalidInputError(ErrorCodes.BAD_RECORD, 'new_name must be a string');
    }
    await ctx.catalog.modify(e, {
      name: (body.new_name ?? undefined) as string | undefined,
      metadata: collectionMetadata(body.new_metadata, 'new_metadata'),
      configuration: body.new_configuration,
    });
    return {};
  });
  app.delete(`${base}/collections/:collection`, async (req: Req<CollParams>) => {
    write(req);
    const { tenant, database } = dbParams(req.params);
    const e = await ctx.catalog.resolve(tenant, database, req.params.collection);
    await ctx.catalog.delete(e);
    ctx.snapshots.drop(e.strata);
    return {};
  });
  app.post(`${base}/collections/:collection/fork`, async (req: Req<CollParams>) => {
    write(req);
    await entryOf(req);
    throw new ChromaApiError(501, 'ChromaError', ErrorCodes.UNSUPPORTED, 'Collection forking is unsupported');
  });

  // --- records ----------------------------------------------------------------------------------------
  const coll = `${base}/collections/:collection`;
  async function entryOf(req: Req<CollParams>): Promise<CatalogEntry> {
    const { tenant, database } = dbParams(req.params);
    return ctx.catalog.resolve(tenant, database, req.params.collection);
  }

  /**
   * Translates a write against the records as they are and queues its operations. Between the state being
   * opened and the operations being queued nothing is awaited, so requests to a collection are translated
   * in the order they are queued.
   */
  async function writeWith(
    e: CatalogEntry,
    config: CollectionConfig,
    w: ChromaWrite,
  ): Promise<{ delta: DeltaDescriptor | undefined; affected: number }> {
    const entry = e.config ? e : (ctx.catalog.byStrata(e.strata) ?? { ...e, config });
    const state = await openRecordState(ctx, entry);
    let queued: Promise<DeltaDescriptor> | undefined;
    let affected = 0;
    try {
      const t = translateWrite(w, state, { metric: config.metric, dimension: config.dimension });
      affected = t.affected;
      if (t.ops.length > 0) {
        // past the tail's bounds: 429 before anything is written
        ctx.tails?.admit(e.strata, t.ops);
        queued = ctx.writer.write(config, t.ops);
        ctx.metrics.writeOps.inc({ collection: e.strata }, t.ops.length);
      }
    } finally {
      state.release();
    }
    return { delta: queued ? await queued : undefined, affected };
  }

  const recordWrite = (kind: WriteKind) => async (req: Req<CollParams>, reply: FastifyReply) => {
    write(req);
    const e = await entryOf(req);
    const shape = parseWriteShape(asBody(req.body), kind, maxBatchSize);
    // the first vectors give a collection its dimension: in Chroma even those of a request refused later
    // (an empty id, say) and an update's, which finds no record
    const dimension = e.config?.dimension ?? shape.dimension;
    const config = dimension === undefined ? undefined : await ctx.catalog.materialize(e, dimension);
    const records = writeRecords(shape, dimension);
    const delta = config ? (await writeWith(e, config, { kind, records })).delta : undefined;
    pendingHeaders(reply, delta, ctx.tails !== undefined);
    return reply.code(kind === 'add' ? 201 : 200).send({});
  };
  app.post(`${coll}/add`, recordWrite('add'));
  app.post(`${coll}/upsert`, recordWrite('upsert'));
  app.post(`${coll}/update`, recordWrite('update'));

  app.post(`${coll}/delete`, async (req: Req<CollParams>, reply) => {
    write(req);
    const e = await entryOf(req);
    const body = asBody(req.body);
    const ids =
      body.ids === undefined || body.ids === null ? undefined : parseIds(body.ids, 'ids', maxBatchSize);
    const limit = parseCount(body.limit, 'limit');
    checkChromaWhere(body.where);
    checkChromaWhereDocument(body.where_document);
    const filter = normalizeFilter({ where: body.where, whereDocument: body.where_document, ids });
    const filtered = filter.where !== undefined || filter.whereDocument !== undefined;
    if (ids?.length === 0 && !filtered) {
      throw new InvalidInputError(
        ErrorCodes.USAGE,
        'Validation error: ids, where: Either ids or where must be specified',
      );
    }
    let result = { delta: undefined as DeltaDescriptor | undefined, affected: 0 };
    // nothing named (Chroma deletes nothing), or nothing ever written
    if (e.config && (ids || filtered))
      result = await writeWith(e, e.config, { kind: 'delete', ids, filter, limit });
    pendingHeaders(reply, result.delta, ctx.tails !== undefined);
    return { deleted: result.affected };
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
    // what does not deserialize (422) before what is invalid (400), as in Chroma
    const include = parseInclude(body.include, ['documents', 'metadatas']);
    const ids = body.ids === undefined || body.ids === null ? undefined : parseIds(body.ids);
    const limit = parseCount(body.limit, 'limit');
    const offset = parseCount(body.offset, 'offset') ?? 0;
    checkChromaWhere(body.where);
    checkChromaWhereDocument(body.where_document);
    const filter = normalizeFilter({ where: body.where, whereDocument: body.where_document, ids });
    const r = e.config ? await ctx.snapshots.acquireView(e.strata) : undefined;
    try {
      const view = r?.view;
      if (!view) return { ...emptyRows(include), include };
      if (r.version !== null) reply.header('x-strata-snapshot-version', String(r.version));
      const rows = selectRows(view, filter).slice(offset, limit === undefined ? undefined : offset + limit);
      return sendRecords(reply, { ...rowsPayload(view, rows, include), include });
    } finally {
      r?.release();
    }
  });

  app.post(`${coll}/query`, async (req: Req<CollParams>, reply) => {
    const t0 = performance.now();
    read(req);
    const e = await entryOf(req);
    const body = asBody(req.body);
    const include = parseInclude(body.include, ['metadatas', 'documents', 'distances']);
    const k = parseCount(body.n_results, 'n_results', ctx.limits.maxResults) ?? 10;
    const ids = body.ids === undefined || body.ids === null ? undefined : parseIds(body.ids);
    const queries = parseQueryEmbeddings(body.query_embeddings, e.config?.dimension, maxBatchSize);
    checkChromaWhere(body.where);
    checkChromaWhereDocument(body.where_document);
    const filter = normalizeFilter({ where: body.where, whereDocument: body.where_document, ids });
    const r = e.config ? await ctx.snapshots.acquireView(e.strata) : undefined;
    try {
      const field = <T>(name: Include, value: () => T) => (include.includes(name) ? value() : null);
      const view = r?.view;
      if (!view) {
        const none = queries.map(() => [] as never[]);
        return {
          ids: none,
          distances: field('distances', () => none),
          documents: field('documents', () => none),
          metadatas: field('metadatas', () => none),
          embeddings: field('embeddings', () => none),
          uris: field('uris', () => none),
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
      return sendRecords(reply, {
        ids: per.map((p) => p.ids),
        distances: field('distances', () => answer.distances),
        documents: field('documents', () => per.map((p) => p.documents)),
        metadatas: field('metadatas', () => per.map((p) => p.metadatas)),
        embeddings: field('embeddings', () => per.map((p) => p.embeddings)),
        uris: field('uris', () => per.map((p) => p.uris)),
        include,
      });
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
