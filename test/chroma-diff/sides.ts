/**
 * One "side" of the differential test: the official chromadb client (3.0.14 or 3.5.0) pointed at one
 * server, the collection handles it holds, and — for Strata — the one place where a read waits for earlier
 * writes to become visible. Every operation is run through the client exactly as an app would call it and
 * captured as an Outcome: the answer, normalized for comparison, or the class of the error the client threw.
 */
import * as chroma300 from 'chromadb';
import * as chroma350 from 'chromadb-latest';
import {
  DATABASES,
  DEFAULT_DIMENSION,
  DIMENSIONS,
  type IncludeField,
  type Meta,
  type Op,
  TENANTS,
  VECTOR_SPEC_LENGTH,
  type Where,
  type WhereDocument,
} from './ops.js';

// --- the part of the client API the harness calls, typed loosely so both versions (and bad values) fit ----

export interface GetResultLike {
  ids: string[];
  documents: Array<string | null>;
  metadatas: Array<Record<string, unknown> | null>;
  embeddings: number[][];
  uris: Array<string | null>;
  include: string[];
}
export interface QueryResultLike {
  ids: string[][];
  distances: Array<Array<number | null>>;
  documents: Array<Array<string | null>>;
  metadatas: Array<Array<Record<string, unknown> | null>>;
  embeddings: number[][][];
  uris: Array<Array<string | null>>;
  include: string[];
}
export interface CollectionLike {
  id: string;
  name: string;
  metadata: unknown;
  configuration: unknown;
  add(a: Record<string, unknown>): Promise<unknown>;
  upsert(a: Record<string, unknown>): Promise<unknown>;
  update(a: Record<string, unknown>): Promise<unknown>;
  delete(a: Record<string, unknown>): Promise<unknown>;
  get(a?: Record<string, unknown>): Promise<GetResultLike>;
  query(a: Record<string, unknown>): Promise<QueryResultLike>;
  count(): Promise<number>;
  peek(a: Record<string, unknown>): Promise<GetResultLike>;
  modify(a: Record<string, unknown>): Promise<unknown>;
}
export interface ClientLike {
  createCollection(a: Record<string, unknown>): Promise<CollectionLike>;
  getOrCreateCollection(a: Record<string, unknown>): Promise<CollectionLike>;
  getCollection(a: Record<string, unknown>): Promise<CollectionLike>;
  listCollections(a?: Record<string, unknown>): Promise<CollectionLike[]>;
  countCollections(): Promise<number>;
  deleteCollection(a: { name: string }): Promise<void>;
}
export interface AdminLike {
  createTenant(a: { name: string }): Promise<unknown>;
  getTenant(a: { name: string }): Promise<unknown>;
  createDatabase(a: { name: string; tenant: string }): Promise<unknown>;
  getDatabase(a: { name: string; tenant: string }): Promise<unknown>;
  listDatabases(a: { tenant: string }): Promise<unknown>;
  deleteDatabase(a: { name: string; tenant: string }): Promise<unknown>;
}
interface ClientModule {
  ChromaClient: new (args: Record<string, unknown>) => ClientLike;
  AdminClient: new (args: Record<string, unknown>) => AdminLike;
}

export type ClientVersion = '3.0.14' | '3.5.0';
export const CLIENT_VERSIONS: readonly ClientVersion[] = ['3.0.14', '3.5.0'];
const MODULES: Record<ClientVersion, ClientModule> = {
  '3.0.14': chroma300 as unknown as ClientModule,
  '3.5.0': chroma350 as unknown as ClientModule,
};

// --- outcomes ------------------------------------------------------------------------------------------

export type Outcome = { ok: true; value: unknown } | { ok: false; error: string; message: string };

/**
 * The body of the last error response per server port: the 3.0.14 client reports a 5xx without the
 * server's message, which a difference report needs. Installed once, around the global fetch.
 */
