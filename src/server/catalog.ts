/**
 * Chroma's view of the store: tenants, databases and collections. A Chroma collection lives in a tenant
 * and a database, has a UUID, a name, metadata and a configuration; a Strata collection has one validated
 * name. The two are tied together by the collection's identity (ChromaIdentity), not by the name, so a
 * Chroma collection can be renamed and any Chroma name fits:
 *   - a new collection's Strata name is NAME in default_tenant/default_database and TENANT.DATABASE.NAME
 *     elsewhere, when that is a valid Strata name not already taken (by a renamed collection, say);
 *     otherwise a derived one (the first 100 characters, a dot, 8 hex digits of a hash);
 *   - every part is validated (validateTenant, validateName) before it becomes part of a key, so no key or
 *     path escapes its prefix.
 *
 * A Chroma collection has no dimension until its first add; Strata's has one from creation. So a
 * collection created over the API is first a small "pending" record (serve/chroma/pending/NAME.json) and
 * becomes a Strata collection (its Chroma identity kept in config.extra.chroma) on its first write. What
 * `modify` changes (name, metadata, configuration) is kept beside it in serve/chroma/attributes/NAME.json,
 * since a collection's config.json is written once. Collections made by the CLI appear in
 * default_tenant/default_database with an id derived from their name and creation time (stable across
 * restarts, new after a delete and re-create); collections imported from Chroma keep their Chroma identity.
 *
 * Tenants and databases exist as in Chroma: default_tenant and default_database always; others once
 * created (serve/chroma/tenants/T.json, serve/chroma/databases/T/D/ID — the id in the key, so a listing
 * alone knows them) — or, for stores written before they were recorded, while a collection lives in them.
 */
import { createHash, randomUUID } from 'node:crypto';
import { type ChromaIdentity, SPACE_OF_METRIC } from '../core/chroma.js';
import {
  CollectionError,
  ErrorCodes,
  InvalidInputError,
  NotFoundError,
  PreconditionFailedError,
  UsageError,
} from '../core/errors.js';
import type { CollectionConfig, Metric } from '../core/types.js';
import { validateName } from '../core/validate.js';
import {
  createCollection,
  deleteCollection,
  findCollection,
  listCollections,
} from '../pipeline/collections.js';
import { readJson, writeJson } from '../pipeline/json-object.js';
import type { ObjectStore } from '../store/index.js';
import {
  chromaConfiguration,
  metricOf,
  updatedConfiguration,
  validateCollectionName,
} from './chroma-config.js';
import { ChromaApiError } from './http-errors.js';

export const DEFAULT_TENANT = 'default_tenant';
export const DEFAULT_DATABASE = 'default_database';
/** The id Chroma gives default_database. */
export const DEFAULT_DATABASE_ID = '00000000-0000-0000-0000-000000000000';

/** What modify changes; the rest of an identity is fixed at creation. */
type Attributes = Pick<ChromaIdentity, 'name' | 'metadata' | 'configuration'>;

export interface CatalogEntry {
  /** The Strata collection name. */
  strata: string;
  chroma: ChromaIdentity;
  /** undefined while pending (created over the API, nothing written yet). */
  config: CollectionConfig | undefined;
}

export interface DatabaseInfo {
  id: string;
  name: string;
  tenant: string;
}

const PENDING_PREFIX = 'serve/chroma/pending/';
const ATTRIBUTES_PREFIX = 'serve/chroma/attributes/';
const TENANTS_PREFIX = 'serve/chroma/tenants/';
const DATABASES_PREFIX = 'serve/chroma/databases/';
const pendingKey = (strata: string) => `${PENDING_PREFIX}${strata}.json`;
const attributesKey = (strata: string) => `${ATTRIBUTES_PREFIX}${strata}.json`;
const tenantKey = (t: string) => `${TENANTS_PREFIX}${t}.json`;
const databaseKey = (d: DatabaseInfo) => `${DATABASES_PREFIX}${d.tenant}/${d.name}/${d.id}`;

const PART_RE = /^[A-Za-z0-9_-]{1,64}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function validateTenant(t: string, what = 'tenant'): string {
  if (!PART_RE.test(t))
    throw new UsageError(`invalid ${what} ${JSON.stringify(t)}: use 1-64 characters [A-Za-z0-9_-]`);
  return t;
}

