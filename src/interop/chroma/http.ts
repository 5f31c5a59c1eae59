/**
 * The few calls of Chroma's v2 HTTP API that export, verification and the peer benchmark need. Vectors
 * are sent base64-encoded (float32 little-endian, what the official client sends when the server
 * supports it), so they arrive bit-exact.
 */
import { ErrorCodes, StrataError } from '../../core/errors.js';
import type { Metadata } from '../../core/types.js';

export interface ChromaCollectionRef {
  id: string;
  name: string;
  tenant: string;
  database: string;
}

export interface ChromaGetResult {
  ids: string[];
  embeddings?: number[][] | null;
  documents?: Array<string | null> | null;
  metadatas?: Array<Metadata | null> | null;
}

export interface ChromaQueryResult {
  ids: string[][];
  distances?: number[][] | null;
}

export type ChromaWhere = Record<string, unknown>;

export interface AddRecords {
  ids: string[];
  embeddings: Float32Array[];
  documents?: Array<string | null>;
  metadatas?: Array<Metadata | null>;
}

function sliceRecords(r: AddRecords, from: number, to: number): AddRecords {
  return {
    ids: r.ids.slice(from, to),
    embeddings: r.embeddings.slice(from, to),
    ...(r.documents ? { documents: r.documents.slice(from, to) } : {}),
    ...(r.metadatas ? { metadatas: r.metadatas.slice(from, to) } : {}),
  };
}

export class ChromaHttp {
  readonly url: string;
  constructor(url: string) {
    this.url = url.replace(/\/$/, '');
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.url + path, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new StrataError(
        ErrorCodes.CHROMA_SERVER,
        `${method} ${path} failed: ${(e as Error).message}`,
        { url: this.url },
        { cause: e },
      );
    }
    const text = await res.text();
    if (!res.ok) {
      throw new StrataError(
        ErrorCodes.CHROMA_SERVER,
        `${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`,
        { url: this.url, status: res.status },
      );
    }
    return (text ? JSON.parse(text) : null) as T;
  }

  heartbeat(): Promise<unknown> {
    return this.#call('GET', '/api/v2/heartbeat');
  }

  async version(): Promise<string> {
    return this.#call<string>('GET', '/api/v2/version');
  }

  async maxBatchSize(): Promise<number> {
    const r = await this.#call<{ max_batch_size: number }>('GET', '/api/v2/pre-flight-checks');
    return r.max_batch_size;
  }

  async ensureDatabase(tenant: string, database: string): Promise<void> {
    if (tenant !== 'default_tenant') {
      try {
        await this.#call('GET', `/api/v2/tenants/${enc(tenant)}`);
      } catch {
        await this.#call('POST', '/api/v2/tenants', { name: tenant });
      }
    }
    if (database !== 'default_database' || tenant !== 'default_tenant') {
      try {
        await this.#call('GET', `/api/v2/tenants/${enc(tenant)}/databases/${enc(database)}`);
      } catch {
        await this.#call('POST', `/api/v2/tenants/${enc(tenant)}/databases`, { name: database });
      }
    }
  }

  async createCollection(o: {
    name: string;
    tenant?: string;
    database?: string;
    space: 'cosine' | 'l2' | 'ip';
    metadata?: Record<string, unknown> | null;
    hnsw?: { ef_construction?: number; ef_search?: number; max_neighbors?: number };
  }): Promise<ChromaCollectionRef> {
    const tenant = o.tenant ?? 'default_tenant';
    const database = o.database ?? 'default_database';
    await this.ensureDatabase(tenant, database);
    const metadata = o.metadata && Object.keys(o.metadata).length > 0 ? o.metadata : null;
    const r = await this.#call<{ id: string; name: string }>(
      'POST',
      `/api/v2/tenants/${enc(tenant)}/databases/${enc(database)}/collections`,
      {
        name: o.name,
        metadata,
        configuration: { hnsw: { space: o.space, ...o.hnsw } },
        get_or_create: false,
      },
    );
    return { id: r.id, name: r.name, tenant, database };
  }

  async getCollection(
    name: string,
    tenant = 'default_tenant',
    database = 'default_database',
  ): Promise<ChromaCollectionRef> {
    const r = await this.#call<{ id: string; name: string }>(
      'GET',
      `/api/v2/tenants/${enc(tenant)}/databases/${enc(database)}/collections/${enc(name)}`,
    );
    return { id: r.id, name: r.name, tenant, database };
  }

  #col(c: ChromaCollectionRef): string {
    return `/api/v2/tenants/${enc(c.tenant)}/databases/${enc(c.database)}/collections/${c.id}`;
  }

  async add(c: ChromaCollectionRef, records: AddRecords): Promise<void> {
    await this.#call('POST', `${this.#col(c)}/add`, {
      ids: records.ids,
      embeddings: records.embeddings.map(base64Of),
      documents: records.documents ?? null,
      metadatas: records.metadatas ?? null,
    });
  }

  /**
   * Adds records in batches of at most `batchSize` (normally the server's max_batch_size). A batch the
   * server refuses as too large (HTTP 413: its request body limit is in bytes, max_batch_size in records)
   * is split in halves, and later batches use the smaller size. Returns the batch size that was accepted.
   */
  async addBatched(
    c: ChromaCollectionRef,
    records: AddRecords,
    batchSize: number,
    onBatch?: (added: number) => void,
  ): Promise<number> {
    let size = Math.max(1, batchSize);
    let at = 0;
    while (at < records.ids.length) {
      const end = Math.min(records.ids.length, at + size);
      try {
        await this.add(c, sliceRecords(records, at, end));
      } catch (e) {
        if (e instanceof StrataError && e.context.status === 413 && end - at > 1) {
          size = Math.max(1, Math.floor((end - at) / 2));
          continue;
        }
        throw e;
      }
      at = end;
      onBatch?.(at);
    }
    return size;
  }

  async count(c: ChromaCollectionRef): Promise<number> {
    return this.#call<number>('GET', `${this.#col(c)}/count`);
  }

  async get(
    c: ChromaCollectionRef,
    o: { ids?: string[]; limit?: number; offset?: number; include?: string[] },
  ): Promise<ChromaGetResult> {
    return this.#call<ChromaGetResult>('POST', `${this.#col(c)}/get`, {
      ids: o.ids ?? null,
      limit: o.limit ?? null,
      offset: o.offset ?? null,
      include: o.include ?? ['embeddings', 'documents', 'metadatas'],
    });
  }

  async query(
    c: ChromaCollectionRef,
    embeddings: Float32Array[],
    k: number,
    o: { where?: ChromaWhere; ids?: string[] } = {},
  ): Promise<ChromaQueryResult> {
    return this.#call<ChromaQueryResult>('POST', `${this.#col(c)}/query`, {
      query_embeddings: embeddings.map((e) => Array.from(e)),
      n_results: k,
      where: o.where ?? null,
      ...(o.ids ? { ids: o.ids } : {}),
      include: ['distances'],
    });
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

function base64Of(v: Float32Array): string {
  const b = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) b.writeFloatLE(v[i]!, 4 * i);
  return b.toString('base64');
}