const lastErrorBody = new Map<string, string>();
let fetchWrapped = false;
function recordErrorBodies(): void {
  if (fetchWrapped) return;
  fetchWrapped = true;
  const original = globalThis.fetch;
  globalThis.fetch = async (input: string | URL | Request, init?: RequestInit) => {
    const res = await original(input, init);
    if (!res.ok) {
      const url = new URL(input instanceof Request ? input.url : String(input));
      lastErrorBody.set(url.port, `${res.status} ${(await res.clone().text()).slice(0, 300)}`);
    }
    return res;
  };
}

async function capture(port: number, f: () => Promise<unknown>): Promise<Outcome> {
  lastErrorBody.delete(String(port));
  try {
    return { ok: true, value: await f() };
  } catch (e) {
    const err = e as Error;
    const body = lastErrorBody.get(String(port));
    return {
      ok: false,
      error: err?.constructor?.name ?? 'unknown',
      message: `${String(err?.message ?? e)}${body ? ` [${body}]` : ''}`,
    };
  }
}

/** A collection as the client shows it (its id only where both servers share it: imported ones). */
export interface CollectionView {
  name: string;
  metadata: unknown;
  configuration: unknown;
  id?: string;
}

// --- the side ------------------------------------------------------------------------------------------

/** How a side makes earlier writes visible to the next operation on records (Chroma: nothing to do). */
export interface Visibility {
  /** Called after a write request succeeded. */
  wrote(): void;
  /** Called before any operation on records; resolves once every earlier write is visible. */
  settle(): Promise<void>;
}

export const IMMEDIATE: Visibility = { wrote: () => {}, settle: async () => {} };

export interface SideOptions {
  label: 'chroma' | 'strata';
  port: number;
  headers?: Record<string, string>;
  version: ClientVersion;
  visibility?: Visibility;
}

interface Handle {
  col: CollectionLike;
  dimension: number;
}

export class Side {
  readonly label: 'chroma' | 'strata';
  readonly version: ClientVersion;
  readonly visibility: Visibility;
  readonly #port: number;
  readonly #headers: Record<string, string>;
  readonly #mod: ClientModule;
  readonly #clients = new Map<string, ClientLike>();
  /** Collection handles by the name they were last known under (kept after a delete: stale handles). */
  readonly handles = new Map<string, Handle>();
  /** Tenant and database names are made unique per sequence with this tag (see tenantName). */
  tag = '';

  constructor(o: SideOptions) {
    this.label = o.label;
    this.version = o.version;
    this.visibility = o.visibility ?? IMMEDIATE;
    this.#port = o.port;
    this.#headers = o.headers ?? {};
    this.#mod = MODULES[o.version];
    recordErrorBodies();
  }