/** The Strata collection name a Chroma collection gets by default (it may be taken: see Catalog.create). */
export function strataName(tenant: string, database: string, name: string): string {
  validateTenant(tenant);
  validateTenant(database, 'database');
  validateName(name);
  if (tenant === DEFAULT_TENANT && database === DEFAULT_DATABASE) return name;
  return validateName(`${tenant}.${database}.${name}`, 'collection name (tenant.database.name)');
}

export function chromaSpace(metric: Metric): string {
  return SPACE_OF_METRIC[metric];
}

/** A UUID-shaped id derived from text (stable across restarts; version nibble 5, RFC 4122 variant). */
export function uuidFrom(text: string): string {
  const h = createHash('sha256').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((Number.parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const derivedId = (name: string, createdAt: string) => uuidFrom(`strata-collection\n${name}\n${createdAt}`);
const nameKey = (tenant: string, database: string, name: string) => `${tenant}\u0000${database}\u0000${name}`;
const dbKey = (tenant: string, database: string) => `${tenant}\u0000${database}`;
const nonEmpty = (m: unknown): Record<string, unknown> | null =>
  m && typeof m === 'object' && !Array.isArray(m) && Object.keys(m).length > 0
    ? (m as Record<string, unknown>)
    : null;

/**
 * The identity of a stored collection: the one recorded at creation over the API, or by `strata import
 * chroma` (id, name, tenant, database, metadata, Chroma's configuration), or one derived for a collection
 * the CLI made. Fields an older record lacks are filled in from the collection's config.
 */
function identityOf(config: CollectionConfig): ChromaIdentity {
  const c = (config.extra?.chroma ?? {}) as Partial<ChromaIdentity> & { space?: string };
  const metadata = nonEmpty(c.metadata);
  const configuration = lenientConfiguration(c.configuration, null, config.metric);
  // the stored metric is what the snapshots were built with
  (configuration.hnsw as Record<string, unknown>).space = chromaSpace(config.metric);
  return {
    id: typeof c.id === 'string' ? c.id.toLowerCase() : derivedId(config.name, config.createdAt),
    tenant: typeof c.tenant === 'string' ? c.tenant : DEFAULT_TENANT,
    database: typeof c.database === 'string' ? c.database : DEFAULT_DATABASE,
    name: typeof c.name === 'string' ? c.name : config.name,
    metadata,
    configuration,
    metric: config.metric,
    createdAt: typeof c.createdAt === 'string' ? c.createdAt : config.createdAt,
  };
}

/** A pending record as stored (older ones hold the configuration the client sent). */
function pendingIdentity(p: ChromaIdentity): ChromaIdentity {
  const metadata = nonEmpty(p.metadata);
  const configuration = lenientConfiguration(p.configuration, metadata, p.metric);
  return { ...p, metadata, configuration, metric: p.metric ?? metricOf(configuration) };
}

/** configuration_json of a stored identity; one an older Strata stored that no longer validates keeps its space. */
function lenientConfiguration(
  stored: unknown,
  metadata: Record<string, unknown> | null,
  metric: Metric | undefined,
): Record<string, unknown> {
  try {
    if (stored !== undefined && stored !== null) return chromaConfiguration(stored, metadata);
  } catch {
    // fall through
  }
  return chromaConfiguration({ hnsw: { space: chromaSpace(metric ?? 'l2sq') } }, null);
}

export class Catalog {
  readonly #store: ObjectStore;
  #byStrata = new Map<string, CatalogEntry>();
  #byId = new Map<string, CatalogEntry>();
  #byName = new Map<string, CatalogEntry>();
  #tenants = new Set<string>();
  #databases = new Map<string, DatabaseInfo>();
  #reloading: Promise<void> | null = null;
  #queued: Promise<void> | null = null;

  constructor(store: ObjectStore) {
    this.#store = store;
  }

  /**
   * Re-reads every collection config and pending record. Resolves with a read that started after this call
   * (so a caller sees its own writes): concurrent callers share one read, and a call during a read queues one
   * more, shared by every caller that arrives meanwhile.
   */
  reload(): Promise<void> {
    if (!this.#reloading) {
      this.#reloading = this.#reload().finally(() => {
        this.#reloading = null;
      });
      return this.#reloading;
    }
    this.#queued ??= this.#reloading
      .catch(() => undefined)
      .then(() => {
        this.#queued = null;
        return this.reload();
      });
    return this.#queued;
  }

  async #reload(): Promise<void> {
    const byStrata = new Map<string, CatalogEntry>();
    for (const o of await this.#store.list(PENDING_PREFIX)) {
      const p = await readJson<ChromaIdentity>(this.#store, o.key);
      if (!p) continue;
      const strata = o.key.slice(PENDING_PREFIX.length, -'.json'.length);
      byStrata.set(strata, { strata, chroma: pendingIdentity(p.value), config: undefined });
    }
    for (const name of await listCollections(this.#store)) {
      const config = await findCollection(this.#store, name);
      if (config) byStrata.set(name, { strata: name, chroma: identityOf(config), config });
    }
    for (const o of await this.#store.list(ATTRIBUTES_PREFIX)) {
      const strata = o.key.slice(ATTRIBUTES_PREFIX.length, -'.json'.length);
      const e = byStrata.get(strata);
      const a = e ? await readJson<Attributes>(this.#store, o.key) : undefined;
      if (e && a) e.chroma = { ...e.chroma, ...a.value };
    }
    const tenants = new Set<string>();
    for (const o of await this.#store.list(TENANTS_PREFIX)) {
      tenants.add(o.key.slice(TENANTS_PREFIX.length, -'.json'.length));
    }
    const databases = new Map<string, DatabaseInfo>();
    for (const o of await this.#store.list(DATABASES_PREFIX)) {
      const [tenant, name, id] = o.key.slice(DATABASES_PREFIX.length).split('/');
      if (tenant && name && id && !databases.has(dbKey(tenant, name))) {
        databases.set(dbKey(tenant, name), { id, name, tenant });
      }
    }
    this.#byStrata = byStrata;
    this.#byId = new Map([...byStrata.values()].map((e) => [e.chroma.id, e]));
    this.loadedAt = Date.now();
    this.#byName = new Map(
      [...byStrata.values()].map((e) => [nameKey(e.chroma.tenant, e.chroma.database, e.chroma.name), e]),
    );
    this.#tenants = tenants;
    this.#databases = databases;
  }

  /** When the last reload finished (ms since the epoch; 0: never). */
  loadedAt = 0;

  entries(): CatalogEntry[] {
    return [...this.#byStrata.values()];
  }

  byStrata(name: string): CatalogEntry | undefined {
    return this.#byStrata.get(name);
  }

  #find(tenant: string, database: string, nameOrId: string): CatalogEntry | undefined {
    const e = UUID_RE.test(nameOrId)
      ? this.#byId.get(nameOrId.toLowerCase())
      : this.#byName.get(nameKey(tenant, database, nameOrId));
    return e && e.chroma.tenant === tenant && e.chroma.database === database ? e : undefined;
  }

  /** A collection by name or id in a tenant/database; reloads once on a miss. */
  async resolve(tenant: string, database: string, nameOrId: string): Promise<CatalogEntry> {
    validateTenant(tenant);
    validateTenant(database, 'database');
    let e = this.#find(tenant, database, nameOrId);
    if (e === undefined) {
      await this.reload();
      e = this.#find(tenant, database, nameOrId);
    }
    if (e === undefined) {
      throw new CollectionError(ErrorCodes.COLLECTION_NOT_FOUND, `Collection [${nameOrId}] does not exists`, {
        collection: nameOrId,
        tenant,
        database,
      });
    }
    return e;
  }

  /** The collections of a tenant/database in Chroma's order: by id. */
  list(tenant: string, database: string): CatalogEntry[] {
    return this.entries()
      .filter((e) => e.chroma.tenant === tenant && e.chroma.database === database)
      .sort((a, b) => (a.chroma.id < b.chroma.id ? -1 : a.chroma.id > b.chroma.id ? 1 : 0));
  }

  /** A Strata name for a new Chroma collection that no collection (pending or not) holds. */
  #allocate(tenant: string, database: string, name: string): string {
    let preferred: string | undefined;
    try {
      preferred = strataName(tenant, database, name);
    } catch {
      preferred = undefined;
    }
    if (preferred !== undefined && !this.#byStrata.has(preferred)) return preferred;
    const base = (preferred ?? name).slice(0, 100).replace(/[^a-zA-Z0-9]+$/, '') || 'c';
    for (let n = 1; ; n++) {
      const h = createHash('sha256').update(`${tenant}\n${database}\n${name}\n${n}`).digest('hex');
      const candidate = validateName(`${base}.${h.slice(0, 8)}`);
      if (!this.#byStrata.has(candidate)) return candidate;
    }
  }

  async create(o: {
    tenant: string;
    database: string;
    name: string;
    metadata: Record<string, unknown> | null;
    /** The configuration the client sent (chroma-config.ts makes configuration_json of it). */
    configuration: unknown;
    getOrCreate: boolean;
  }): Promise<CatalogEntry> {
    validateTenant(o.tenant);
    validateTenant(o.database, 'database');
    const name = validateCollectionName(o.name);
    const configuration = chromaConfiguration(o.configuration, o.metadata);
    await this.reload();
    if (!this.databaseExists(o.tenant, o.database)) {
      throw new InvalidInputError(ErrorCodes.USAGE, `Database [${o.database}] does not exist`, {
        tenant: o.tenant,
        database: o.database,
      });
    }
    for (let attempt = 0; attempt < 5; attempt++) {
      const existing = this.#byName.get(nameKey(o.tenant, o.database, name));
      if (existing) {
        if (o.getOrCreate) return existing;
        throw new CollectionError(ErrorCodes.COLLECTION_EXISTS, `Collection [${name}] already exists`, {
          collection: name,
        });
      }
      const strata = this.#allocate(o.tenant, o.database, name);
      const identity: ChromaIdentity = {
        id: randomUUID(),
        tenant: o.tenant,
        database: o.database,
        name,
        metadata: o.metadata,
        configuration,
        metric: metricOf(configuration),
        createdAt: new Date().toISOString(),
      };
      try {
        await writeJson(this.#store, pendingKey(strata), identity, { ifNoneMatch: '*' });
      } catch (e) {
        if (!(e instanceof PreconditionFailedError)) throw e;
        await this.reload();
        continue;
      }
      await this.reload();
      return this.#byStrata.get(strata)!;
    }
    throw new CollectionError(
      ErrorCodes.COLLECTION_EXISTS,
      `Collection [${name}] is being created concurrently`,
      {
        collection: name,
      },
    );
  }

  /** Chroma's modify: a new name (unique in its database), new metadata (replacing), hnsw parameters. */
  async modify(
    e: CatalogEntry,
    o: { name?: string; metadata?: Record<string, unknown> | null; configuration?: unknown },
  ): Promise<CatalogEntry> {
    const a: Attributes = {
      name: e.chroma.name,
      metadata: e.chroma.metadata,
      configuration: updatedConfiguration(e.chroma.configuration, o.configuration),
    };
    if (o.name !== undefined && o.name !== e.chroma.name) {
      a.name = validateCollectionName(o.name, 'new_name');
      await this.reload();
      const other = this.#byName.get(nameKey(e.chroma.tenant, e.chroma.database, a.name));
      if (other && other.strata !== e.strata) {
        throw new CollectionError(ErrorCodes.COLLECTION_EXISTS, `Collection [${a.name}] already exists`, {
          collection: a.name,
        });
      }
    }
    if (o.metadata) a.metadata = o.metadata;
    await writeJson(this.#store, attributesKey(e.strata), a);
    await this.reload();
    const now = this.#byStrata.get(e.strata);
    if (!now) {
      // deleted meanwhile: the attributes must not outlive it
      await this.#store.delete(attributesKey(e.strata));
      throw new CollectionError(
        ErrorCodes.COLLECTION_NOT_FOUND,
        `Collection [${e.chroma.id}] does not exists`,
        {
          collection: e.chroma.name,
        },
      );
    }
    return now;
  }

  /** The Strata collection behind an entry, created (with this dimension) on the first write. */
  async materialize(e: CatalogEntry, dimension: number): Promise<CollectionConfig> {
    if (e.config) return e.config;
    const config = await createCollection(this.#store, {
      name: e.strata,
      dimension,
      metric: e.chroma.metric,
      quantization: 'f16',
      extra: { chroma: e.chroma },
      getOrCreate: true,
    });
    await this.#store.delete(pendingKey(e.strata));
    await this.reload();
    return config;
  }

  async delete(e: CatalogEntry): Promise<void> {
    if (e.config) await deleteCollection(this.#store, e.strata);
    await this.#store.delete(pendingKey(e.strata));
    await this.#store.delete(attributesKey(e.strata));
    await this.reload();
  }

  // --- tenants and databases ---------------------------------------------------------------------------

  tenantExists(tenant: string): boolean {
    return (
      tenant === DEFAULT_TENANT ||
      this.#tenants.has(tenant) ||
      this.entries().some((e) => e.chroma.tenant === tenant)
    );
  }

  async createTenant(tenant: string): Promise<void> {
    validateTenant(tenant);
    await this.reload();
    if (this.tenantExists(tenant)) {
      throw new ChromaApiError(409, 'ChromaError', ErrorCodes.USAGE, `Tenant [${tenant}] already exists`);
    }
    await writeJson(this.#store, tenantKey(tenant), { name: tenant });
    await this.reload();
  }

  /** A database, if it exists. */
  database(tenant: string, database: string): DatabaseInfo | undefined {
    if (tenant === DEFAULT_TENANT && database === DEFAULT_DATABASE) {
      return { id: DEFAULT_DATABASE_ID, name: database, tenant };
    }
    const d = this.#databases.get(dbKey(tenant, database));
    if (d) return d;
    const used = this.entries().some((e) => e.chroma.tenant === tenant && e.chroma.database === database);
    return used
      ? { id: uuidFrom(`strata-database\n${tenant}\n${database}`), name: database, tenant }
      : undefined;
  }

  databaseExists(tenant: string, database: string): boolean {
    return this.database(tenant, database) !== undefined;
  }

  /** Chroma creates a database in a tenant that does not exist (the tenant stays absent). */
  async createDatabase(tenant: string, database: string): Promise<void> {
    validateTenant(tenant);
    validateTenant(database, 'database');
    await this.reload();
    if (this.databaseExists(tenant, database)) {
      throw new ChromaApiError(409, 'ChromaError', ErrorCodes.USAGE, `Database [${database}] already exists`);
    }
    await this.#store.put(databaseKey({ id: randomUUID(), name: database, tenant }), '{}\n', {
      contentType: 'application/json',
    });
    await this.reload();
  }

  /** The databases of a tenant in Chroma's order: by id. */
  listDatabases(tenant: string): DatabaseInfo[] {
    const names = new Set<string>();
    if (tenant === DEFAULT_TENANT) names.add(DEFAULT_DATABASE);
    for (const d of this.#databases.values()) if (d.tenant === tenant) names.add(d.name);
    for (const e of this.entries()) if (e.chroma.tenant === tenant) names.add(e.chroma.database);
    return [...names]
      .map((n) => this.database(tenant, n)!)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Deletes a database and every collection in it (default_database cannot be deleted). */
  async deleteDatabase(tenant: string, database: string): Promise<void> {
    validateTenant(tenant);
    validateTenant(database, 'database');
    if (tenant === DEFAULT_TENANT && database === DEFAULT_DATABASE) {
      throw new UsageError('default_database cannot be deleted');
    }
    await this.reload();
    if (!this.databaseExists(tenant, database)) {
      throw new NotFoundError(`Database [${database}] not found`, { tenant, database });
    }
    for (const e of this.list(tenant, database)) {
      if (e.config) await deleteCollection(this.#store, e.strata);
      await this.#store.delete(pendingKey(e.strata));
      await this.#store.delete(attributesKey(e.strata));
    }
    const d = this.#databases.get(dbKey(tenant, database));
    if (d) await this.#store.delete(databaseKey(d));
    await this.reload();
  }
}
