/**
 * Chroma's view of the store's collections. A Chroma collection lives in a tenant and a database and has
 * a UUID; a Strata collection has one validated name. The mapping:
 *   - default_tenant/default_database/NAME  ↔  Strata collection NAME
 *   - TENANT/DATABASE/NAME                  ↔  Strata collection TENANT.DATABASE.NAME
 * Tenant and database names are [A-Za-z0-9_-] (no dots), so the Strata name splits back unambiguously;
 * every part and the result are validated (validateName), so no key or path escapes its prefix.
 *
 * A Chroma collection has no dimension until its first add; Strata's has one from creation. So a
 * collection created over the API is first a small "pending" record (serve/chroma/pending/NAME.json) and
 * becomes a Strata collection (its Chroma identity kept in config.extra.chroma) on its first write.
 * Collections made by the CLI appear in default_tenant/default_database with an id derived from their
 * name and creation time (stable across restarts, new after a delete and re-create).
 */
import { createHash, randomUUID } from 'node:crypto';
import { type ChromaIdentity, SPACE_OF_METRIC } from '../core/chroma.js';
import { CollectionError, ErrorCodes, PreconditionFailedError, UsageError } from '../core/errors.js';
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

export const DEFAULT_TENANT = 'default_tenant';
export const DEFAULT_DATABASE = 'default_database';

export interface CatalogEntry {
  /** The Strata collection name. */
  strata: string;
  chroma: ChromaIdentity;
  /** undefined while pending (created over the API, nothing written yet). */
  config: CollectionConfig | undefined;
}

const PENDING_PREFIX = 'serve/chroma/pending/';
const pendingKey = (strata: string) => `${PENDING_PREFIX}${strata}.json`;

const PART_RE = /^[A-Za-z0-9_-]{1,64}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function validateTenant(t: string, what = 'tenant'): string {
  if (!PART_RE.test(t))
    throw new UsageError(`invalid ${what} ${JSON.stringify(t)}: use 1-64 characters [A-Za-z0-9_-]`);
  return t;
}

/** The Strata collection name of a Chroma collection. */
export function strataName(tenant: string, database: string, name: string): string {
  validateTenant(tenant);
  validateTenant(database, 'database');
  validateName(name);
  if (tenant === DEFAULT_TENANT && database === DEFAULT_DATABASE) return name;
  return validateName(`${tenant}.${database}.${name}`, 'collection name (tenant.database.name)');
}

/** Chroma's distance space of a create request (configuration.hnsw/spann.space, metadata hnsw:space; default l2). */
export function metricOfChroma(
  configuration: Record<string, unknown>,
  metadata: Record<string, unknown> | null,
): Metric {
  const space = (o: unknown) => (o && typeof o === 'object' ? (o as { space?: unknown }).space : undefined);
  const s = space(configuration.hnsw) ?? space(configuration.spann) ?? metadata?.['hnsw:space'] ?? 'l2';
  switch (s) {
    case 'l2':
      return 'l2sq';
    case 'cosine':
      return 'cos';
    case 'ip':
      return 'ip';
    default:
      throw new UsageError(`unknown distance space ${JSON.stringify(s)} (use l2, cosine or ip)`);
  }
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

function identityOf(config: CollectionConfig): ChromaIdentity {
  const c = config.extra?.chroma as ChromaIdentity | undefined;
  if (c && typeof c.id === 'string' && typeof c.tenant === 'string' && typeof c.database === 'string')
    return c;
  return {
    id: derivedId(config.name, config.createdAt),
    tenant: DEFAULT_TENANT,
    database: DEFAULT_DATABASE,
    name: config.name,
    metadata: null,
    configuration: { hnsw: { space: chromaSpace(config.metric) } },
    metric: config.metric,
    createdAt: config.createdAt,
  };
}

export class Catalog {
  readonly #store: ObjectStore;
  #byStrata = new Map<string, CatalogEntry>();
  #byId = new Map<string, CatalogEntry>();
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
      byStrata.set(strata, { strata, chroma: p.value, config: undefined });
    }
    for (const name of await listCollections(this.#store)) {
      const config = await findCollection(this.#store, name);
      if (config) byStrata.set(name, { strata: name, chroma: identityOf(config), config });
    }
    this.#byStrata = byStrata;
    this.#byId = new Map([...byStrata.values()].map((e) => [e.chroma.id, e]));
    this.loadedAt = Date.now();
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
    let e = UUID_RE.test(nameOrId) ? this.#byId.get(nameOrId.toLowerCase()) : undefined;
    if (e === undefined) {
      try {
        e = this.#byStrata.get(strataName(tenant, database, nameOrId));
      } catch {
        return undefined;
      }
    }
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
      throw new CollectionError(ErrorCodes.COLLECTION_NOT_FOUND, `collection ${nameOrId} does not exist`, {
        collection: nameOrId,
        tenant,
        database,
      });
    }
    return e;
  }

  list(tenant: string, database: string): CatalogEntry[] {
    return this.entries()
      .filter((e) => e.chroma.tenant === tenant && e.chroma.database === database)
      .sort(
        (a, b) =>
          a.chroma.createdAt.localeCompare(b.chroma.createdAt) || a.chroma.name.localeCompare(b.chroma.name),
      );
  }

  async create(o: {
    tenant: string;
    database: string;
    name: string;
    metadata: Record<string, unknown> | null;
    configuration: Record<string, unknown>;
    getOrCreate: boolean;
  }): Promise<CatalogEntry> {
    if (o.name.length < 3)
      throw new UsageError(`invalid collection name ${JSON.stringify(o.name)}: at least 3 characters`);
    const strata = strataName(o.tenant, o.database, o.name);
    const metric = metricOfChroma(o.configuration, o.metadata);
    await this.reload();
    const existing = this.#byStrata.get(strata);
    const exists = (e: CatalogEntry): CatalogEntry => {
      const same =
        e.chroma.tenant === o.tenant && e.chroma.database === o.database && e.chroma.name === o.name;
      if (same && o.getOrCreate) return e;
      throw new CollectionError(ErrorCodes.COLLECTION_EXISTS, `collection ${o.name} already exists`, {
        collection: strata,
      });
    };
    if (existing) return exists(existing);
    const identity: ChromaIdentity = {
      id: randomUUID(),
      tenant: o.tenant,
      database: o.database,
      name: o.name,
      metadata: o.metadata,
      configuration: o.configuration,
      metric,
      createdAt: new Date().toISOString(),
    };
    try {
      await writeJson(this.#store, pendingKey(strata), identity, { ifNoneMatch: '*' });
    } catch (e) {
      if (!(e instanceof PreconditionFailedError)) throw e;
      await this.reload();
      return exists(this.#byStrata.get(strata)!);
    }
    await this.reload();
    return this.#byStrata.get(strata)!;
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
    await this.reload();
  }
}