  client(tenant = 'default_tenant', database = 'default_database'): ClientLike {
    const key = `${tenant}/${database}`;
    let c = this.#clients.get(key);
    if (!c) {
      c = new this.#mod.ChromaClient({
        host: '127.0.0.1',
        port: this.#port,
        headers: this.#headers,
        tenant,
        database,
      });
      this.#clients.set(key, c);
    }
    return c;
  }

  admin(): AdminLike {
    return new this.#mod.AdminClient({ host: '127.0.0.1', port: this.#port, headers: this.#headers });
  }

  /** Deletes every collection of the default database and forgets every handle. */
  async reset(tag: string): Promise<void> {
    this.tag = tag;
    this.handles.clear();
    const c = this.client();
    for (const col of await c.listCollections({ limit: 1000 })) await c.deleteCollection({ name: col.name });
  }

  /**
   * A tenant token as a name unique to this sequence, so sequences sharing a server never see each
   * other's tenants (the defaults, and names Chroma refuses, stay as they are).
   */
  /** Deletes the databases this sequence may have made (and so their collections); errors ignored. */
  async cleanup(): Promise<void> {
    const admin = this.admin();
    for (const t of TENANTS) {
      for (const d of DATABASES) {
        const tenant = this.tenantName(t);
        const database = this.databaseName(t, d);
        if (database === 'default_database' && tenant === 'default_tenant') continue;
        if (database.length < 3) continue;
        await admin.deleteDatabase({ name: database, tenant }).catch(() => undefined);
      }
    }
  }

  tenantName(token: string): string {
    return token.startsWith('default_') || token.length < 3 ? token : `${token}_${this.tag}`;
  }

  /** A database token as a name unique to this sequence (default_database only in a tenant that is). */
  databaseName(tenantToken: string, token: string): string {
    const tenantShared = tenantToken === 'default_tenant' || tenantToken.length < 3;
    if (token === 'default_database' && !tenantShared) return token;
    if (token === 'default_database' && tenantToken === 'default_tenant') return token;
    return token.length < 3 ? token : `${token}_${this.tag}`;
  }

  /** Registers a handle under its name (after a create or get). */
  hold(col: CollectionLike): void {
    const prior = this.handles.get(col.name);
    this.handles.set(col.name, {
      col,
      dimension: prior?.dimension ?? DIMENSIONS[col.name] ?? DEFAULT_DIMENSION,
    });
  }

  /** Runs one operation and captures what the client returned or threw. */
  run(op: Op): Promise<Outcome> {
    return capture(this.#port, () => this.#run(op));
  }

  async #run(op: Op): Promise<unknown> {
    switch (op.op) {
      case 'createCollection': {
        const args: Record<string, unknown> = { name: op.name, embeddingFunction: null };
        let metadata = op.metadata;
        if (op.spaceVia === 'configuration' && (op.space || op.hnsw)) {
          args.configuration = { hnsw: { ...(op.space ? { space: op.space } : {}), ...op.hnsw } };
        }
        if (op.spaceVia === 'metadata') {
          const legacy: Meta = {};
          if (op.space) legacy['hnsw:space'] = op.space;
          if (op.hnsw?.ef_search !== undefined) legacy['hnsw:search_ef'] = op.hnsw.ef_search;
          if (op.hnsw?.max_neighbors !== undefined) legacy['hnsw:M'] = op.hnsw.max_neighbors;
          if (op.hnsw?.ef_construction !== undefined)
            legacy['hnsw:construction_ef'] = op.hnsw.ef_construction;
          if (Object.keys(legacy).length > 0) metadata = { ...metadata, ...legacy };
        }
        if (metadata) args.metadata = metadata;
        const c = this.client();
        const col = op.getOrCreate ? await c.getOrCreateCollection(args) : await c.createCollection(args);
        this.hold(col);
        return view(col);
      }
      case 'getCollection': {
        const col = await this.client().getCollection({ name: op.name, embeddingFunction: null });
        this.hold(col);
        return view(col);
      }
      case 'listCollections': {
        const args: Record<string, unknown> = {};
        if (op.limit !== undefined) args.limit = op.limit;
        if (op.offset !== undefined) args.offset = op.offset;
        const page = (await this.client().listCollections(args)).map(view);
        if (op.limit === undefined && op.offset === undefined) return { page };
        return { page, full: (await this.client().listCollections()).map(view) };
      }
      case 'countCollections':
        return this.client().countCollections();
      case 'deleteCollection':
        await this.client().deleteCollection({ name: op.name });
        return null;
      case 'createTenant':
        await this.admin().createTenant({ name: this.tenantName(op.tenant) });
        return null;
      case 'getTenant':
        return this.admin().getTenant({ name: this.tenantName(op.tenant) });
      case 'createDatabase':
        await this.admin().createDatabase({
          name: this.databaseName(op.tenant, op.database),
          tenant: this.tenantName(op.tenant),
        });
        return null;
      case 'getDatabase': {
        const d = (await this.admin().getDatabase({
          name: this.databaseName(op.tenant, op.database),
          tenant: this.tenantName(op.tenant),
        })) as { name: string; tenant: string };
        return { name: d.name, tenant: d.tenant };
      }
      case 'listDatabases': {
        const ds = (await this.admin().listDatabases({ tenant: this.tenantName(op.tenant) })) as Array<{
          name: string;
          tenant: string;
        }>;
        return ds.map((d) => ({ name: d.name, tenant: d.tenant }));
      }
      case 'deleteDatabase':
        await this.admin().deleteDatabase({
          name: this.databaseName(op.tenant, op.database),
          tenant: this.tenantName(op.tenant),
        });
        return null;
      case 'listCollectionsIn':
        return {
          page: (
            await this.client(
              this.tenantName(op.tenant),
              this.databaseName(op.tenant, op.database),
            ).listCollections()
          ).map(view),
        };
      case 'countCollectionsIn':
        return this.client(
          this.tenantName(op.tenant),
          this.databaseName(op.tenant, op.database),
        ).countCollections();
      case 'createCollectionIn':
        return view(
          await this.client(
            this.tenantName(op.tenant),
            this.databaseName(op.tenant, op.database),
          ).createCollection({
            name: op.name,
            embeddingFunction: null,
          }),
        );
      case 'getCollectionIn':
        return view(
          await this.client(
            this.tenantName(op.tenant),
            this.databaseName(op.tenant, op.database),
          ).getCollection({
            name: op.name,
            embeddingFunction: null,
          }),
        );
      default:
        return this.#runOnRecords(op);
    }
  }

  async #runOnRecords(op: Op): Promise<unknown> {
    if (!('target' in op)) throw new Error(`not a record operation: ${op.op}`);
    const h = this.handles.get(op.target);
    if (!h) throw new Error(`no handle for ${op.target}`);
    const col = h.col;
    const vec = (v: number[], delta = 0) => cut(v, h.dimension + delta);
    switch (op.op) {
      case 'modifyCollection': {
        const args: Record<string, unknown> = {};
        if (op.name !== undefined) args.name = op.name;
        if (op.metadata !== undefined) args.metadata = op.metadata;
        if (op.configuration !== undefined) args.configuration = op.configuration;
        const before = col.name;
        await col.modify(args);
        if (col.name !== before) {
          this.handles.delete(before);
          this.handles.set(col.name, h);
        }
        return view(await this.client().getCollection({ name: col.name, embeddingFunction: null }));
      }
      case 'add':
      case 'upsert':
      case 'update': {
        const args: Record<string, unknown> = { ids: op.ids };
        if (op.embeddings) args.embeddings = op.embeddings.map((v) => vec(v, op.dimDelta));
        if (op.documents) args.documents = op.documents;
        if (op.metadatas) args.metadatas = op.metadatas;
        await col[op.op](args);
        return null;
      }
      case 'delete': {
        const args: Record<string, unknown> = {};
        if (op.ids) args.ids = op.ids;
        if (op.where) args.where = op.where;
        if (op.whereDocument) args.whereDocument = op.whereDocument;
        const r = await col.delete(args);
        return r === undefined ? null : r;
      }
      case 'get': {
        const args = getArgs(op);
        const page = normalizeGet(await col.get(args));
        if (op.limit === undefined && op.offset === undefined) return { page };
        // a page is compared through the whole answer it was cut from
        const { limit: _l, offset: _o, ...rest } = args;
        return { page, full: normalizeGet(await col.get(rest)) };
      }
      case 'query': {
        const args: Record<string, unknown> = {
          queryEmbeddings: op.queryEmbeddings.map((v) => vec(v, op.dimDelta)),
        };
        if (op.nResults !== undefined) args.nResults = op.nResults;
        if (op.ids) args.ids = op.ids;
        if (op.where) args.where = op.where;
        if (op.whereDocument) args.whereDocument = op.whereDocument;
        if (op.include) args.include = op.include;
        const answer = normalizeQuery(await col.query(args));
        if (op.include === undefined || op.include.includes('distances')) return { answer };
        // ties are told apart by distance: fetch them when the answer did not include them
        const withDistances = normalizeQuery(await col.query({ ...args, include: ['distances'] }));
        return { answer, distances: withDistances.distances };
      }
      case 'count':
        return col.count();
      case 'peek': {
        const page = normalizeGet(await col.peek(op.limit === undefined ? {} : { limit: op.limit }));
        return { page, full: normalizeGet(await col.get({})) };
      }
      default:
        throw new Error(`unknown operation ${(op as Op).op}`);
    }
  }
}

function getArgs(op: Extract<Op, { op: 'get' }>): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  if (op.ids) args.ids = op.ids;
  if (op.where) args.where = op.where;
  if (op.whereDocument) args.whereDocument = op.whereDocument;
  if (op.limit !== undefined) args.limit = op.limit;
  if (op.offset !== undefined) args.offset = op.offset;
  if (op.include) args.include = op.include;
  return args;
}

function cut(v: number[], n: number): number[] {
  const out = v.slice(0, Math.min(n, VECTOR_SPEC_LENGTH));
  while (out.length < n) out.push(out.length % 2 === 0 ? 0.5 : -0.5);
  return out;
}

export function view(col: CollectionLike): CollectionView {
  return {
    name: col.name,
    metadata: col.metadata ?? null,
    configuration: col.configuration ?? null,
    id: col.id,
  };
}

// --- normalized answers ----------------------------------------------------------------------------------

/** One record of an answer: only the fields the request included. */
export interface RowView {
  id: string;
  document?: string | null;
  /** Canonical JSON (sorted keys), so types and values compare exactly. */
  metadata?: string;
  /** The float32 bit patterns, hex. */
  embedding?: string;
  uri?: string | null;
}

export interface GetView {
  include: string[];
  rows: RowView[];
}

export interface QueryView {
  include: string[];
  rows: RowView[][];
  distances: number[][] | null;
}

export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v === undefined ? null : v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

export function embeddingBits(e: ArrayLike<number> | null | undefined): string {
  if (e === null || e === undefined) return 'null';
  const f = Float32Array.from(e as ArrayLike<number>);
  const u = new Uint32Array(f.buffer);
  return Array.from(u, (x) => x.toString(16).padStart(8, '0')).join('');
}

function rowAt(
  include: string[],
  id: string,
  i: number,
  documents: ArrayLike<string | null> | undefined,
  metadatas: ArrayLike<Record<string, unknown> | null> | undefined,
  embeddings: ArrayLike<ArrayLike<number> | null> | undefined,
  uris: ArrayLike<string | null> | undefined,
): RowView {
  const r: RowView = { id };
  if (include.includes('documents')) r.document = documents?.[i] ?? null;
  if (include.includes('metadatas')) r.metadata = canonicalJson(metadatas?.[i] ?? null);
  if (include.includes('embeddings')) r.embedding = embeddingBits(embeddings?.[i]);
  if (include.includes('uris')) r.uri = uris?.[i] ?? null;
  return r;
}

export function normalizeGet(g: GetResultLike): GetView {
  const include = [...(g.include ?? [])];
  return {
    include,
    rows: g.ids.map((id, i) => rowAt(include, id, i, g.documents, g.metadatas, g.embeddings, g.uris)),
  };
}

export function normalizeQuery(q: QueryResultLike): QueryView {
  const include = [...(q.include ?? [])];
  return {
    include,
    rows: q.ids.map((ids, j) =>
      ids.map((id, i) =>
        rowAt(include, id, i, q.documents?.[j], q.metadatas?.[j], q.embeddings?.[j], q.uris?.[j]),
      ),
    ),
    distances: include.includes('distances')
      ? q.ids.map((ids, j) => ids.map((_, i) => Number(q.distances?.[j]?.[i] ?? Number.NaN)))
      : null,
  };
}

export type { IncludeField, Meta, Where, WhereDocument };
